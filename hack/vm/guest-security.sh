#!/usr/bin/env bash
# Runs inside the cgroup2-only VM (hack/vm.sh v2 -- hack/vm/guest-security.sh): attacks on
# the runtime, on the VM's older kernel (Linux 6.1) where the host has a newer one; TAP on
# stdout (also kept in target/vm/guest-security.tap). Exit status: non-zero on any failure.
#
#   guest-security.sh [CHECK...]   run only these checks (names without check_)
#
# CVE-2019-5736, the runtime's binary overwritten from a container (the host runs the same
# attacks in integration/security/binary.rs). The attacker is the static probe
# (`hull-probe attack-exe`, crates/probe/src/exe_attack.rs) inside the container: it takes a
# handle on /proc/PID/exe of a process running the runtime's binary and writes through it
# once nothing runs that file. Every attack targets a private copy of a binary; the checks
# compare its sha256 before and after.
#   interp_exec   `hull exec` of a script starting `#!/proc/self/exe` (the original exploit)
#   interp_run    a container whose entrypoint is that script, in a pid namespace shared with
#                 the attacker's container (a pod with a shared process namespace)
#   ptrace_init   with CAP_SYS_PTRACE, /proc/1/exe of a created container's init
#   control_*     the same attacks against a runtime without the protection (`hull-probe
#                 enter`: fork, join the namespaces, drop capabilities, exec, as runc did
#                 before 1.0-rc7): the copy MUST be overwritten, or the checks above would
#                 pass by missing
#
# PROBE is the static probe (default target/probe/debug/hull-probe, built by the lane).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec > >(tee target/vm/guest-security.tap) 2>&1
# shellcheck source=hack/vm/lib.sh
. hack/vm/lib.sh
# shellcheck disable=SC2016  # container commands are single-quoted on purpose

SECURITY_CHECKS=(interp_exec interp_run ptrace_init control_interp control_ptrace)

cp "${PROBE:-$REPO/target/probe/debug/hull-probe}" "$WORK/probe"
ATTACK_INTERP='["/probe", "attack-exe", "interp", "/report", "120"]'
IDLE='["sleep", "1000"]'

# attack_bundle NAME [ARGS_JSON [JQ]]: the probe at /probe, `#!/proc/self/exe` at /evil, a
# writable root (the attacker's report is /report), ARGS_JSON as the process (default: sleep).
attack_bundle() {
  local b
  b=$(bundle "$1" true)
  jq --argjson args "${2:-$IDLE}" ".root.readonly = false | .process.args = \$args | ${3:-.}" \
    "$b/config.json" >"$b/c.json"
  mv "$b/c.json" "$b/config.json"
  cp "$WORK/probe" "$b/rootfs/probe"
  # hull's dynamic loader and libraries, as any distribution image has them: without them
  # the kernel cannot run hull as /evil's interpreter at all.
  local lib
  for lib in $(/lib64/ld-linux-x86-64.so.2 --list "$HULL" | grep -oE '/[^ ]+'); do
    mkdir -p "$b/rootfs$(dirname "$lib")" && cp -L "$lib" "$b/rootfs$lib"
  done
  printf '#!/proc/self/exe\n' >"$b/rootfs/evil"
  chmod 755 "$b/rootfs/evil"
  echo "$b"
}

# victim NAME SOURCE: a private copy of SOURCE; prints its path
victim() {
  mkdir -p "$WORK/victim-$1"
  cp "$2" "$WORK/victim-$1/$(basename "$2")"
  echo "$WORK/victim-$1/$(basename "$2")"
}
sum() { sha256sum "$1" | cut -d' ' -f1; }

# event REPORT NAME...: the first line of the report whose event is one of NAMES
event() {
  local r=$1; shift
  [ -f "$r" ] || return 1
  local n
  for n in "$@"; do
    grep -m1 "\"event\":\"$n\"" "$r" && return 0
  done
  return 1
}
wait_event() {  # wait_event SECONDS REPORT NAME...
  local s=$1; shift
  wait_for "$s" event "$@" >/dev/null
}

# The outcome for a protected runtime: the attacker held the runtime's file (same inode),
# was refused with EROFS, and the copy is unchanged.
expect_refused() {  # expect_refused REPORT VICTIM SUM_BEFORE
  local r=$1 v=$2 before=$3 handle ino
  handle=$(event "$r" handle || true)
  ino=$(stat -c %i "$v")
  expect_eq "the attacker held the runtime binary (inode $ino)" "$(jq -r .ino <<<"${handle:-{\}}")" "$ino"
  wait_event 60 "$r" refused overwritten timeout || true
  expect_eq "writing it was refused with EROFS" "$(event "$r" refused overwritten timeout | jq -c '[.event, .errno]')" '["refused",30]'
  expect_eq "the runtime binary is unchanged" "$(sum "$v")" "$before"
  [ "$(sum "$v")" = "$before" ] || note "report: $(tr '\n' ' ' <"$r")"
}

# The outcome for the control: overwritten, and the copy changed.
expect_overwritten() {  # expect_overwritten REPORT VICTIM SUM_BEFORE
  local r=$1 v=$2 before=$3
  wait_event 60 "$r" refused overwritten timeout || true
  expect_eq "control: the attack overwrote the unprotected copy" "$(event "$r" refused overwritten timeout | jq -r .event)" overwritten
  expect "control: the copy's sha256 changed" test "$(sum "$v")" != "$before"
  grep -q 'overwritten' "$r" || note "report: $(tr '\n' ' ' <"$r")"
}

check_interp_exec() {
  local v before b i
  v=$(victim "$CHECK" "$HULL"); before=$(sum "$v")
  b=$(attack_bundle "$CHECK" "$ATTACK_INTERP")
  run_d "$CHECK" "$b"
  # The victim is short-lived (hull, started as the script's interpreter, fails on its
  # argv): exec until the attacker has caught one.
  for i in 1 2 3 4 5 6 7 8 9 10; do
    "$v" --root "$ROOT" exec "$CHECK" /evil >/dev/null 2>&1 </dev/null || true
    event "$b/rootfs/report" handle >/dev/null && break
  done
  note "execs until the attacker held one: $i"
  expect_refused "$b/rootfs/report" "$v" "$before"
}

check_interp_run() {
  local v before a b pid i
  v=$(victim "$CHECK" "$HULL"); before=$(sum "$v")
  a=$(attack_bundle "$CHECK-attacker" "$ATTACK_INTERP")
  run_d "$CHECK-attacker" "$a"
  pid=$(state "$CHECK-attacker" pid)
  b=$(attack_bundle "$CHECK" '["/evil"]' \
    "(.linux.namespaces[] | select(.type == \"pid\")) |= . + {path: \"/proc/$pid/ns/pid\"}")
  for i in 1 2 3 4 5 6 7 8 9 10; do
    "$v" --root "$ROOT" run -d -b "$b" "$CHECK-$i" >/dev/null 2>&1 </dev/null || true
    event "$a/rootfs/report" handle >/dev/null && break
  done
  note "containers until the attacker held one's init: $i"
  expect_refused "$a/rootfs/report" "$v" "$before"
}

check_ptrace_init() {
  local v before b
  v=$(victim "$CHECK" "$HULL"); before=$(sum "$v")
  b=$(attack_bundle "$CHECK")
  "$v" --root "$ROOT" create -b "$b" "$CHECK" </dev/null >/dev/null 2>&1
  "$v" --root "$ROOT" exec -d --cap CAP_SYS_PTRACE "$CHECK" /probe attack-exe pid:1 /report 60 \
    </dev/null >/dev/null 2>&1
  wait_event 30 "$b/rootfs/report" handle || true
  "$v" --root "$ROOT" start "$CHECK"
  expect_refused "$b/rootfs/report" "$v" "$before"
}

check_control_interp() {
  local v before b pid
  v=$(victim "$CHECK" "$WORK/probe"); before=$(sum "$v")
  b=$(attack_bundle "$CHECK" "$ATTACK_INTERP")
  run_d "$CHECK" "$b"
  pid=$(state "$CHECK" pid)
  # The unprotected runtime's child: no capabilities, as a container's process, then
  # execve("/evil") in the container, which runs this copy as `#!/proc/self/exe`.
  for i in 1 2 3 4 5 6 7 8 9 10; do
    "$v" enter "$pid" --drop-caps -- /evil >/dev/null 2>&1 </dev/null || true
    event "$b/rootfs/report" handle >/dev/null && break
  done
  note "runs until the attacker held one: $i"
  expect_overwritten "$b/rootfs/report" "$v" "$before"
}

check_control_ptrace() {
  local v before b pid
  v=$(victim "$CHECK" "$WORK/probe"); before=$(sum "$v")
  b=$(attack_bundle "$CHECK")
  run_d "$CHECK" "$b"
  pid=$(state "$CHECK" pid)
  hull exec -d --cap CAP_SYS_PTRACE "$CHECK" /probe attack-exe "cmdline:victim-$CHECK" /report 60 \
    </dev/null >/dev/null 2>&1
  wait_event 30 "$b/rootfs/report" waiting || true
  "$v" enter "$pid" --delay 3000 -- /bin/true </dev/null >/dev/null 2>&1 || true
  expect_overwritten "$b/rootfs/report" "$v" "$before"
}

echo "TAP version 13"
echo "# guest-security: kernel $(uname -r), $("$HULL" --version | sed -n 1p)"
t0=$SECONDS
if [ $# -gt 0 ]; then run_checks "$@"; else run_checks "${SECURITY_CHECKS[@]}"; fi
echo "# checks took $((SECONDS - t0)) s"
summary guest-security
