#!/usr/bin/env bash
# Runs inside the VM with systemd as PID 1 (hack/vm.sh systemd -- hack/vm/guest-systemd.sh),
# as the oneshot service hull-vm.service (Delegate=yes): TAP on stdout (also kept in
# target/vm/guest-systemd.tap). Exit status: non-zero on any failure.
#
#   guest-systemd.sh [CHECK...]   run only these checks (names without check_)
#
# First that the VM is what it claims (systemd PID 1, cgroup v2, a working systemd cgroup
# driver, shown with runc --systemd-cgroup), then hull's v2 checks (checks-v2.sh) with the
# cgroupfs driver on a systemd host. The image has bookworm's libseccomp2, so the host-built
# hull runs as is.
#
# To add a check: write a function check_NAME below (report with pass/fail/expect_eq/expect
# from lib.sh; clean up what it makes) and append NAME to SYSTEMD_CHECKS.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec > >(tee target/vm/guest-systemd.tap) 2>&1
# shellcheck source=hack/vm/lib.sh
. hack/vm/lib.sh
# shellcheck source=hack/vm/checks-v2.sh
. hack/vm/checks-v2.sh

SYSTEMD_CHECKS=(systemd_host runc_systemd_scope)

check_systemd_host() {
  expect_eq "PID 1 is systemd" "$(cat /proc/1/comm)" systemd
  local s
  s=$(systemctl is-system-running || true)
  expect "systemd is up ($s)" sh -c "case $s in running|starting|degraded) ;; *) exit 1 ;; esac"
  expect_eq "this script runs in its service's cgroup" "$(own_cgroup)" /system.slice/hull-vm.service
  expect_eq "cgroup2 at /sys/fs/cgroup" "$(awk -v m="$CG" '$2 == m {print $3}' /proc/mounts)" cgroup2
}

# The reference: runc's systemd driver makes a transient scope with Delegate=yes and the
# limits as unit properties (slice:prefix:name → prefix-name.scope in that slice).
check_runc_systemd_scope() {
  local b unit=hulltest-ctr1.scope
  local runc=(runc --systemd-cgroup --root "$WORK/runc")
  b=$(bundle runc-scope 'sleep 1000' '.linux.cgroupsPath = "system.slice:hulltest:ctr1" |
    .linux.resources = {"memory": {"limit": 33554432}, "pids": {"limit": 20}, "cpu": {"shares": 512}}')
  "${runc[@]}" run -d -b "$b" ctr1 </dev/null >"$WORK/runc.out" 2>"$WORK/runc.err" ||
    { fail "runc --systemd-cgroup run"; note "$(cat "$WORK/runc.err")"; return 0; }
  expect_eq "runc --systemd-cgroup: $unit is active" "$(systemctl is-active $unit)" active
  expect_eq "$unit: Delegate" "$(systemctl show -P Delegate $unit)" yes
  expect_eq "$unit: MemoryMax" "$(systemctl show -P MemoryMax $unit)" 33554432
  expect_eq "$unit: TasksMax" "$(systemctl show -P TasksMax $unit)" 20
  local d=$CG/system.slice/$unit pid
  pid=$("${runc[@]}" state ctr1 | jq .pid)
  expect "the container's init ($pid) is in $d" grep -qx "$pid" "$d/cgroup.procs"
  expect_eq "memory.max of the scope" "$(cat "$d/memory.max")" 33554432
  "${runc[@]}" delete -f ctr1
  expect "runc delete: the scope is gone" wait_for 10 sh -c "! systemctl is-active -q $unit"
}

echo "TAP version 13"
echo "# guest-systemd: kernel $(uname -r), systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'), $("$HULL" --version | sed -n 1p)"
t0=$SECONDS
if [ $# -gt 0 ]; then
  run_checks "$@"
else
  run_checks "${SYSTEMD_CHECKS[@]}"
  # hull's cgroupfs driver on a systemd host: the same checks as on the bare v2 VM.
  run_checks "${V2_CHECKS[@]}"
fi
echo "# checks took $((SECONDS - t0)) s"
summary guest-systemd
