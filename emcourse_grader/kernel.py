"""The grading kernel: ipykernel started inside the sandbox (emcourse_grader.sandbox).

:class:`SandboxKernelManager` (set by SafeExecute) starts ``python -m emcourse_grader.kernel``
instead of ``python -m ipykernel_launcher`` with the same arguments. The launcher copies the
connection file into a private temporary directory (the kernel may run as ``nobody``, who
cannot read the grader's runtime directory), points HOME, TMPDIR, IPYTHONDIR and MPLCONFIGDIR
there, applies the limits and the guard, and starts ipykernel. The guard arms itself when
the first notebook cell runs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from jupyter_client.manager import AsyncKernelManager


class SandboxKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose python kernels start through the sandbox launcher."""

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if "ipykernel_launcher" in cmd:
            i = cmd.index("ipykernel_launcher")
            cmd = [sys.executable, "-m", "emcourse_grader.kernel", *cmd[i + 1:]]
        return cmd


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    tmp = tempfile.mkdtemp(prefix="emcourse-kernel-")
    for sub in ("home", "tmp", "ipython", "mpl"):
        os.mkdir(os.path.join(tmp, sub))
    if "-f" in argv:
        i = argv.index("-f") + 1
        private = os.path.join(tmp, os.path.basename(argv[i]))
        shutil.copyfile(argv[i], private)
        os.chmod(private, 0o600)
        argv[i] = private
    os.environ.update(HOME=os.path.join(tmp, "home"), TMPDIR=os.path.join(tmp, "tmp"),
                      IPYTHONDIR=os.path.join(tmp, "ipython"),
                      MPLCONFIGDIR=os.path.join(tmp, "mpl"), MPLBACKEND="Agg",
                      PYTHONDONTWRITEBYTECODE="1")
    tempfile.tempdir = None
    chown = [os.path.join(root, n) for root, dirs, files in os.walk(tmp)
             for n in dirs + files] + [tmp]
    from . import sandbox

    sandbox.enter(chown=chown, arm_on=os.sep + "ipykernel_")
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=argv)


if __name__ == "__main__":
    main()
