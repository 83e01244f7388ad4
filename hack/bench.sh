#!/usr/bin/env bash
# Side-by-side benchmark of hull, runc and crun, made so that no runtime is flattered:
#
# - one shared environment, prepared once: a private mount namespace and a private cgroup
#   namespace rooted at a cgroup of the bench's own (made below our cgroup in every
#   hierarchy and removed at the end), with the cgroup hierarchies mounted afresh there and
#   the unified one's cgroup.controllers reading empty (crun 1.8.1 refuses hybrid hosts
#   otherwise). Every runtime sees the same host and puts its containers in the same place;
# - each round runs the runtimes in the next of all their orders (3 runtimes: the 6
#   permutations in turn), so each follows each other equally often and no one always
#   pays for the teardown of the same predecessor; ratios to crun are the median of the
#   per-round ratios (runs of one round paired);
# - times come from a small C driver (hack/bench/driver.c) that takes CLOCK_MONOTONIC right
#   before posix_spawn and right after wait4: no shell and no date(1) inside a span;
# - every orphaned container init is reaped at once by a subreaper around the whole run;
# - the floor row is a C program (hack/bench/floor.c) doing the default config's kernel
#   work and nothing else;
# - "hull-ro" rows run the same hull through a read-only bind, where it does not re-execute
#   itself to protect its binary (CVE-2019-5736): hull minus hull-ro is that protection's cost.
# docs/PERFORMANCE.md describes the method and every row.
#
# Usage: hack/bench.sh [--quick] [ROUNDS]
#   ROUNDS      rounds of the timed rows (default 24: every order 4 times; use a multiple of
#               24 so the floor also takes each position in the run row equally often)
#   --quick     smoke test: 6 rounds, run x10 instead of x100, 2/5/10 containers present
#               instead of 10/50/100, no extra bench lanes. Not for figures.
#   BENCH_SAMPLES=DIR (environment) keeps the raw samples there; BENCH_HULL=PATH measures
#               that hull binary instead of building target/release/hull; BENCH_EXTRA=0
#               skips the other bench lanes.
# Needs root. Figures are meaningful only on an otherwise idle machine: the load is printed.
# Extra benchmark lanes (hack/bench-*.sh) run after this one, unless --quick or BENCH_EXTRA=0.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
rounds=
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *[!0-9]*|'') echo "bench: unknown argument $a" >&2; exit 2 ;;
    *) rounds=$a ;;
  esac
done
if [ "$quick" = 1 ]; then
  : "${rounds:=6}"; runs_n=10; levels="2 5 10"
else
  : "${rounds:=24}"; runs_n=100; levels="10 50 100"
fi
[ "$rounds" -ge 1 ] || { echo "bench: ROUNDS must be at least 1" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench: needs root (namespaces, cgroups, mounts)" >&2; exit 1; }

hack/setup.sh python3
runc=/usr/sbin/runc crun=/usr/bin/crun
for r in "$runc" "$crun"; do
  [ -x "$r" ] || { echo "bench: $r is missing (hack/setup.sh installs it)" >&2; exit 1; }
done
# The release build as shipped: Cargo.toml's [profile.release] (docs/PERFORMANCE.md).
# BENCH_HULL=PATH measures that binary instead (say which in any figure you quote).
if [ -n "${BENCH_HULL:-}" ]; then
  hull=$(realpath "$BENCH_HULL")
else
  cargo build --release -q -p hull
  hull=$PWD/target/release/hull
fi

. hack/bench/lib.sh
work=$(mktemp -d /tmp/hull-bench.XXXXXX)
inner=
# On any exit, ^C or kill: stop the measuring part (its reaper passes a SIGTERM on to it, and
# its own cleanup deletes every container it has made, by exact name), give it a minute, then
# kill whatever is still in the cgroups of the ids it used (by exact name: $work/ids) and
# remove those, the bench's own cgroups and the work dir.
cleanup() {
  trap '' INT TERM HUP
  set +e  # every step of the cleanup is tried, whatever failed before it
  if [ -n "$inner" ] && kill -0 "$inner" 2>/dev/null; then
    echo "bench: stopping; deleting the containers made so far ..." >&2
    kill -TERM "$inner" 2>/dev/null || true
    for _ in $(seq 600); do
      kill -0 "$inner" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$inner" 2>/dev/null; then
      echo "bench: the measuring part did not stop; killing it" >&2
      kill -KILL "$inner" 2>/dev/null || true
    fi
    wait "$inner" 2>/dev/null || true
  fi
  [ ! -f "$work/ids" ] || bench_cgroups_kill_ids "$work/ids"
  bench_cgroups_remove
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

cc -O2 -Wall -o "$work/driver" hack/bench/driver.c
cc -O2 -Wall -static -o "$work/floor" hack/bench/floor.c

# Bundles, sharing one busybox rootfs (read-only in the default config): the default
# config running /bin/true; a sleeper to exec into; and the /bin/true one under Docker's
# and podman's default seccomp profiles as those engines hand them to the runtime for
# amd64 (Docker's already resolved in the repository; podman's resolved here with its
# default capabilities). crun 1.8.1 accepts only 1.0.x configs.
HULL=$hull hack/mkbundle.sh "$work/base" /bin/true
rootfs=$work/base/rootfs
jq --arg root "$rootfs" '.ociVersion = "1.0.2-dev" | .root.path = $root' \
  "$work/base/config.json" > "$work/config.json"
mv "$work/config.json" "$work/base/config.json"
mkdir -p "$work/sleep" "$work/docker" "$work/podman"
jq '.process.args = ["sleep", "1000000"]' "$work/base/config.json" > "$work/sleep/config.json"
jq --slurpfile s src/security/testdata/docker-default.json '.linux.seccomp = $s[0]' \
  "$work/base/config.json" > "$work/docker/config.json"
python3 hack/bench/engine-seccomp.py /usr/share/containers/seccomp.json \
  CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_NET_BIND_SERVICE \
  CAP_SETFCAP CAP_SETGID CAP_SETPCAP CAP_SETUID CAP_SYS_CHROOT > "$work/podman.json"
jq --slurpfile s "$work/podman.json" '.linux.seccomp = $s[0]' \
  "$work/base/config.json" > "$work/podman/config.json"

bench_cgroups_make "hull-bench-$$"

{
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel $(uname -r)"
  echo "cpu $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "nproc $(nproc)"
  echo "mem $(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
  echo "rounds $rounds"
  echo "runs_n $runs_n"
  echo "levels $levels"
  echo "quick $quick"
  for spec in "hull=$hull" "runc=$runc" "crun=$crun"; do
    name=${spec%%=*} rt=${spec#*=}
    echo "version $name $("$rt" --version | head -1)"
    libs=0 nlibs=0
    for lib in $(ldd "$rt" 2>/dev/null | awk '/=> \// { print $3 }'); do
      case $(basename "$lib") in libc.so.*|ld-linux*) continue ;; esac
      libs=$((libs + $(stat -L -c %s "$lib"))); nlibs=$((nlibs + 1))
    done
    echo "size $name $(stat -L -c %s "$rt") $libs $nlibs"
  done
  echo "load_before $(cat /proc/loadavg)"
} > "$work/meta"

export BENCH_WORK=$work BENCH_ROUNDS=$rounds BENCH_RUNS_N=$runs_n BENCH_LEVELS=$levels
export BENCH_RUNTIMES="hull=$hull runc=$runc crun=$crun"
# In the background, so that a signal to this shell runs the cleanup at once (a trap waits for
# a foreground command to end; `wait` is interrupted).
bench_exec "$work" /bin/bash hack/bench/run.sh &
inner=$!
status=0
wait "$inner" || status=$?
inner=
[ "$status" = 0 ] || exit "$status"
echo "load_after $(cat /proc/loadavg)" >> "$work/meta"

python3 hack/bench/report.py "$work"
# BENCH_SAMPLES=DIR keeps the raw samples and the machine's description.
if [ -n "${BENCH_SAMPLES:-}" ]; then
  mkdir -p "$BENCH_SAMPLES" && cp "$work/samples" "$work/meta" "$BENCH_SAMPLES/"
fi

if [ "$quick" = 0 ] && [ "${BENCH_EXTRA:-1}" != 0 ]; then
  for extra in hack/bench-*.sh; do
    [ -e "$extra" ] && bash "$extra"
  done
fi
exit 0
