#!/usr/bin/env bash
# Start-up cost of runtime binaries, in figures that do not depend on how busy the machine
# is: instructions executed (callgrind: the same count on an idle or a loaded machine),
# minor page faults and peak RSS (wait4's rusage, as /usr/bin/time's %R and %M), and the
# waiting init's faults and memory. runc and crun are measured alongside as references.
#
#   hack/bench/startup.sh [--no-refs] [NAME=BINARY...]   (default: hull=target/release/hull;
#                                                         --no-refs: without runc and crun)
#
# Per binary: file size, relocations (readelf -r: what the dynamic loader or a static-pie's
# own start-up applies), shared libraries as ldd resolves them; instructions of `--version`,
# `state` of a missing container, `create` (*: valgrind 3.19 has no open_tree/fsopen, so
# hull's init fails at its first mount and this counts the runtime's process up to there
# plus its cleanup), `start` of a created container and `delete -f` of a stopped one; minor
# faults (pf) of `--version`, `state`, `create`, `start`, `delete -f` and of the waiting
# init up to its wait (/proc/PID/stat); create's peak RSS and the waiting init's RSS, PSS
# private and anonymous memory (MiB; medians of 5). Same environment as hack/bench.sh.
# Needs root, valgrind, and a release build of each hull binary.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = --inner ]; then
  shift
  work=$BENCH_WORK
  [ -z "${BENCH_XTRACE:-}" ] || set -x
  . hack/bench/lib.sh
  bench_remount_cgroups "$work"
  drv=$work/driver
  cleanup() {
    local spec id
    for spec in "$@"; do
      for id in $("${spec#*=}" --root "$work/root-${spec%%=*}" list -q 2>/dev/null); do
        "${spec#*=}" --root "$work/root-${spec%%=*}" delete -f "$id" >/dev/null 2>&1 || true
      done
    done
  }
  trap 'cleanup "$@"' EXIT
  median() { sort -n | awk '{ a[NR] = $1 } END { print (NR ? a[int((NR + 1) / 2)] : "-") }'; }
  # Instructions of one command under callgrind ("-" where valgrind cannot run it).
  ir() {
    local f=$work/cg.out
    rm -f "$f"
    valgrind --tool=callgrind --callgrind-out-file="$f" "$@" </dev/null >/dev/null 2>"$work/vg.err" || true
    # crun re-executes itself from a copy (its CVE-2019-5736 guard), which valgrind cannot
    # follow: its count would be the first dynamic load only.
    if [ -s "$f" ] && ! grep -q 'Failed to re-execute' "$work/vg.err"; then
      awk '/^summary:|^totals:/ { print $2; exit }' "$f"
    else
      echo -
    fi
  }
  # Waits until container ID of $bin under $root has stopped (its /bin/true is done).
  stopped() {
    local st
    for _ in $(seq 100); do
      st=$("$bin" --root "$root" state "$1" 2>/dev/null) || true
      [ "$(jq -r .status <<< "$st" 2>/dev/null)" = stopped ] && return 0
      sleep 0.05
    done
    echo "startup: $1 did not stop" >&2
    return 1
  }
  # Field F of label L in the driver's output (3 ns, 4 peak RSS KiB, 5 minor faults, 6-9
  # init's RSS, PSS, private, anonymous KiB), median over the runs.
  col() { awk -v l="$1" -v f="$2" '$2 == l { print $f }' "$work/s" | median; }
  printf '%-14s %8s %7s %5s %10s %10s %11s %10s %10s | %6s %6s %6s %6s %6s %6s | %7s %7s %7s %7s %7s\n' \
    binary "size MiB" relocs libs "Ir version" "Ir state" "Ir create*" "Ir start" "Ir delete" \
    "pf ver" "pf st" "pf cre" "pf sta" "pf del" "pf ini" "RSS cre" "RSS ini" "PSS ini" "USS ini" "anon in"
  for spec in "$@"; do
    name=${spec%%=*} bin=${spec#*=}
    root=$work/root-$name
    size=$(awk -v s="$(stat -L -c %s "$bin")" 'BEGIN { printf "%.2f", s / 1048576 }')
    relocs=$(readelf -rW "$bin" | grep -c '^[0-9a-f]\{8,\} ' || true)
    libs=$(ldd "$bin" 2>/dev/null | grep -c '=> /' || true)
    # Instructions: state of a missing container, start and delete of a real one.
    irv=$(ir "$bin" --version)
    irs=$(ir "$bin" --root "$root" state missing)
    # create: valgrind refuses hull's init its first open_tree, so this counts the runtime's
    # own process up to that refusal and its cleanup (marked *).
    irc=$(ir "$bin" --root "$root" create -b "$work/bundle" vg)
    "$bin" --root "$root" delete -f vg >/dev/null 2>&1 || true
    "$bin" --root "$root" create -b "$work/bundle" cg </dev/null >/dev/null 2>&1
    irst=$(ir "$bin" --root "$root" start cg)
    st=$("$bin" --root "$root" state cg 2>/dev/null) || true
    if [ "$(jq -r .status <<< "$st" 2>/dev/null)" = created ]; then  # valgrind could not run start
      irst=-
      "$bin" --root "$root" start cg
    fi
    stopped cg
    ird=$(ir "$bin" --root "$root" delete -f cg)
    "$bin" --root "$root" delete -f cg >/dev/null 2>&1 || true  # if valgrind could not
    # Faults and memory, 5 times.
    : > "$work/s"
    inits=()
    for k in 1 2 3 4 5; do
      "$drv" -o "$work/s" -k "$k" =version "$bin" --version =state,anyexit "$bin" --root "$root" state missing \
        "=create,pid=$work/pid" "$bin" --root "$root" create --pid-file "$work/pid" -b "$work/bundle" "c$k"
      inits+=("$(awk '{ print $10 }' "/proc/$(cat "$work/pid")/stat")")
      "$drv" -o "$work/s" -k "$k" =start "$bin" --root "$root" start "c$k"
      stopped "c$k"
      "$drv" -o "$work/s" -k "$k" =delete "$bin" --root "$root" delete -f "c$k"
    done
    kib() { awk -v v="$1" 'BEGIN { printf "%.2f", v / 1024 }'; }
    printf '%-14s %8s %7s %5s %10s %10s %11s %10s %10s | %6s %6s %6s %6s %6s %6s | %7s %7s %7s %7s %7s\n' \
      "$name" "$size" "$relocs" "$libs" "$irv" "$irs" "$irc" "$irst" "$ird" \
      "$(col version 5)" "$(col state 5)" "$(col create 5)" "$(col start 5)" "$(col delete 5)" \
      "$(printf '%s\n' "${inits[@]}" | median)" \
      "$(kib "$(col create 4)")" "$(kib "$(col create 6)")" "$(kib "$(col create 7)")" "$(kib "$(col create 8)")" "$(kib "$(col create 9)")"
  done
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "startup: needs root" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "startup: needs valgrind" >&2; exit 1; }
refs=(runc=/usr/sbin/runc crun=/usr/bin/crun)
if [ "${1:-}" = --no-refs ]; then refs=(); shift; fi
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=("hull=$PWD/target/release/hull")
specs+=(${refs[@]+"${refs[@]}"})
first=${specs[0]#*=}

. hack/bench/lib.sh
work=$(mktemp -d /tmp/hull-startup.XXXXXX)
cleanup() { bench_cgroups_remove; rm -rf "$work"; }
trap cleanup EXIT
cc -O2 -Wall -o "$work/driver" hack/bench/driver.c
HULL=$first hack/mkbundle.sh "$work/bundle" /bin/true
jq '.ociVersion = "1.0.2-dev"' "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
bench_cgroups_make "hull-startup-$$"
export BENCH_WORK=$work
bench_enter "$work" /bin/bash hack/bench/startup.sh --inner "${specs[@]}"
