"""The seccomp filter of every sandbox: system calls student code may not make.

bubblewrap builds the namespaces; this filter narrows what the kernel will do for the process
tree inside them. bwrap installs it (``--seccomp FD``: a classic-BPF program, read from an
inherited file descriptor) as the very last step before it executes the sandbox's first
program, after its own mounts and namespace set-up and after it dropped its privileges; it is
inherited by every process below (``setpriv`` as root, the kernel, anything they start) and
cannot be removed.

The model is Docker's default profile (moby, ``profiles/seccomp/default.json``, an allow
list): what it withholds from a container without capabilities is kept here as a *deny
list*. Calls that reach kernel state outside the sandbox (keyrings, mounts, modules, the
clock, other processes' memory) or that open large kernel attack surface (user namespaces,
BPF, io_uring, perf) fail with an errno, which libraries already handle; every other call is
allowed, so the Python stack, Jupyter's kernel and ZMQ run unchanged. The price of a deny
list: a system call that a future kernel adds is allowed until it is added here.

:data:`RULES` is the table (name -> what happens -> why); :func:`program` compiles it, for
each architecture of :data:`ARCHES`, into one BPF program. A call made under any other
audit architecture (e.g. a 32-bit ``int 0x80`` on x86_64) or through the x32 ABI kills the
process: the table's numbers mean nothing there. :func:`evaluate` runs a compiled program on
one call, as the kernel would, for tests and for a reader who wants to check a rule.
"""

from __future__ import annotations

import errno
import functools
import os
import platform
import struct
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# What the kernel is told to do (linux/seccomp.h, linux/audit.h)
# --------------------------------------------------------------------------------------------

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000       # | errno: the call fails with that errno, nothing happens
RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E   # EM_X86_64 | 64-bit | little-endian
AUDIT_ARCH_AARCH64 = 0xC00000B7  # EM_AARCH64 | 64-bit | little-endian
X32_SYSCALL_BIT = 0x40000000     # x86_64's x32 ABI: same audit arch, other numbers

# Namespace flags of clone(2) and unshare(2) (linux/sched.h). CLONE_NEWTIME shares its bit
# with the exit signal (CSIGNAL) in clone(), so it is only checked for unshare().
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x08000000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_NEWTIME = 0x40000000, 0x00000080
CLONE_NAMESPACES = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                    | CLONE_NEWPID | CLONE_NEWNET)

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10


@dataclass(frozen=True)
class Deny:
    """The call always fails with ``errno``."""

    errno: int


@dataclass(frozen=True)
class DenyIfFlags:
    """The call fails with EPERM when its first argument has any bit of ``mask`` set."""

    mask: int


@dataclass(frozen=True)
class AllowOnly:
    """The call is allowed when its first argument (32 bits) is one of ``values``, else it
    fails with ``errno``."""

    values: tuple
    errno: int


EPERM = Deny(errno.EPERM)
ENOSYS = Deny(errno.ENOSYS)

# --------------------------------------------------------------------------------------------
# The table: system call -> action, and why (one line each)
# --------------------------------------------------------------------------------------------

RULES = [
    # -- kernel keyrings: a leased uid's user keyring outlives its sandbox (next student) --
    ("keyctl", EPERM, "reads, writes and links keys of the uid's keyrings"),
    ("add_key", EPERM, "stores a key in a keyring that outlives the sandbox"),
    ("request_key", EPERM, "finds (or asks the host to make) a key of the uid"),
    # -- namespaces: a new user namespace hands out every capability inside it ------------
    ("unshare", DenyIfFlags(CLONE_NAMESPACES | CLONE_NEWTIME),
     "new user/mount/net/... namespaces (capabilities, mounts, nf_tables); CLONE_FILES ok"),
    ("clone", DenyIfFlags(CLONE_NAMESPACES),
     "the same through clone(); fork and threads (no namespace flag) are allowed"),
    ("clone3", ENOSYS, "its flags live in memory a filter cannot read; libc falls back to clone"),
    ("setns", EPERM, "joins another namespace through an fd"),
    # -- mounts and the root: the file view is bwrap's and stays so -----------------------
    ("mount", EPERM, "mounts (in a nested namespace, or over the scratch)"),
    ("umount2", EPERM, "unmounts a mask (e.g. the empty directory over sklearn)"),
    ("pivot_root", EPERM, "changes the root of the mount namespace"),
    ("chroot", EPERM, "changes the root directory"),
    ("open_tree", EPERM, "new mount API: clones a mount"),
    ("move_mount", EPERM, "new mount API: attaches a mount"),
    ("fsopen", EPERM, "new mount API: opens a file system context"),
    ("fsconfig", EPERM, "new mount API: configures it"),
    ("fsmount", EPERM, "new mount API: makes a mount of it"),
    ("fspick", EPERM, "new mount API: reconfigures an existing mount"),
    ("mount_setattr", EPERM, "new mount API: changes a mount's flags (read-only)"),
    # -- other processes' memory and the kernel's big attack surfaces ----------------------
    ("ptrace", EPERM, "reads and writes another process of the sandbox (the executor)"),
    ("process_vm_readv", EPERM, "reads another process's memory"),
    ("process_vm_writev", EPERM, "writes another process's memory"),
    ("kcmp", EPERM, "compares kernel objects of two processes (ptrace-class)"),
    ("pidfd_getfd", EPERM, "steals a file descriptor from another process (ptrace-class)"),
    ("bpf", EPERM, "eBPF programs and maps: large kernel attack surface"),
    ("perf_event_open", EPERM, "performance counters: side channels, kernel attack surface"),
    ("userfaultfd", EPERM, "pauses the kernel on a page fault (exploit primitive)"),
    ("io_uring_setup", ENOSYS, "io_uring: large attack surface, bypasses this filter's view"),
    ("io_uring_enter", ENOSYS, "io_uring, as above"),
    ("io_uring_register", ENOSYS, "io_uring, as above"),
    ("personality", AllowOnly((0, 0xFFFFFFFF), errno.EPERM),
     "only the default (PER_LINUX) and the query; no ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC"),
    # -- the machine: modules, boot, swap, accounting, clock, names, logs, quotas ---------
    ("kexec_load", EPERM, "loads a new kernel"),
    ("kexec_file_load", EPERM, "loads a new kernel"),
    ("init_module", EPERM, "loads a kernel module"),
    ("finit_module", EPERM, "loads a kernel module"),
    ("delete_module", EPERM, "unloads a kernel module"),
    ("reboot", EPERM, "reboots the machine"),
    ("swapon", EPERM, "adds swap"),
    ("swapoff", EPERM, "removes swap"),
    ("acct", EPERM, "process accounting to a file"),
    ("settimeofday", EPERM, "sets the machine's clock"),
    ("clock_settime", EPERM, "sets the machine's clock"),
    ("clock_adjtime", EPERM, "adjusts the machine's clock"),
    ("adjtimex", EPERM, "adjusts the machine's clock"),
    ("sethostname", EPERM, "renames the host (UTS namespace: the sandbox's own; kept fixed)"),
    ("setdomainname", EPERM, "likewise"),
    ("syslog", EPERM, "reads the kernel log (addresses, other users' events)"),
    ("quotactl", EPERM, "disk quotas"),
    ("quotactl_fd", EPERM, "disk quotas"),
    ("open_by_handle_at", EPERM, "opens a file by handle, around the mount view (shocker)"),
    ("name_to_handle_at", EPERM, "makes such handles"),
    ("lookup_dcookie", EPERM, "kernel profiling paths"),
    ("nfsservctl", EPERM, "the NFS server (gone from current kernels)"),
    ("vhangup", EPERM, "hangs up the terminal"),
    ("fanotify_init", EPERM, "file system wide access notifications"),
    ("iopl", EPERM, "I/O port access (x86)"),
    ("ioperm", EPERM, "I/O port access (x86)"),
    ("uselib", EPERM, "obsolete a.out loader"),
    ("_sysctl", EPERM, "obsolete sysctl interface"),
    # -- sockets: local (AF_UNIX) and IP on the sandbox's own loopback only ----------------
    # EOPNOTSUPP rather than EAFNOSUPPORT: libzmq (Jupyter's transport) reads only EINVAL or
    # EOPNOTSUPP from getifaddrs() (a netlink socket) as "no interfaces"; it aborts on others
    ("socket", AllowOnly((AF_UNIX, AF_INET, AF_INET6), errno.EOPNOTSUPP),
     "no netlink (routes, nf_tables, audit), packet, vsock, bluetooth...; Jupyter uses TCP"),
]

# System call numbers (x86_64: asm/unistd_64.h; aarch64: asm-generic/unistd.h). A name
# missing from an architecture does not exist there.
NUMBERS = {
    "x86_64": {
        "keyctl": 250, "add_key": 248, "request_key": 249, "unshare": 272, "clone": 56,
        "clone3": 435, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
        "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "personality": 135,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
        "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
        "sethostname": 170, "setdomainname": 171, "syslog": 103, "quotactl": 179,
        "quotactl_fd": 443, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "lookup_dcookie": 212, "nfsservctl": 180, "vhangup": 153, "fanotify_init": 300,
        "iopl": 172, "ioperm": 173, "uselib": 134, "_sysctl": 156, "socket": 41,
    },
    "aarch64": {
        "keyctl": 219, "add_key": 217, "request_key": 218, "unshare": 97, "clone": 220,
        "clone3": 435, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
        "chroot": 51, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 117,
        "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "personality": 92,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
        "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
        "sethostname": 161, "setdomainname": 162, "syslog": 116, "quotactl": 60,
        "quotactl_fd": 443, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "lookup_dcookie": 18, "nfsservctl": 42, "vhangup": 58, "fanotify_init": 262,
        "socket": 198,
    },
}

ARCHES = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}

# --------------------------------------------------------------------------------------------
# The compiler: classic BPF over struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6]}
# --------------------------------------------------------------------------------------------

LD_ABS = 0x20     # BPF_LD | BPF_W | BPF_ABS: A = 32-bit word at offset k
JA = 0x05         # BPF_JMP | BPF_JA: skip k instructions
JEQ = 0x15        # BPF_JMP | BPF_JEQ | BPF_K: A == k ? skip jt : skip jf
JGE = 0x35        # BPF_JMP | BPF_JGE | BPF_K
JSET = 0x45       # BPF_JMP | BPF_JSET | BPF_K: A & k ? skip jt : skip jf
RET = 0x06        # BPF_RET | BPF_K: return k

OFF_NR, OFF_ARCH, OFF_ARG0 = 0, 4, 16  # low 32 bits of args[0] (little-endian machines)
_INSN = struct.Struct("=HBBI")         # struct sock_filter, in the kernel's byte order


def _rule(number: int, action) -> list[tuple]:
    """The instructions of one rule; A holds the call number on entry and, when the call is
    not this one, on exit (the next rule follows directly)."""
    if isinstance(action, Deny):
        return [(JEQ, 0, 1, number), (RET, 0, 0, RET_ERRNO | action.errno)]
    if isinstance(action, DenyIfFlags):
        return [(JEQ, 0, 4, number), (LD_ABS, 0, 0, OFF_ARG0), (JSET, 0, 1, action.mask),
                (RET, 0, 0, RET_ERRNO | errno.EPERM), (RET, 0, 0, RET_ALLOW)]
    if isinstance(action, AllowOnly):
        n = len(action.values)
        body = [(JEQ, 0, n + 3, number), (LD_ABS, 0, 0, OFF_ARG0)]
        body += [(JEQ, n - i, 0, value) for i, value in enumerate(action.values)]
        return body + [(RET, 0, 0, RET_ERRNO | action.errno), (RET, 0, 0, RET_ALLOW)]
    raise TypeError(f"action: expected Deny, DenyIfFlags or AllowOnly, found {action!r}")


def _arch_block(arch: str) -> list[tuple]:
    numbers = NUMBERS[arch]
    block = [(LD_ABS, 0, 0, OFF_NR)]
    if arch == "x86_64":  # x32 calls: other numbers under the same audit arch
        block += [(JGE, 0, 1, X32_SYSCALL_BIT), (RET, 0, 0, RET_KILL_PROCESS)]
    for name, action, _ in RULES:
        if name in numbers:
            block += _rule(numbers[name], action)
    return block + [(RET, 0, 0, RET_ALLOW)]


def instructions() -> list[tuple]:
    """The filter as (code, jt, jf, k) tuples: dispatch on the audit architecture (unknown:
    kill), then each architecture's rules in the order of :data:`RULES`, else allow."""
    blocks = [_arch_block(arch) for arch in ARCHES]
    head = [(LD_ABS, 0, 0, OFF_ARCH)]
    # per arch: "jeq arch, 0, 1; ja <its block>", then kill; blocks follow in order
    dispatch_len = 2 * len(ARCHES) + 1
    offset = 0
    for i, arch in enumerate(ARCHES):
        after_ja = len(head) + 2  # index just after this arch's ja, counted from 0
        start = 1 + dispatch_len + offset
        head += [(JEQ, 0, 1, ARCHES[arch]), (JA, 0, 0, start - after_ja)]
        offset += len(blocks[i])
    head.append((RET, 0, 0, RET_KILL_PROCESS))
    program_ = head + [insn for block in blocks for insn in block]
    if any(not (0 <= jt < 256 and 0 <= jf < 256) for _, jt, jf, _ in program_):
        raise RuntimeError("a conditional jump is out of classic BPF's 8-bit range")
    return program_


@functools.cache
def program() -> bytes:
    """The compiled filter, as ``bwrap --seccomp`` reads it (an array of sock_filter)."""
    return b"".join(_INSN.pack(*insn) for insn in instructions())


def decode(data: bytes) -> list[tuple]:
    """The (code, jt, jf, k) tuples of a compiled program."""
    if not isinstance(data, (bytes, bytearray)) or len(data) % _INSN.size:
        raise ValueError(f"data: expected bytes, a multiple of {_INSN.size} long, found "
                         f"{type(data).__name__} of length {len(data)}")
    return [_INSN.unpack_from(data, i) for i in range(0, len(data), _INSN.size)]


def evaluate(data: bytes, *, arch: int, nr: int, args=(0,) * 6) -> int:
    """What the kernel would return for one call under the compiled program ``data``: the
    SECCOMP_RET_* value (with its errno). Only the instructions :func:`program` emits."""
    insns = decode(data)
    words = {OFF_NR: nr & 0xFFFFFFFF, OFF_ARCH: arch}
    for i, arg in enumerate(args):
        words[OFF_ARG0 + 8 * i] = arg & 0xFFFFFFFF
        words[OFF_ARG0 + 8 * i + 4] = (arg >> 32) & 0xFFFFFFFF
    acc, pc = 0, 0
    while pc < len(insns):
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == LD_ABS:
            acc = words.get(k, 0)
        elif code == JA:
            pc += k
        elif code in (JEQ, JGE, JSET):
            hit = {JEQ: acc == k, JGE: acc >= k, JSET: bool(acc & k)}[code]
            pc += jt if hit else jf
        elif code == RET:
            return k
        else:
            raise ValueError(f"instruction {pc - 1}: unknown code {code:#x}")
    raise ValueError("the program ran off its end")


def supported() -> bool:
    """Is this machine one of :data:`ARCHES` (the filter's numbers are right here)?"""
    return platform.machine() in ARCHES


def pipe_fd() -> int:
    """A fresh read end of a pipe holding the compiled filter, for one ``bwrap --seccomp``
    (bwrap reads it to its end and closes it; the caller closes its own copy after the
    sandbox started). Raises RuntimeError on an architecture the filter does not know."""
    if not supported():
        raise RuntimeError(f"no seccomp filter for this architecture ({platform.machine()}); "
                           f"known: {', '.join(ARCHES)}")
    data = program()
    read, write = os.pipe()
    try:
        os.write(write, data)  # far below a pipe's buffer: never blocks
    finally:
        os.close(write)
    os.set_inheritable(read, True)
    return read
