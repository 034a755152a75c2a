"""The students' side as a student clicks it: JupyterLab with nbgrader's extensions, in Chromium.

A temporary course (hw1, scripts/demo_class.py), a temporary exchange and a student's home;
JupyterLab 4 started on 127.0.0.1 (a free port, token auth) the way a student's server on a
JupyterHub runs: from the student's home, reading no course nbgrader_config.py, only the
environment-wide config a hub would install (here a directory on JUPYTER_CONFIG_PATH with
nbgrader_config.py, the students' page_config.json that disables and locks the instructor's
Lab extensions, and the server extensions: nbgrader's formgrader off, emcourse_student
on). Playwright drives Debian's Chromium (``/usr/bin/chromium``; no browser is downloaded):

1. Nbgrader menu -> Assignment List -> Fetch hw1; open the notebook, answer ``assign``, save,
   Validate, Submit;
2. Fetch Feedback before any is released -> "no feedback yet" next to the submission;
3. the student answers ``update`` and the written question too, and submits again;
4. the instructor (CLI, from the course root) runs the commands of docs/teaching.md:
   ``nbgrader collect hw1``, ``autograde hw1`` (the resubmission is graded: 40 points, the
   written answer pending), ``generate_feedback hw1``, ``release_feedback hw1``;
5. the student fetches feedback, opens it in Lab (Trust HTML) and in a browser tab: MathJax
   typeset every formula (local MathJax, no $$ left), and the page shows the new score.

That a resubmission after grading is regraded by the same commands without --force is
tests/test_resubmit.py (no browser needed).

Screenshots of the student's steps go to a temporary folder; with
``EMCOURSE_SCREENSHOTS=docs/images`` they replace the ones in docs/images/ (docs/teaching.md).
Skipped, saying why, only when Chromium is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HW = "hw1"
NOTEBOOK = demo_class.ASSIGNMENTS[HW]  # its notebook, from the manifest (course.toml)
VIEWPORT = {"width": 1200, "height": 760}
TIMEOUT_MS = 60_000  # one UI step (a Validate runs the notebook on a loaded machine)

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"Chromium is not installed at {CHROMIUM} (make system installs Debian's chromium)")

# The instructor's extensions are disabled and locked on students' servers (docs/teaching.md).
STUDENT_PAGE_CONFIG = {
    "disabledExtensions": {"@jupyter/nbgrader:formgrader": True,
                           "@jupyter/nbgrader:create-assignment": True},
    "lockedExtensions": {"@jupyter/nbgrader:formgrader": True,
                         "@jupyter/nbgrader:create-assignment": True},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _solution(grade_id: str) -> str:
    """The instructor's answer for one cell, as a student would type it (no solution markers)."""
    import nbformat

    nb = nbformat.read(ROOT / "solutions" / HW / f"{NOTEBOOK}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            lines = [ln for ln in cell.source.splitlines()
                     if not re.match(r"\s*### (BEGIN|END) SOLUTION", ln)]
            return "\n".join(lines)
    raise KeyError(grade_id)


class Course:
    """The instructor's side: a temporary course, run through the nbgrader CLI."""

    def __init__(self, base: Path):
        self.dir = demo_class.copy_course(base / "course", assignments=[HW])
        self.exchange = base / "exchange"
        self.exchange.mkdir(mode=0o777)
        os.chmod(self.exchange, 0o777)
        self.log: list[str] = []

    def run(self, *args: str) -> str:
        return demo_class.nbgrader(self.dir, *args, f"--Exchange.root={self.exchange}",
                                   log=self.log.append)

    def score(self, student: str) -> float:
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.dir / 'gradebook.db'}") as gb:
            return gb.find_submission(HW, student).score


class StudentServer:
    """JupyterLab for one student, as on a hub: their home as root, environment-wide config."""

    def __init__(self, base: Path, exchange: Path):
        self.home = base / "home"
        self.env_config = base / "env" / "etc" / "jupyter"  # stands for <sys.prefix>/etc/jupyter
        self.home.mkdir()
        (self.env_config / "labconfig").mkdir(parents=True)
        (self.env_config / "nbgrader_config.py").write_text(
            "c = get_config()  # noqa\n"
            f"c.Exchange.root = {str(exchange)!r}\n"
            "c.CourseDirectory.course_id = 'emcourse'\n")
        (self.env_config / "labconfig" / "page_config.json").write_text(
            json.dumps(STUDENT_PAGE_CONFIG, indent=2))
        (self.env_config / "jupyter_server_config.json").write_text(json.dumps({
            "ServerApp": {"jpserver_extensions": {
                "nbgrader.server_extensions.formgrader": False,
                "emcourse_student": True}}}, indent=2))
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = base / "jupyterlab.log"
        env = dict(os.environ)
        env.update({
            "HOME": str(self.home),
            "JUPYTER_CONFIG_DIR": str(self.home / ".jupyter"),
            "JUPYTER_DATA_DIR": str(self.home / ".local" / "share" / "jupyter"),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "JUPYTER_CONFIG_PATH": str(self.env_config),
            "IPYTHONDIR": str(self.home / ".ipython"),
            "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        })
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.home}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.news_url=None", "--LabApp.extension_manager=readonly"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # a container's root; a hub runs each student as a user
        self._log = open(self.log_path, "w")  # noqa: SIM115 - open while the server runs
        self.proc = subprocess.Popen(cmd, cwd=self.home, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}api/status?token={self.token}",
                                            timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not start in {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class Shots:
    """Small PNGs of the student's steps (docs/teaching.md shows them)."""

    def __init__(self, tmp: Path):
        target = os.environ.get("EMCOURSE_SCREENSHOTS")
        self.dir = (ROOT / target) if target else tmp / "screenshots"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.saved: list[Path] = []

    def take(self, page_or_locator, name: str):
        path = self.dir / f"student-{name}.png"
        page_or_locator.screenshot(path=str(path))
        # Fewer colours: a screenshot of a web page stays readable and gets much smaller.
        from PIL import Image  # matplotlib's dependency

        with Image.open(path) as im:
            small = im.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
        self.saved.append(path)


# --------------------------------------------------------------------------------------------
# What the student does, in the browser
# --------------------------------------------------------------------------------------------

def dismiss_news(page):
    """Answer JupyterLab's "notified about official Jupyter news?" toast (No), if it comes."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        page.locator(".jp-toast-button", has_text="No").first.click(timeout=5000)


def open_assignment_list(page):
    page.get_by_role("menuitem", name="Nbgrader").click()
    page.get_by_role("menuitem", name="Assignment List").click()
    page.locator("#released_assignments_list, #fetched_assignments_list").first.wait_for()


def assignment_tab(page):
    page.locator(".lm-TabBar-tab", has_text="Assignments").first.click()


def row(page, section: str, text: str = HW):
    return page.locator(f"#{section}_assignments_list .list_item", has_text=text).first


def answer_cell(page, grade_id_index: int, text: str):
    """Replace the source of code cell ``grade_id_index`` (position in the notebook)."""
    cell = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(grade_id_index)
    cell.scroll_into_view_if_needed()
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def answer_markdown(page, index: int, text: str):
    """Write a written answer: double-click the rendered cell, replace its text, render it."""
    cell = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-MarkdownOutput").dblclick()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)
    page.keyboard.press("Shift+Enter")


WRITTEN_ANSWER = ("The assignment step gives each point its nearest centre, so no term of $J$ "
                  "grows; the update step puts each centre at the mean of its points, which "
                  "minimises $\\sum_n \\|x_n - \\mu_k\\|^2$ over $\\mu_k$. $J$ is bounded "
                  "below by 0 and there are finitely many assignments, so the loop stops.")


def save(page):
    page.keyboard.press("Control+s")
    page.locator(".jp-NotebookPanel:visible .jp-mod-dirty").wait_for(state="detached")


# --------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------

def test_student_fetches_submits_resubmits_and_reads_feedback(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    start = time.perf_counter()
    course = Course(tmp_path)
    server = StudentServer(tmp_path, course.exchange)  # starts while the instructor releases
    try:
        course.run("generate_assignment", HW, "--force")
        course.run("release_assignment", HW, "--force")
        server.wait()
    except Exception:
        server.stop()
        raise
    shots = Shots(tmp_path)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                         headless=True)
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)
            try:
                page.goto(f"{server.url}lab?token={server.token}")
                page.locator("#jp-main-dock-panel").wait_for()
                dismiss_news(page)

                # 1. Nbgrader -> Assignment List -> Fetch hw1
                open_assignment_list(page)
                released = row(page, "released")
                expect(released).to_contain_text("emcourse")
                released.get_by_role("button", name="Fetch").click()
                fetched = row(page, "fetched")
                expect(fetched.get_by_role("button", name="Submit")).to_be_visible()
                shots.take(page, "1-assignment-list")
                assert (server.home / HW / f"{NOTEBOOK}.ipynb").is_file()

                # open the notebook from the list (the assignment's name unfolds its notebooks)
                fetched.locator("a.assignment-notebooks-link").click()
                page.locator(f"#fetched_assignments_list a:has-text('{NOTEBOOK}')").first.click()
                page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(3).wait_for()

                # answer `assign` (cell 3), save, Validate
                answer_cell(page, 3, _solution("assign"))
                save(page)
                shots.take(page, "2-answer")
                page.locator(".jp-NotebookPanel:visible .jp-Toolbar").get_by_role(
                    "button", name="Validate").click()
                dialog = page.locator(".jp-Dialog")
                dialog.wait_for()
                # `update` is not answered yet: Validate says which cell fails, and why
                expect(dialog).to_contain_text("Validation Results")
                expect(dialog).to_contain_text("NotImplementedError")
                shots.take(page, "3-validate")
                dialog.locator(".jp-mod-accept").click()
                dialog.wait_for(state="detached")

                # Submit
                assignment_tab(page)
                row(page, "fetched").get_by_role("button", name="Submit").click()
                submitted = row(page, "submitted")
                expect(submitted.get_by_role("button", name="Fetch Feedback")).to_be_visible()
                shots.take(page, "4-submitted")

                # 2. Fetch Feedback before any is released: the student is told so
                submitted.get_by_role("button", name="Fetch Feedback").click()
                expect(page.locator("#submitted_assignments_list")).to_contain_text(
                    "no feedback yet")
                shots.take(page, "5-no-feedback-yet")

                # 3. the student answers `update` and the written question too, and resubmits
                page.locator(".lm-TabBar-tab", has_text=NOTEBOOK).first.click()
                answer_cell(page, 6, _solution("update"))
                answer_markdown(page, 15, WRITTEN_ANSWER)
                save(page)
                assignment_tab(page)
                row(page, "fetched").get_by_role("button", name="Submit").click()
                expect(page.locator("#submitted_assignments_list .nested_list_item")).to_have_count(
                    2)
                shots.take(page, "6-resubmitted")

                # 4. the instructor: the commands of docs/teaching.md, no --update, no --force
                student = next((course.exchange / "emcourse" / "inbound").iterdir()).name.split("+")[0]
                course.run("collect", HW)
                autograde = course.run("autograde", HW)
                score = course.score(student)
                course.run("generate_feedback", HW)
                course.run("release_feedback", HW)

                # 5. the student fetches the feedback and reads it, in Lab and in a browser tab
                page.locator("#refresh_assignments_list").click()
                row(page, "submitted").get_by_role("button", name="Fetch Feedback").click()
                view = page.locator("#submitted_assignments_list a", has_text="view feedback")
                expect(view).to_have_count(1)
                shots.take(page, "7-feedback-fetched")
                view.click()
                feedback_files = list((server.home / HW / "feedback").glob(f"*/{NOTEBOOK}.html"))
                assert len(feedback_files) == 1, feedback_files
                feedback = feedback_files[0]
                page.locator(".jp-DirListing-item", has_text=f"{NOTEBOOK}.html").dblclick()
                viewer = page.locator(".jp-HTMLViewer:visible")
                viewer.wait_for()
                page.locator(".jp-HTMLViewer:visible iframe").wait_for()
                # untrusted, Lab runs no script: the page says how to see the formulas
                expect(page.frame_locator(".jp-HTMLViewer:visible iframe").locator(
                    "#emcourse-trust-note")).to_contain_text("Trust HTML")
                page.get_by_role("button", name="Trust HTML").click()
                frame = page.frame_locator(".jp-HTMLViewer:visible iframe")
                frame.locator("body[data-mathjax='done']").wait_for()
                lab_total = frame.locator("#emcourse-total").inner_text()
                shots.take(page, "8-feedback-in-lab")

                rel = feedback.relative_to(server.home).as_posix()
                tab = browser.new_page(viewport=VIEWPORT)
                tab.set_default_timeout(TIMEOUT_MS)
                tab.goto(f"{server.url}files/{rel}?token={server.token}")
                tab.locator("body[data-mathjax='done']").wait_for()
                tab_state = tab.evaluate("""() => ({
                    total: document.getElementById('emcourse-total').innerText,
                    count: +document.body.getAttribute('data-mathjax-count'),
                    errors: +document.body.getAttribute('data-mathjax-errors'),
                    jax: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_MathML').length,
                    text: document.getElementById('notebook-container').innerText,
                    external: [...document.querySelectorAll('script[src], link[href]')]
                        .map(e => e.src || e.href).filter(u => !u.startsWith(location.origin)),
                    pending: document.body.innerText.includes('pending'),
                })""")
                shots.take(tab, "9-feedback-in-browser-tab")
            except Exception:
                if not page.is_closed():
                    page.screenshot(path=str(shots.dir / "failure.png"))
                print(f"screenshots: {shots.dir}\nJupyterLab log:\n{server.log()[-4000:]}\n"
                      "nbgrader:\n" + "\n".join(course.log))
                raise
            finally:
                browser.close()
    finally:
        server.stop()
    seconds = time.perf_counter() - start

    # The resubmission is the one collected and graded by the plain commands.
    assert "Skipping existing assignment" not in autograde, autograde
    import nbformat

    graded = nbformat.read(course.dir / "autograded" / student / HW / f"{NOTEBOOK}.ipynb", 4)
    assert graded.cells[6].source.strip() == _solution("update").strip()
    assert score == 40, (score, "\n".join(course.log))

    # The feedback: math typeset by the local MathJax, no TeX left, the new score, pending.
    for total in (lab_total, tab_state["total"]):
        assert re.search(r"Score: 40 / 100", total), total
    assert tab_state["count"] > 0 and tab_state["errors"] == 0 and tab_state["jax"] > 0
    assert "$$" not in tab_state["text"], "raw $$ left in the feedback"
    assert not tab_state["external"], tab_state["external"]
    assert tab_state["pending"], "the written answer is not shown as pending"
    html = feedback.read_text()
    assert "cdnjs" not in html and "static/jupyter_server_mathjax/MathJax.js" in html
    print(f"student lab round trip: {seconds:.0f} s; screenshots in {shots.dir}\n"
          + "\n".join(course.log))
