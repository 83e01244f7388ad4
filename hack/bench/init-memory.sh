#!/usr/bin/env bash
# The waiting init's memory, in figures a busy machine does not change: RSS, PSS, private and
# anonymous memory from /proc/PID/smaps_rollup, and where they sit (/proc/PID/smaps grouped:
# the runtime's binary, shared libraries, heap, stack, other anonymous memory); its minor
# faults up to the wait and from `start` until its process has exec'd (/proc/PID/stat); and
# the totals over N waiting inits. Same environment as hack/bench.sh (hack/bench/lib.sh).
#
#   hack/bench/init-memory.sh [-n N] [NAME=BINARY...]   (default N=10, hull=target/release/hull
#                                                       crun=/usr/bin/crun runc=/usr/sbin/runc)
#
# The single init is alone of its runtime on the machine (its binary's pages count fully to
# it); the N inits are made one after the other and read together. "faults after start":
# the container's process is busybox `sleep`, read right after `start` returns (the runtime
# has exec'd it by then): init's faults from the fifo to execve plus sleep's own start-up,
# the same for every runtime. Root only.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = --inner ]; then
  shift
  n=$1; shift
  work=$BENCH_WORK
  . hack/bench/lib.sh
  bench_remount_cgroups "$work"
  made=()  # "SPEC ID" of every container made, deleted by exact id at the end
  cleanup() {
    local entry spec
    for entry in ${made[@]+"${made[@]}"}; do
      spec=${entry%% *}
      "${spec#*=}" --root "$work/root-${spec%%=*}" delete -f "${entry#* }" >/dev/null 2>&1 || true
    done
  }
  trap cleanup EXIT
  # KiB: RSS PSS private anonymous.
  rollup() {
    awk '/^(Rss|Pss|Private_Clean|Private_Dirty|Anonymous):/ { v[$1] = $2 }
      END { print v["Rss:"], v["Pss:"], v["Private_Clean:"] + v["Private_Dirty:"], v["Anonymous:"] }' \
      "/proc/$1/smaps_rollup"
  }
  minflt() { awk '{ print $10 }' "/proc/$1/stat"; }
  # smaps grouped: the runtime's own binary (BIN's inode, or a memfd copy of it, as crun and runc
  # run from), other files, heap, stack, anon.
  breakdown() {  # PID BIN
    local ino
    ino=$(stat -L -c %i "$2")
    awk -v ino="$ino" '
      /^[0-9a-f]+-[0-9a-f]+ / {
        g = "anonymous, other"
        if (($5 == ino && $5 != 0) || $6 ~ /^\/memfd:/) g = "binary " $2
        else if ($6 == "[heap]") g = "heap"
        else if ($6 == "[stack]") g = "stack"
        else if ($6 ~ /^\[/) g = $6
        else if ($5 != 0) g = "libraries " $2
        if (!(g in seen)) { seen[g] = 1; order[++k] = g }
        next
      }
      $1 == "Rss:" { rss[g] += $2 } $1 == "Pss:" { pss[g] += $2 } $1 == "Anonymous:" { an[g] += $2 }
      END {
        for (i = 1; i <= k; i++) if (rss[order[i]] > 0)
          printf "    %-24s %7d %7d %7d\n", order[i], rss[order[i]], pss[order[i]], an[order[i]]
      }' "/proc/$1/smaps"
  }
  for spec in "$@"; do
    name=${spec%%=*} bin=${spec#*=} root=$work/root-${spec%%=*}
    made+=("$spec a1")
    "$bin" --root "$root" create --pid-file "$work/pid" -b "$work/sleep" a1 </dev/null >/dev/null
    pid=$(cat "$work/pid")
    read -r rss pss priv anon <<< "$(rollup "$pid")"
    f_wait=$(minflt "$pid")
    echo "$name: one waiting init (KiB): RSS $rss PSS $pss private $priv anonymous $anon"
    printf '    %-24s %7s %7s %7s\n' mapping RSS PSS anon
    breakdown "$pid" "$bin"
    "$bin" --root "$root" start a1
    f_run=$(minflt "$pid")
    echo "$name: minor faults: up to the wait $f_wait; from start to the exec'd process $((f_run - f_wait))"
    "$bin" --root "$root" delete -f a1 >/dev/null
    tr=0 tp=0 tv=0 ta=0
    for ((k = 1; k <= n; k++)); do
      made+=("$spec w$k")
      "$bin" --root "$root" create --pid-file "$work/pid-$k" -b "$work/true" "w$k" </dev/null >/dev/null
    done
    for ((k = 1; k <= n; k++)); do
      read -r rss pss priv anon <<< "$(rollup "$(cat "$work/pid-$k")")"
      tr=$((tr + rss)) tp=$((tp + pss)) tv=$((tv + priv)) ta=$((ta + anon))
    done
    echo "$name: $n waiting inits together (KiB): RSS $tr PSS $tp private $tv anonymous $ta"
    for ((k = 1; k <= n; k++)); do
      "$bin" --root "$root" delete -f "w$k" >/dev/null
    done
  done
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "init-memory: needs root" >&2; exit 1; }
n=10
if [ "${1:-}" = -n ]; then n=$2; shift 2; fi
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=("hull=$PWD/target/release/hull" crun=/usr/bin/crun runc=/usr/sbin/runc)

. hack/bench/lib.sh
work=$(mktemp -d /tmp/hull-initmem.XXXXXX)
cleanup() { bench_cgroups_remove; rm -rf "$work"; }
trap cleanup EXIT
cc -O2 -Wall -o "$work/driver" hack/bench/driver.c
HULL=${specs[0]#*=} hack/mkbundle.sh "$work/true" /bin/true
HULL=${specs[0]#*=} hack/mkbundle.sh "$work/sleep" sleep 1000000
for b in true sleep; do
  jq '.ociVersion = "1.0.2-dev"' "$work/$b/config.json" > "$work/c" && mv "$work/c" "$work/$b/config.json"
done
bench_cgroups_make "hull-initmem-$$"
export BENCH_WORK=$work
bench_enter "$work" /bin/bash hack/bench/init-memory.sh --inner "$n" "${specs[@]}"
