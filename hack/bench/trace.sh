#!/usr/bin/env bash
# Where the syscalls of create, start, delete and run go, runtime by runtime: each phase under
# `strace -f -tt -T -y`, in the bench's environment (hack/bench/lib.sh), then summarised by
# hack/bench/trace-summary.py (per process, per kind of work, the busiest syscalls).
# strace slows every syscall down: compare counts and shapes, not milliseconds.
#
#   hack/bench/trace.sh OUTDIR [NAME=BINARY...]   (default: hull=target/release/hull,
#                                                   crun=/usr/bin/crun, runc=/usr/sbin/runc)
# OUTDIR gets NAME.PHASE.log (the raw traces) and summary.txt; the floor program
# (hack/bench/floor.c) is traced too, as the run phase of "floor".
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = --inner ]; then
  shift
  out=$1; shift
  work=$BENCH_WORK
  . hack/bench/lib.sh
  bench_remount_cgroups "$work"
  cleanup() {
    local spec id
    for spec in "$@"; do
      for id in $("${spec#*=}" --root "$work/root-${spec%%=*}" list -q 2>/dev/null); do
        "${spec#*=}" --root "$work/root-${spec%%=*}" delete -f "$id" >/dev/null 2>&1 || true
      done
    done
  }
  trap 'cleanup "$@"' EXIT
  st() { local log=$1; shift; strace -f -tt -T -y -s 256 -o "$log" "$@" </dev/null >/dev/null 2>>"$out/errors"; }
  for spec in "$@"; do
    n=${spec%%=*} b=${spec#*=} root=$work/root-$n
    # A warm-up cycle, so no phase pays for a cold page cache or a first cgroup.
    "$work/driver" -o "$work/warm" -k warm =c "$b" --root "$root" create -b "$work/bundle" w \
      =s "$b" --root "$root" start w =d "$b" --root "$root" delete -f w
    # strace -f follows the container's init, which lives on after create returns: trace
    # create in the background and let start release init; the create trace then ends when
    # init's /bin/true does, and holds init's whole life.
    st "$out/$n.create.log" "$b" --root "$root" create --pid-file "$work/pid-$n" -b "$work/bundle" t &
    tracer=$!
    for _ in $(seq 400); do
      s=$("$b" --root "$root" state t 2>/dev/null) || true
      [ "$(jq -r .status <<< "$s" 2>/dev/null)" = created ] && break
      sleep 0.05
    done
    [ "$(jq -r .status <<< "$s" 2>/dev/null)" = created ] || { echo "trace: $n create did not finish" >&2; exit 1; }
    st "$out/$n.start.log" "$b" --root "$root" start t
    wait "$tracer"
    st "$out/$n.delete.log" "$b" --root "$root" delete -f t
    st "$out/$n.run.log" "$b" --root "$root" run -b "$work/bundle" r
  done
  # The floor (hack/bench/floor.c): the same kernel work as run, nothing else.
  st "$out/floor.run.log" "$work/floor" "$work/bundle/rootfs"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "trace: needs root" >&2; exit 1; }
[ $# -ge 1 ] || { echo "usage: hack/bench/trace.sh OUTDIR [NAME=BINARY...]" >&2; exit 2; }
out=$(realpath -m "$1"); shift
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=("hull=$PWD/target/release/hull" crun=/usr/bin/crun runc=/usr/sbin/runc)
mkdir -p "$out"
: > "$out/errors"

. hack/bench/lib.sh
work=$(mktemp -d /tmp/hull-trace.XXXXXX)
cleanup() { bench_cgroups_remove; rm -rf "$work"; }
trap cleanup EXIT
cc -O2 -Wall -o "$work/driver" hack/bench/driver.c
cc -O2 -Wall -static -o "$work/floor" hack/bench/floor.c
HULL=${specs[0]#*=} hack/mkbundle.sh "$work/bundle" /bin/true
jq '.ociVersion = "1.0.2-dev"' "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
bench_cgroups_make "hull-trace-$$"
export BENCH_WORK=$work
bench_enter "$work" /bin/bash hack/bench/trace.sh --inner "$out" "${specs[@]}"
names=()
for spec in "${specs[@]}"; do names+=("${spec%%=*}"); done
names+=(floor)
python3 hack/bench/trace-summary.py "$out" "$work" "${names[@]}" | tee "$out/summary.txt"
