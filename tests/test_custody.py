"""emcourse_grader.custody: a collected submission is the grader's alone.

Judged on the files' real owners, modes and types (os.lstat), made here with chmod, chown,
links and a fifo; then through the real ``nbgrader collect`` of the course's configuration,
whose copies of an exchange folder left 0777 must come out sealed.
"""

from __future__ import annotations

import os
import stat

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


def test_links_and_special_files_are_refused(submission, tmp_path):
    secret = tmp_path / "gradebook.db"
    secret.write_text("grades")
    (submission / "notes.ipynb").symlink_to(secret)
    assert "a symbolic link" in custody.breach(submission)
    (submission / "notes.ipynb").unlink()
    os.mkfifo(submission / "pipe")
    assert "a special file" in custody.breach(submission)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_owned_by_someone_else_is_refused_and_seal_takes_it_back(submission, tmp_path):
    os.chown(submission / "hw1_kmeans.ipynb", 4242, 4242)
    (submission / "data").chmod(0o777)
    (submission / "link").symlink_to(tmp_path)
    os.mkfifo(submission / "pipe")
    assert "belongs to uid 4242" in custody.breach(submission) or \
        "symbolic link" in custody.breach(submission)
    custody.seal(submission)
    assert custody.breach(submission) == ""
    for path in submission.rglob("*"):
        st = path.lstat()
        assert st.st_uid == 0 and (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode))
        assert stat.S_IMODE(st.st_mode) == (0o755 if path.is_dir() else 0o644)
    assert not (submission / "link").exists() and not (submission / "pipe").exists()
    assert (tmp_path).is_dir()  # seal removed the link, not what it named
