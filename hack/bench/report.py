#!/usr/bin/env python3
"""Prints hack/bench.sh's table from WORK/samples and WORK/meta.

Each sample line: ROUND ROW NAME LABEL NS MAXRSS_KIB MINFLT RSS_KIB PSS_KIB PRIVATE_KIB ANON_KIB.
Per runtime: the median over rounds and min..max. Ratios: for every round, the runtime's
value over crun's value in the same round (the two were measured minutes apart at most, in
the same machine state); the column is the median of those ratios.
"""
import collections
import statistics
import sys

work = sys.argv[1]
RUNTIMES = ["hull", "runc", "crun"]
REF = "crun"

meta = collections.defaultdict(list)
for line in open(f"{work}/meta"):
    k, _, v = line.rstrip("\n").partition(" ")
    meta[k].append(v)
m1 = lambda k: meta[k][0] if meta[k] else "?"

# (row, name) -> round -> label -> fields
data = collections.defaultdict(lambda: collections.defaultdict(dict))
for line in open(f"{work}/samples"):
    rnd, row, name, label, ns, maxrss, minflt, rss, pss, priv, anon = line.split()
    num = lambda x: None if x == "-" else int(x)
    data[(row, name)][int(rnd)][label] = {
        "ms": None if ns == "-" else int(ns) / 1e6,
        "maxrss": num(maxrss), "minflt": num(minflt), "rss": num(rss), "pss": num(pss),
        "priv": num(priv), "anon": num(anon)}


def series(row, name, pick):
    """round -> value, for rounds where pick() gives one."""
    out = {}
    for rnd, labels in data.get((row, name), {}).items():
        v = pick(labels)
        if v is not None:
            out[rnd] = v
    return out


def field(label, f):
    return lambda labels: labels.get(label, {}).get(f)


def total(*labels):
    def pick(ls):
        vals = [ls.get(l, {}).get("ms") for l in labels]
        return None if None in vals else sum(vals)
    return pick


def cell(s, fmt):
    if not s:
        return "-"
    v = list(s.values())
    return f"{fmt(statistics.median(v))} ({fmt(min(v))}..{fmt(max(v))})"


def paired(a, b):
    common = [r for r in a if r in b and b[r]]
    if not common:
        return "-"
    return f"{statistics.median(a[r] / b[r] for r in common):.2f}x"


ms = lambda v: f"{v:.2f}" if v < 100 else f"{v:.0f}"
mib = lambda v: f"{v / 1024:.2f}"

W = 46
C = 26


def header(title):
    print()
    print(f"{title:<{W}}" + "".join(f"{n:>{C}}" for n in RUNTIMES) + f"{'hull/crun':>11}{'runc/crun':>11}")


def line(title, row, pick, fmt, names=RUNTIMES):
    s = {n: series(row, n, pick) for n in names}
    cells = "".join(f"{cell(s[n], fmt):>{C}}" for n in names)
    ratios = "".join(f"{paired(s[n], s[REF]):>11}" for n in names[:2]) if REF in names else ""
    print(f"{title:<{W}}{cells}{ratios}")
    return s


print("hull, runc and crun side by side (hack/bench.sh)")
print(f"date      {m1('date')}")
print(f"machine   {m1('cpu')}, {m1('nproc')} CPUs, {int(m1('mem')) // 1024} MiB, kernel {m1('kernel')}")
print(f"load      before {m1('load_before')}; after {m1('load_after')}  (/proc/loadavg)")
load1 = float(m1("load_before").split()[0])
if load1 > 0.3 * int(m1("nproc")) or m1("quick") == "1":
    print("          NOT FOR CLAIMS: " + ("quick mode; " if m1("quick") == "1" else "")
          + ("the machine was busy" if load1 > 0.3 * int(m1("nproc")) else "smoke test"))
for v in meta["version"]:
    print(f"version   {v}")
rounds = int(m1("rounds"))
print(f"rounds    {rounds}, each in the next order of the runtimes (all {len(RUNTIMES)}! orders in turn); "
      "median (min..max); ratios: median of per-round ratios")

header("time, ms")
line("cycle: create + start + delete -f", "cycle", total("create", "start", "delete"), ms)
line("  create", "cycle", field("create", "ms"), ms)
line("  start", "cycle", field("start", "ms"), ms)
line("  delete -f", "cycle", field("delete", "ms"), ms)
run = line("run (foreground, /bin/true)", "run", field("run", "ms"), ms)
floor = series("run", "floor", field("run", "ms"))
print(f"{'  floor: the same kernel work, in C':<{W}}{cell(floor, ms):>{C}}")
ratios = {n: paired(run[n], floor) for n in RUNTIMES}
print(f"{'  run / floor (per-round ratio)':<{W}}" + "".join(f"{ratios[n]:>{C}}" for n in RUNTIMES))
runs_n = m1("runs_n")
line(f"run x{runs_n} in a row (total)", "runs", field("run", "ms"), ms)
line("exec /bin/true into a running container", "exec", field("exec", "ms"), ms)
# hull from a read-only bind: no re-exec for the binary protection (CVE-2019-5736).
for title, row, pick in (("cycle", "cycle", total("create", "start", "delete")),
                         ("  create", "cycle", field("create", "ms")),
                         ("exec", "exec", field("exec", "ms"))):
    ro = series(row, "hull-ro", pick)
    if ro:
        print(f"{'hull from a read-only bind (no re-exec): ' + title.strip():<{W}}{cell(ro, ms):>{C}}"
              f"{'':>{2 * C}}{paired(ro, series(row, 'hull', pick)):>11}  (hull-ro/hull)")
line("cycle, Docker's default seccomp profile", "cycle-docker", total("create", "start", "delete"), ms)
line("cycle, podman's default seccomp profile", "cycle-podman", total("create", "start", "delete"), ms)
cold = series("cycle-podman", "hull-cold", total("create", "start", "delete"))
crun_podman = series("cycle-podman", "crun", total("create", "start", "delete"))
print(f"{'  hull with its seccomp cache cleared':<{W}}{cell(cold, ms):>{C}}{'':>{2 * C}}"
      f"{paired(cold, crun_podman):>11}")
for L in meta["levels"][0].split():
    print(f"with {L} containers present (created, waiting)")
    line("  list --format json", f"list{L}", field("list", "ms"), ms)
    line("  state", f"state{L}", field("state", "ms"), ms)
    line("  create one more", f"with{L}", field("create", "ms"), ms)
    line("  delete -f it", f"with{L}", field("delete", "ms"), ms)
spawn = series("spawn", "ref", field("spawn", "ms"))
print(f"{'reference: the driver spawning /bin/true':<{W}}{cell(spawn, ms):>{C}}")

header("memory, MiB")
line("create: peak RSS (wait4 ru_maxrss = time %M)", "cycle", field("create", "maxrss"), mib)
line("create: minor page faults (count)", "cycle", field("create", "minflt"), lambda v: f"{v:.0f}")
line("waiting init: RSS", "cycle", field("create", "rss"), mib)
line("waiting init: PSS", "cycle", field("create", "pss"), mib)
line("waiting init: private (USS)", "cycle", field("create", "priv"), mib)
line("waiting init: anonymous", "cycle", field("create", "anon"), mib)
last = meta["levels"][0].split()[-1]
line(f"{last} waiting inits: total PSS", f"inits{last}", field("inits", "pss"), mib)
line(f"{last} waiting inits: total private (USS)", f"inits{last}", field("inits", "priv"), mib)
line(f"{last} waiting inits: total RSS", f"inits{last}", field("inits", "rss"), mib)

sizes = {}
for v in meta["size"]:
    name, binary, libs, nlibs = v.split()
    sizes[name] = (int(binary), int(libs), int(nlibs))
print(f"{'binary size':<{W}}" + "".join(f"{sizes[n][0] / 2**20:>{C}.2f}" for n in RUNTIMES)
      + f"{sizes['hull'][0] / sizes['crun'][0]:>10.2f}x{sizes['runc'][0] / sizes['crun'][0]:>10.2f}x")
print(f"{'  + shared libraries other than libc (count)':<{W}}"
      + "".join(f"{f'{sizes[n][1] / 2**20:.2f} ({sizes[n][2]})':>{C}}" for n in RUNTIMES))
