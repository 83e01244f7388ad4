#!/usr/bin/env bash
# What the runtime binary protection (CVE-2019-5736) costs, in counts that a busy machine does
# not distort: system calls (strace -c), page faults (perf stat's software counter) and peak
# RSS with minor faults (/usr/bin/time) of create + start + delete -f of a /bin/true bundle and
# of exec into a running container. Two variants of the same binary:
#   rw  hull from its ordinary, writable path: re-executes through a read-only clone of itself
#   ro  the same file through a read-only bind: already protected, no re-exec
# Each figure is taken REPS times (default 5); the median and the range are printed. The
# per-process syscall counts repeat exactly; the all-process count of the cycle swings by
# hundreds (start and delete -f poll while they wait), so read it with its range. No times on
# purpose: hack/bench.sh's hull-ro rows give those, on an idle machine.
# Usage: hack/bench/reexec-counts.sh [HULL] [REPS]   (default target/release/hull; root; ~30 s on a busy 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/../.."
hull=$(realpath "${1:-target/release/hull}")
reps=${2:-5}
[ "$(id -u)" = 0 ] || { echo "reexec-counts: needs root" >&2; exit 1; }
for t in strace perf /usr/bin/time jq; do
  command -v "$t" >/dev/null || { echo "reexec-counts: $t is missing" >&2; exit 1; }
done
work=$(mktemp -d /tmp/hull-reexec.XXXXXX)
trap 'rm -rf "$work"' EXIT
HULL=$hull hack/mkbundle.sh "$work/true" /bin/true
HULL=$hull hack/mkbundle.sh "$work/sleep" sleep 1000000

cat > "$work/inner.sh" <<'INNER'
set -euo pipefail
hull=$1 work=$2 reps=$3
: > "$work/hull-ro"
mount --bind -o ro "$hull" "$work/hull-ro"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# The "total" line of strace -c: calls in column 4.
calls() { awk '$NF == "total" { print $4 }' "$1"; }
execs() { awk '$NF == "execve" || $NF == "execveat" { n += $4 } END { print n + 0 }' "$1"; }
cycle() {  # BIN ID
  "$1" --root "$work/root" create -b "$work/true" "$2" </dev/null >/dev/null
  "$1" --root "$work/root" start "$2"
  "$1" --root "$work/root" delete -f "$2"
}
export -f cycle
export work
for v in rw ro; do
  bin=$hull; [ "$v" = ro ] && bin=$work/hull-ro
  "$bin" --root "$work/root" create -b "$work/sleep" "sleeper-$v" </dev/null >/dev/null
  "$bin" --root "$work/root" start "sleeper-$v"
  for ((i = 0; i < reps; i++)); do
    id=c-$v-$i
    strace -f -qq -c -o "$work/s" bash -c 'cycle "$@"' _ "$bin" "$id"
    echo "$(calls "$work/s") $(execs "$work/s")" >> "$work/cycle-sys-$v"
    # The create process alone (not followed into init, which waits for start).
    strace -qq -c -o "$work/s" "$bin" --root "$work/root" create -b "$work/true" "$id" </dev/null >/dev/null
    calls "$work/s" >> "$work/create-sys-$v"
    /usr/bin/time -f '%M %R' -o "$work/t" "$bin" --root "$work/root" start "$id"
    "$bin" --root "$work/root" delete -f "$id"
    /usr/bin/time -f '%M %R' -o "$work/t" "$bin" --root "$work/root" create -b "$work/true" "$id" </dev/null >/dev/null
    tail -1 "$work/t" >> "$work/create-mem-$v"
    "$bin" --root "$work/root" delete -f "$id"
    perf stat -x, -e page-faults -o "$work/p" bash -c 'cycle "$@"' _ "$bin" "$id"
    awk -F, '/page-faults/ { print $1 }' "$work/p" >> "$work/cycle-pf-$v"
    strace -f -qq -c -o "$work/s" "$bin" --root "$work/root" exec "sleeper-$v" /bin/true
    echo "$(calls "$work/s") $(execs "$work/s")" >> "$work/exec-sys-$v"
    /usr/bin/time -f '%M %R' -o "$work/t" "$bin" --root "$work/root" exec "sleeper-$v" /bin/true
    tail -1 "$work/t" >> "$work/exec-mem-$v"
  done
  "$bin" --root "$work/root" delete -f "sleeper-$v"
done
range() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo ".." hi }'; }
printf '%-52s %20s %20s %8s\n' "median (min..max) of $reps" "re-exec (rw)" "none (ro)" "rw - ro"
row() {  # TITLE FILE COLUMN
  local a b ra rb
  a=$(awk -v c="$3" '{ print $c }' "$work/$2-rw" | median)
  b=$(awk -v c="$3" '{ print $c }' "$work/$2-ro" | median)
  ra=$(awk -v c="$3" '{ print $c }' "$work/$2-rw" | range)
  rb=$(awk -v c="$3" '{ print $c }' "$work/$2-ro" | range)
  printf '%-52s %20s %20s %8s\n' "$1" "$a ($ra)" "$b ($rb)" "$((a - b))"
}
row "create+start+delete -f: syscalls, all processes" cycle-sys 1
row "create+start+delete -f: execve/execveat calls" cycle-sys 2
row "create+start+delete -f: page faults, all processes" cycle-pf 1
row "create: syscalls of the runtime process" create-sys 1
row "create: peak RSS, KiB" create-mem 1
row "create: minor page faults" create-mem 2
row "exec /bin/true: syscalls, all processes" exec-sys 1
row "exec /bin/true: execve/execveat calls" exec-sys 2
row "exec /bin/true: peak RSS, KiB" exec-mem 1
row "exec /bin/true: minor page faults" exec-mem 2
INNER
echo "binary: $hull ($(stat -c %s "$hull") bytes), kernel $(uname -r)"
unshare -m --propagation private bash "$work/inner.sh" "$hull" "$work" "$reps"
