"""emcourse_grader.custody: a collected submission is the grader's alone.

Judged on the files' real owners, modes and types (os.lstat), made here with chmod, chown,
links and a fifo; then through the real ``nbgrader collect`` of the course's configuration,
whose copies of an exchange folder left 0777 must come out sealed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from emcourse_grader import custody


@pytest.fixture
def submission(tmp_path):
    folder = tmp_path / "submitted" / "ada" / "hw1"
    folder.mkdir(parents=True)
    (folder / "hw1_kmeans.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text("2026-12-06 10:00:00.000000 UTC")
    (folder / "data").mkdir()
    (folder / "data" / "x.csv").write_text("1,2\n")
    for path in (folder, folder / "data"):
        path.chmod(0o755)
    for path in (folder / "hw1_kmeans.ipynb", folder / "timestamp.txt", folder / "data" / "x.csv"):
        path.chmod(0o644)
    return folder


def test_a_sealed_folder_passes(submission):
    assert custody.breach(submission) == ""
    custody.require(submission)


@pytest.mark.parametrize("target,mode", [(".", 0o777), ("hw1_kmeans.ipynb", 0o666),
                                         ("data", 0o775), ("data/x.csv", 0o646)])
def test_writable_by_others_is_refused(submission, target, mode):
    (submission / target).chmod(mode)
    why = custody.breach(submission)
    assert "writable by others" in why and f"{mode:04o}" in why
    with pytest.raises(custody.CustodyError):
        custody.require(submission)


def test_links_and_special_files_are_untrusted_s_business(submission, tmp_path):
    """A link or fifo the grader owns is not a custody breach (emcourse_grader.untrusted
    removes it before grading); its owner is still checked."""
    secret = tmp_path / "gradebook.db"
    secret.write_text("grades")
    (submission / "notes.ipynb").symlink_to(secret)
    os.mkfifo(submission / "pipe")
    assert custody.breach(submission) == ""
    if os.geteuid() == 0:
        os.chown(submission / "notes.ipynb", 4242, 4242, follow_symlinks=False)
        assert "belongs to uid 4242" in custody.breach(submission)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_owned_by_someone_else_is_refused_and_seal_takes_it_back(submission, tmp_path):
    os.chown(submission / "hw1_kmeans.ipynb", 4242, 4242)
    assert "hw1_kmeans.ipynb" in custody.breach(submission)
    assert "belongs to uid 4242" in custody.breach(submission)
    (submission / "data").chmod(0o777)
    (submission / "link").symlink_to(tmp_path)
    os.mkfifo(submission / "pipe")
    custody.seal(submission)
    assert custody.breach(submission) == ""
    for path in submission.rglob("*"):
        st = path.lstat()
        assert st.st_uid == 0 and (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode))
        assert stat.S_IMODE(st.st_mode) == (0o755 if path.is_dir() else 0o644)
    assert not (submission / "link").exists() and not (submission / "pipe").exists()
    assert (tmp_path).is_dir()  # seal removed the link, not what it named


# --------------------------------------------------------------------------------------------
# Through the real commands: a submission changed after collect is not graded, the rest are
# --------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

HW = "hw1"


@pytest.fixture(scope="module")
def class_with_a_tampered_folder(tmp_path_factory):
    """Two collected submissions of hw1 (the solution); ada's folder is left writable by all,
    as a 0777 copy of the exchange would be."""
    course = demo_class.copy_course(tmp_path_factory.mktemp("custody") / "course", [HW])
    demo_class.nbgrader(course, "generate_assignment", HW, "--force", log=lambda *a: None)
    name = f"{demo_class.ASSIGNMENTS[HW]}.ipynb"
    for student in ("ada", "bob"):
        folder = course / "submitted" / student / HW
        folder.mkdir(parents=True)
        shutil.copy(course / "assignments" / HW / name, folder / name)
        demo_class.fill_notebook(folder / name, course / "solutions" / HW / name, "solution", HW)
        (folder / "timestamp.txt").write_text("2026-12-06 10:00:00.000000 UTC")
        custody.seal(folder)
    (course / "submitted" / "ada" / HW).chmod(0o777)
    return course


def _graded(course) -> set:
    """The students with at least one automatic score in the gradebook (nbgrader makes a
    submission's rows before any step runs; a refused one keeps them empty)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id for s in gb.find_assignment(HW).submissions
                if any(g.auto_score is not None for nb in s.notebooks for g in nb.grades)}


def _run(course, *argv):
    return subprocess.run([sys.executable, "-m", *argv], cwd=course, env=demo_class._env(),
                          capture_output=True, text=True, check=False)


def test_nbgrader_autograde_refuses_the_tampered_folder_and_grades_the_rest(
        class_with_a_tampered_folder):
    course = class_with_a_tampered_folder
    proc = _run(course, "nbgrader", "autograde", HW, "--force")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "ada's hw1 was not graded" in out and "writable by others" in out, out[-3000:]
    assert "Warning" not in out, out[-3000:]  # nbgrader's SQLAlchemy noise is quiet
    assert _graded(course) == {"bob"}
    assert not (course / "autograded" / "ada" / HW).exists()


def test_the_parallel_command_refuses_it_too(class_with_a_tampered_folder):
    course = class_with_a_tampered_folder
    proc = _run(course, "emcourse_grader", "grade", HW, "--workers", "1", "--force",
                "--no-summary")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "ada: not graded:" in out and "writable by others" in out, out[-3000:]
    assert "Warning" not in out, out[-3000:]
    assert "ada" not in _graded(course)
