#!/usr/bin/env bash
# Side-by-side benchmark of hull, runc and crun: `create + start + delete -f` of a busybox
# bundle running /bin/true, interleaved round-robin so machine noise hits all alike; reports
# medians, ratios against crun and runc, and the peak RSS of `create`. "hull-ro" is hull run
# from a read-only bind, without the re-exec that protects its binary.
# Usage: hack/bench.sh [ITERATIONS]   (default 30; ~10 s per 30 on a 2-core machine)
# Extra benchmark lanes (e.g. hack/bench-image.sh) are run after this one when present.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-30}
hack/setup.sh time
cargo build --release -q -p hull
hull=$PWD/target/release/hull

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
HULL=$hull hack/mkbundle.sh "$work/bundle" /bin/true
# crun 1.8.1 accepts only 1.0.x configs.
jq '.ociVersion = "1.0.2-dev"' "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"

# A second bundle under podman's default seccomp profile (as podman converts it for x86_64
# and the default capabilities): compiling the filter is the costliest part of create, and
# hull caches the compiled program; "hull-cold" clears that cache before every create.
cp -r "$work/bundle" "$work/bundle-seccomp"
if [ -f /usr/share/containers/seccomp.json ]; then
  jq '{defaultAction, defaultErrnoRet,
       architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
       syscalls: [.syscalls[]
         | select(((.includes.caps // []) | length) == 0
                  and (((.includes.arches // []) | length) == 0 or ((.includes.arches // []) | index("amd64")))
                  and ((.excludes.caps // []) | length) == 0)
         | {names, action, args: (.args // [])} + (if .errnoRet then {errnoRet} else {} end)]}' \
    /usr/share/containers/seccomp.json > "$work/seccomp.json"
  jq --slurpfile s "$work/seccomp.json" '.linux.seccomp = $s[0]' "$work/bundle/config.json" > "$work/bundle-seccomp/config.json"
fi

# crun 1.8.1 refuses hybrid cgroup hosts unless the unified hierarchy looks empty: all three
# runtimes run in one private mount namespace where it does, so they see the same host.
cat > "$work/run.sh" <<'INNER'
set -euo pipefail
work=$1; n=$2; shift 2
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
  : > "$work/empty"
  mount --bind "$work/empty" /sys/fs/cgroup/unified/cgroup.controllers
fi
# hull-ro: the same hull through a read-only bind, where it has nothing to do to protect its
# binary (CVE-2019-5736) and does not re-execute itself: "hull" minus "hull-ro" is what the
# protection costs a create.
: > "$work/hull-ro"
mount --bind -o ro "$1" "$work/hull-ro"
set -- "$1" "$work/hull-ro" "${@:2}"
cycle() {  # cycle RUNTIME NAME BUNDLE RESULTS
  local id="bench-$2-$i-$$"
  local t0=$(date +%s%N)
  "$1" --root "$work/root-$2" create -b "$3" "$id" >/dev/null 2>&1 </dev/null
  "$1" --root "$work/root-$2" start "$id"
  "$1" --root "$work/root-$2" delete -f "$id"
  local t1=$(date +%s%N)
  echo "$2 $(( (t1 - t0) / 1000 ))" >> "$4"
}
for ((i = 0; i < n; i++)); do
  for rt in "$@"; do
    cycle "$rt" "$(basename "$rt")" "$work/bundle" "$work/times"
  done
done
if [ -f "$work/bundle-seccomp/config.json" ] && [ -f "$work/seccomp.json" ]; then
  for ((i = 0; i < n; i++)); do
    for rt in "$@"; do
      cycle "$rt" "$(basename "$rt")" "$work/bundle-seccomp" "$work/times-seccomp"
    done
    rm -rf "$work/root-hull-cold/.seccomp-cache"
    cycle "$1" hull-cold "$work/bundle-seccomp" "$work/times-seccomp"
  done
fi
# Peak RSS of one create per runtime.
for rt in "$@"; do
  name=$(basename "$rt")
  id="rss-$name-$$"
  /usr/bin/time -f "%M" -o "$work/rss-$name" "$rt" --root "$work/root-$name" create -b "$work/bundle" "$id" >/dev/null 2>&1 </dev/null
  "$rt" --root "$work/root-$name" delete -f "$id"
done
INNER
runtimes=("$hull")
for r in /usr/sbin/runc /usr/bin/crun; do [ -x "$r" ] && runtimes+=("$r"); done
unshare -m --propagation private bash "$work/run.sh" "$work" "$n" "${runtimes[@]}"

python3 - "$work" "${runtimes[@]}" <<'PY'
import sys, statistics, os
work, rts = sys.argv[1], [os.path.basename(r) for r in sys.argv[2:]]
t = {r: [] for r in rts}
for line in open(f"{work}/times"):
    name, us = line.split(); t.setdefault(name, []).append(int(us) / 1000)
rts = list(t)
med = {r: statistics.median(v) for r, v in t.items()}
rss = {r: int(open(f"{work}/rss-{r}").read().split()[-1]) for r in rts}
print(f"create+start+delete of /bin/true, {len(t[rts[0]])} runs each, interleaved")
print(f"{'runtime':8} {'median ms':>10} {'p10':>7} {'p90':>7} {'peak RSS KiB':>13}")
for r in rts:
    v = sorted(t[r]); p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    print(f"{r:8} {med[r]:10.1f} {p(0.1):7.1f} {p(0.9):7.1f} {rss[r]:13}")
for ref in ("crun", "runc"):
    if ref in med:
        print(f"hull / {ref}: time {med['hull'] / med[ref]:.2f}x, peak RSS {rss['hull'] / rss[ref]:.2f}x")
if "hull-ro" in med:
    print(f"binary protection (re-exec through a read-only clone): {med['hull'] - med['hull-ro']:.1f} ms per create")
if os.path.exists(f"{work}/times-seccomp"):
    s = {}
    for line in open(f"{work}/times-seccomp"):
        name, us = line.split(); s.setdefault(name, []).append(int(us) / 1000)
    sm = {r: statistics.median(v) for r, v in s.items()}
    print()
    print("the same under podman's seccomp profile (hull-cold: compiled-filter cache cleared each time)")
    for r, m in sm.items():
        print(f"{r:9} {m:10.1f} ms")
    if "hull-cold" in sm:
        print(f"cache gain: {sm['hull-cold'] - sm['hull']:.1f} ms per create ({sm['hull'] / sm['hull-cold']:.2f}x)")
    for ref in ("crun", "runc"):
        if ref in sm:
            print(f"hull / {ref} with seccomp: {sm['hull'] / sm[ref]:.2f}x")
PY

for extra in hack/bench-*.sh; do
  [ -e "$extra" ] && bash "$extra"
done
exit 0
