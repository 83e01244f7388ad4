#!/usr/bin/env python3
"""Summarises the strace -f -tt -T -y logs of hack/bench/trace.sh, phase by phase, runtimes
side by side: syscalls per process (the container's init split at its wait for `start`), per
kind of work, a few counters the optimisation work asks about, and the busiest syscalls.

    trace-summary.py OUTDIR WORKDIR NAME...

Times are sums of strace's -T (time inside the syscall, inflated by tracing): read them as
shapes, not as the runtimes' real cost.
"""
import collections
import os
import re
import sys

out, work, names = sys.argv[1], sys.argv[2], sys.argv[3:]
PHASES = ["create", "start", "delete", "run"]

LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^([a-z0-9_]+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. ([a-z0-9_]+) resumed>(.*)$")
DUR = re.compile(r"<(\d+\.\d+)>\s*$")
RET = re.compile(r"\)\s+=\s+(-?\d+|\?)")

MOUNT = {"mount", "umount2", "fsopen", "fsconfig", "fsmount", "move_mount", "open_tree",
         "mount_setattr", "pivot_root", "fspick"}
MEMORY = {"mmap", "munmap", "mprotect", "brk", "madvise", "mremap"}
SECURITY = {"prctl", "capset", "capget", "seccomp", "keyctl", "setgroups", "setresuid",
            "setresgid", "sethostname", "setdomainname", "landlock_create_ruleset"}
PROCESS = {"clone", "clone3", "fork", "vfork", "wait4", "waitid", "kill", "tgkill",
           "pidfd_open", "pidfd_send_signal", "exit_group", "exit", "execve", "execveat",
           "setns", "unshare", "setsid", "set_tid_address", "set_robust_list", "rseq",
           "arch_prctl", "getpid", "gettid", "getppid"}
STAT = {"statx", "newfstatat", "fstat", "stat", "lstat", "fstatfs", "statfs", "faccessat2",
        "access", "faccessat", "readlink", "readlinkat"}


class Call:
    __slots__ = ("pid", "t", "name", "args", "dur", "ret")

    def __init__(self, pid, t, name, args):
        self.pid, self.t, self.name, self.args, self.dur, self.ret = pid, t, name, args, 0.0, None


def parse(path):
    calls, pending, exits = [], {}, {}
    for raw in open(path, errors="replace"):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid = int(m.group(1))
        t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
        rest = m.group(5)
        if rest.startswith("+++") or rest.startswith("---"):
            if rest.startswith("+++"):
                exits[pid] = t
            continue
        r = RESUMED.match(rest)
        if r:
            c = pending.pop(pid, None)
            if c is None:
                continue
            c.args += r.group(2)
        else:
            cm = CALL.match(rest)
            if not cm:
                continue
            c = Call(pid, t, cm.group(1), cm.group(2))
            calls.append(c)
            if rest.endswith("<unfinished ...>"):
                pending[pid] = c
                continue
        d = DUR.search(c.args)
        if d:
            c.dur = float(d.group(1))
        rv = RET.search(c.args)
        if rv and rv.group(1) != "?":
            c.ret = int(rv.group(1))
    return calls, exits


def kind(c):
    a, n = c.args, c.name
    if ".so" in a and n in {"openat", "read", "pread64", "newfstatat", "close", "mmap", "access"}:
        return "dynamic loading"
    if n in MOUNT:
        return "mounts"
    if "/sys/fs/cgroup" in a:
        return "cgroup files"
    if n in MEMORY:
        return "memory (mmap, brk...)"
    if "/proc" in a:
        return "/proc"
    if f"{work}/root-" in a:
        return "state dir"
    if "rootfs" in a or n == "openat2":
        return "paths in the rootfs"
    if f"{work}/bundle" in a:
        return "bundle, config.json"
    if n in SECURITY:
        return "caps, prctl, keyring, ids"
    if n in PROCESS:
        return "processes, namespaces"
    if "socket:[" in a or "pipe:[" in a or n in {"socketpair", "sendmsg", "recvmsg", "poll", "ppoll", "epoll_wait"}:
        return "runtime <-> init messages"
    if n in STAT:
        return "stat, access, readlink (other)"
    if n == "close":
        return "close (other)"
    return "other"


KINDS = ["dynamic loading", "memory (mmap, brk...)", "bundle, config.json", "state dir",
         "cgroup files", "processes, namespaces", "runtime <-> init messages", "mounts",
         "paths in the rootfs", "/proc", "caps, prctl, keyring, ids",
         "stat, access, readlink (other)", "close (other)", "other"]


def roles(calls, start_t):
    """pid -> role: 'main' for the traced command, 'init' for the process that blocked across
    start's beginning (create) or that execs the container's /bin/true (run), else 'child'."""
    if not calls:
        return {}
    main = calls[0].pid
    role = {}
    for c in calls:
        role.setdefault(c.pid, "main" if c.pid == main else "child")
    for c in calls:
        if c.pid != main and c.name == "execve" and '"/bin/true"' in c.args:
            role[c.pid] = "init"
    if start_t is not None:
        for c in calls:
            if c.pid != main and c.t <= start_t <= c.t + c.dur:
                role[c.pid] = "init"
    return role


def summarize(name, phase, start_t=None):
    if not os.path.exists(f"{out}/{name}.{phase}.log"):
        return {}, []
    calls, _ = parse(f"{out}/{name}.{phase}.log")
    role = roles(calls, start_t)
    wait = None  # the init's blocking call across start
    if start_t is not None:
        for c in calls:
            if role.get(c.pid) == "init" and c.t <= start_t <= c.t + c.dur:
                wait = c
    s = collections.OrderedDict()
    s["syscalls"] = len(calls)
    main = [c for c in calls if role[c.pid] == "main"]
    s["  in the runtime's process"] = len(main)
    spawn = next((i for i, c in enumerate(main) if c.name in {"clone", "clone3", "fork", "vfork"}), None)
    if spawn is not None:
        s["    before its first clone"] = spawn
    if wait:
        init = [c for c in calls if role[c.pid] == "init" and c.t < wait.t]
        s["  in init, before it waits for start"] = len(init)
        # The init's stages, split at its first mount call and at pivot_root.
        first_mount = next((i for i, c in enumerate(init) if c.name in MOUNT), len(init))
        pivot = next((i for i, c in enumerate(init) if c.name == "pivot_root"), len(init))
        s["    up to its first mount"] = first_mount
        s["    mounts and devices, up to pivot_root"] = pivot - first_mount
        s["    after pivot_root, up to the wait"] = len(init) - pivot
        s["  in init, after start releases it"] = sum(role[c.pid] == "init" and c.t > wait.t for c in calls)
    else:
        s["  in the container's init"] = sum(role[c.pid] == "init" for c in calls)
    s["  in other processes"] = sum(role[c.pid] == "child" for c in calls)
    s["processes"] = len(role)
    s["sum of -T, ms (traced)"] = round(sum(c.dur for c in calls if c is not wait) * 1000, 1)
    by_kind = collections.Counter(kind(c) for c in calls)
    for k in KINDS:
        s[f"{k}"] = by_kind.get(k, 0)
    s["~ reads of mountinfo"] = sum(c.name in {"openat", "open"} and "mountinfo" in c.args for c in calls)
    s["~ mkdir of .../sys/fs/cgroup/... *"] = sum(c.name in {"mkdir", "mkdirat"} and "/sys/fs/cgroup" in c.args for c in calls)
    s["~ cgroup files opened"] = sum(c.name in {"openat", "open", "openat2"} and "/sys/fs/cgroup" in c.args for c in calls)
    s["~ writes to cgroup files"] = sum(c.name in {"write", "pwrite64"} and "/sys/fs/cgroup" in c.args for c in calls)
    s["~ opens of /proc files"] = sum(c.name in {"openat", "open", "openat2"} and "/proc" in c.args for c in calls)
    s["~ execve"] = sum(c.name in {"execve", "execveat"} for c in calls)
    top = collections.Counter(c.name for c in calls).most_common(12)
    return s, top


def start_time(name):
    if not os.path.exists(f"{out}/{name}.start.log"):
        return None
    calls, _ = parse(f"{out}/{name}.start.log")
    return calls[0].t if calls else None


W = 40
print("Counts of syscalls (strace -f). * the cgroups themselves and the mount points in the")
print("container's own /sys/fs/cgroup. Categories are by syscall and by the path it names.")
print()
for phase in PHASES:
    res = {}
    for n in names:
        res[n] = summarize(n, phase, start_time(n) if phase == "create" else None)
    shown = [n for n in names if res[n][0]]
    print(f"== {phase}")
    print(f"{'':<{W}}" + "".join(f"{n:>10}" for n in shown))
    keys = list(dict.fromkeys(k for n in shown for k in res[n][0]))
    for key in keys:
        vals = [res[n][0].get(key, "-") for n in shown]
        if all(v in (0, "-") for v in vals) and not key.startswith("syscalls"):
            continue
        print(f"{key:<{W}}" + "".join(f"{str(v):>10}" for v in vals))
    for n in shown:
        print(f"  busiest in {n}: " + ", ".join(f"{k} {v}" for k, v in res[n][1]))
    print()
