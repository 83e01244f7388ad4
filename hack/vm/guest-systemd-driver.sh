#!/usr/bin/env bash
# hull's systemd cgroup driver (--systemd-cgroup), checked inside the VM with systemd as PID 1:
#
#   hack/vm.sh systemd -- hack/vm/guest-systemd-driver.sh [CHECK...]
#
# TAP on stdout (also kept in target/vm/guest-systemd-driver.tap); exit status non-zero on any
# failure. Each container's cgroup must be a transient scope made over D-Bus (cgroupsPath
# "slice:prefix:name" → prefix-name.scope in that slice) with Delegate=yes and the limits as
# unit properties, the limits must hold by effect, and pause, kill --all, update and delete
# must work on it. Uses the helpers of lib.sh (bundle, expect_eq, wait_for...).
# sd_timing only reports create times (TIMING_N creates per driver, default 5, interleaved);
# under TCG they vary by 2x from run to run, so compare within a run only.
# shellcheck disable=SC2016  # container commands are single-quoted on purpose
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p target/vm
exec > >(tee target/vm/guest-systemd-driver.tap) 2>&1
# shellcheck source=hack/vm/lib.sh
. hack/vm/lib.sh

DRIVER_CHECKS=(sd_features sd_scope sd_runc_parity sd_default_path sd_nested_slice sd_pids sd_pause
  sd_kill_all sd_exec sd_duplicate sd_stats sd_update sd_delete sd_failed_create sd_bad_path sd_timing)

MiB=$((1024 * 1024))
hsd() { "$HULL" --root "$ROOT" --systemd-cgroup "$@"; }
# The scope's directory as the driver saved it (the cgroupfs form inside the systemd form).
scopedir() { jq -r .cgroup.fs.path "$ROOT/$1/state.json"; }
prop() { systemctl show -P "$1" "$2"; }   # prop NAME UNIT
run_sd() {  # run_sd ID BUNDLE: run -d with the systemd driver, stdio in files
  hsd run -d -b "$2" "$1" </dev/null >"$WORK/$1.out" 2>"$WORK/$1.err" || {
    note "run -d $1: $(cat "$WORK/$1.err")"
    return 1
  }
}

check_sd_features() {
  local f
  f=$("$HULL" features)
  expect_eq "features: linux.cgroup.systemd" "$(jq -r .linux.cgroup.systemd <<<"$f")" true
  expect_eq "features: linux.cgroup.v2" "$(jq -r .linux.cgroup.v2 <<<"$f")" true
  # Supported by the build whether or not this user has a bus (root has none in this image:
  # no dbus-user-session); features-linux.md makes the field irrelevant to the host.
  expect_eq "features: linux.cgroup.systemdUser" "$(jq -r .linux.cgroup.systemdUser <<<"$f")" true
}

# create + start: the scope exists with Delegate=yes and the limits as properties, init is in
# it, and the files systemd wrote say the same.
check_sd_scope() {
  local b unit=hull-ctr1.scope d pid
  b=$(bundle sd1 'sleep 1000' '.linux.cgroupsPath = "system.slice:hull:ctr1" |
    .linux.resources.memory = {"limit": 33554432} | .linux.resources.pids = {"limit": 20} |
    .linux.resources.cpu = {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"} |
    .linux.resources.devices = [{"allow": false, "access": "rwm"}]')
  hsd create -b "$b" sd1 </dev/null >"$WORK/sd1.out" 2>"$WORK/sd1.err" ||
    { fail "hull --systemd-cgroup create"; note "$(cat "$WORK/sd1.err")"; return 0; }
  pass "hull --systemd-cgroup create"
  expect_eq "$unit is active after create" "$(systemctl is-active $unit)" active
  hsd start sd1
  expect_eq "state.json: cgroup.version" "$(jq -r .cgroup.version "$ROOT/sd1/state.json")" systemd
  expect_eq "state.json: cgroup.unit" "$(jq -r .cgroup.unit "$ROOT/sd1/state.json")" $unit
  expect_eq "$unit: Slice" "$(prop Slice $unit)" system.slice
  expect_eq "$unit: Delegate" "$(prop Delegate $unit)" yes
  expect_eq "$unit: MemoryMax" "$(prop MemoryMax $unit)" 33554432
  expect_eq "$unit: TasksMax" "$(prop TasksMax $unit)" 20
  expect_eq "$unit: CPUWeight (shares 512)" "$(prop CPUWeight $unit)" 20
  expect_eq "$unit: CPUQuotaPerSecUSec" "$(prop CPUQuotaPerSecUSec $unit)" 500ms
  expect_eq "$unit: AllowedCPUs" "$(prop AllowedCPUs $unit)" 0
  expect_eq "$unit: DevicePolicy" "$(prop DevicePolicy $unit)" strict
  local allow
  allow=$(systemctl show $unit | sed -n 's/^DeviceAllow=//p' | tr '\n' ';')
  expect "$unit: DeviceAllow has /dev/char/1:3 rwm ($allow)" grep -q '/dev/char/1:3 rwm' <<<"$allow"
  expect "$unit: DeviceAllow has char-pts rwm" grep -q 'char-pts rwm' <<<"$allow"
  d=$(scopedir sd1)
  expect_eq "the saved path is the scope's cgroup" "$d" "$CG/system.slice/$unit"
  pid=$(state sd1 pid)
  expect "init ($pid) is in $d" grep -qx "$pid" "$d/cgroup.procs"
  expect_eq "memory.max of the scope" "$(cat "$d/memory.max")" 33554432
  expect_eq "pids.max of the scope" "$(cat "$d/pids.max")" 20
  expect_eq "cpu.max of the scope" "$(cat "$d/cpu.max")" "50000 100000"
  expect_eq "cpu.weight of the scope" "$(cat "$d/cpu.weight")" 20
  expect_eq "cpuset.cpus of the scope" "$(cat "$d/cpuset.cpus")" 0
  expect_eq "systemd sees the container's init in $unit" \
    "$(systemctl show -P ControlGroup $unit)" "/system.slice/$unit"
  expect "devices: /dev/null is usable" hull exec sd1 sh -c 'echo x > /dev/null'
}

# The same config through runc's driver and hull's: the units get the same properties.
check_sd_runc_parity() {
  local b props=MemoryMax,MemoryLow,MemorySwapMax,TasksMax,CPUWeight,CPUQuotaPerSecUSec
  props+=,CPUQuotaPeriodUSec,AllowedCPUs,AllowedMemoryNodes,IOWeight,Delegate,DevicePolicy,DeviceAllow
  props+=,MemoryAccounting,CPUAccounting,IOAccounting,TasksAccounting,DefaultDependencies,Slice
  local res='{"memory": {"limit": 67108864, "reservation": 33554432, "swap": 100663296},
    "cpu": {"shares": 2048, "quota": 33333, "period": 50000, "cpus": "0-1", "mems": "0"},
    "pids": {"limit": 64}, "blockIO": {"weight": 300}}'
  b=$(bundle par 'sleep 1000' ".linux.cgroupsPath = \"system.slice:parity:runc\" | .linux.resources += $res")
  runc --systemd-cgroup --root "$WORK/runc" run -d -b "$b" par </dev/null >"$WORK/runc.out" 2>"$WORK/runc.err" ||
    { fail "runc --systemd-cgroup run"; note "$(cat "$WORK/runc.err")"; return 0; }
  b=$(bundle par2 'sleep 1000' ".linux.cgroupsPath = \"system.slice:parity:hull\" | .linux.resources += $res")
  run_sd par2 "$b"
  # Two differences are on purpose: hull allows /dev/console (5:1) among its default devices,
  # and sends IOWeight (runc writes only io.weight); the files below agree.
  local r h known='^(DeviceAllow=/dev/char/5:1 |IOWeight=)'
  r=$(systemctl show -p "$props" parity-runc.scope | grep -Ev "$known" | sort)
  h=$(systemctl show -p "$props" parity-hull.scope | grep -Ev "$known" | sort)
  expect_eq "hull's unit has runc's properties ($props)" "$h" "$r"
  expect_eq "IOWeight (blockIO.weight 300)" "$(prop IOWeight parity-hull.scope)" 2930
  local f
  for f in memory.max memory.low memory.swap.max pids.max cpu.max cpu.weight cpuset.cpus io.weight; do
    expect_eq "$f: hull's scope as runc's" "$(cat "$CG/system.slice/parity-hull.scope/$f")" \
      "$(cat "$CG/system.slice/parity-runc.scope/$f")"
  done
  runc --root "$WORK/runc" delete -f par
}

# No cgroupsPath: hull-<id>.scope in system.slice.
check_sd_default_path() {
  local b
  b=$(bundle sd2 'sleep 1000' 'del(.linux.cgroupsPath)')
  run_sd sd2 "$b"
  expect_eq "hull-sd2.scope is active" "$(systemctl is-active hull-sd2.scope)" active
  expect_eq "in system.slice" "$(scopedir sd2)" "$CG/system.slice/hull-sd2.scope"
}

# A slice with dashes nests (machine-hulltest.slice is machine.slice/machine-hulltest.slice).
check_sd_nested_slice() {
  local b
  b=$(bundle sdn 'sleep 1000' '.linux.cgroupsPath = "machine-hulltest.slice:hull:nest"')
  run_sd sdn "$b"
  expect_eq "the scope's cgroup" "$(scopedir sdn)" "$CG/machine.slice/machine-hulltest.slice/hull-nest.scope"
  expect "init is there" grep -qx "$(state sdn pid)" "$(scopedir sdn)/cgroup.procs"
  expect_eq "systemd agrees" "$(prop ControlGroup hull-nest.scope)" /machine.slice/machine-hulltest.slice/hull-nest.scope
  hull delete -f sdn
  systemctl stop machine-hulltest.slice 2>/dev/null || true
}

# TasksMax by effect: a fork loop stops at the limit.
check_sd_pids() {
  local b rc=0
  b=$(bundle sdpids 'for i in $(seq 30); do sleep 30 & echo $i > /forked; done' \
    '.linux.cgroupsPath = "system.slice:hull:pids" | .linux.resources.pids = {"limit": 10} |
     .root.readonly = false')
  hsd run -b "$b" sdpids </dev/null >"$WORK/sdpids.out" 2>"$WORK/sdpids.err" || rc=$?
  expect "the fork loop fails (exit $rc)" [ "$rc" != 0 ]
  expect "with \"can't fork\"" grep -q "can't fork" "$WORK/sdpids.err"
  expect_eq "the shell and 9 sleeps fill TasksMax 10" "$(cat "$b/rootfs/forked")" 9
}

check_sd_pause() {
  local b d n1 n2
  b=$(bundle sdp 'while :; do echo x >> /ticks; sleep 0.1; done' \
    '.linux.cgroupsPath = "system.slice:hull:pause" | .root.readonly = false')
  run_sd sdp "$b"
  wait_for 20 test -s "$b/rootfs/ticks"
  hull pause sdp
  d=$(scopedir sdp)
  expect_eq "state: paused" "$(state sdp status)" paused
  expect "cgroup.events: frozen 1" grep -qx 'frozen 1' "$d/cgroup.events"
  n1=$(wc -l <"$b/rootfs/ticks"); sleep 1; n2=$(wc -l <"$b/rootfs/ticks")
  expect_eq "no ticks while paused" "$n2" "$n1"
  hull resume sdp
  expect_eq "state: running" "$(state sdp status)" running
  expect "ticks again after resume" wait_for 10 sh -c "[ \$(wc -l <'$b/rootfs/ticks') -gt $n2 ]"
  expect_eq "the scope is still active" "$(systemctl is-active hull-pause.scope)" active
}

check_sd_kill_all() {
  local b d
  b=$(bundle sdk 'sleep 1000 & sleep 1000 & wait' '.linux.cgroupsPath = "system.slice:hull:kill"')
  run_sd sdk "$b"
  d=$(scopedir sdk)
  expect "three processes in the scope" wait_for 10 sh -c "[ \$(wc -l <'$d/cgroup.procs') = 3 ]"
  hull kill --all sdk 9
  expect "kill --all empties the scope" wait_for 10 sh -c "[ ! -e '$d/cgroup.procs' ] || [ -z \"\$(cat '$d/cgroup.procs')\" ]"
  expect "state: stopped" wait_for 10 sh -c "[ \"\$('$HULL' --root '$ROOT' state sdk | jq -r .status)\" = stopped ]"
}

# exec joins the scope.
check_sd_exec() {
  local b d
  b=$(bundle sde 'sleep 1000' '.linux.cgroupsPath = "system.slice:hull:exec"')
  run_sd sde "$b"
  d=$(scopedir sde)
  hull exec sde sleep 5 &
  local ex=$!
  expect "an exec'd process joins the scope" wait_for 10 sh -c "[ \$(wc -l <'$d/cgroup.procs') = 2 ]"
  expect_eq "ps lists both" "$(hull ps --format json sde | jq length)" 2
  kill "$ex" 2>/dev/null || true
  wait "$ex" 2>/dev/null || true
  # exec --cgroup: a sub-cgroup of the delegated scope.
  mkdir "$d/sub"
  hull exec --cgroup sub sde sleep 5 &
  ex=$!
  expect "exec --cgroup sub joins $d/sub" wait_for 10 sh -c "[ \$(wc -l <'$d/sub/cgroup.procs') = 1 ]"
  kill "$ex" 2>/dev/null || true
  wait "$ex" 2>/dev/null || true
}

# A second container asking for a unit that exists fails, and the first is untouched.
check_sd_duplicate() {
  local b
  b=$(bundle dup1 'sleep 1000' '.linux.cgroupsPath = "system.slice:hull:dup"')
  run_sd dup1 "$b"
  b=$(bundle dup2 'sleep 1000' '.linux.cgroupsPath = "system.slice:hull:dup"')
  if hsd create -b "$b" dup2 </dev/null >/dev/null 2>"$WORK/dup2.err"; then
    fail "a second container for hull-dup.scope is refused"
  else
    pass "a second container for hull-dup.scope is refused"
    note "$(cat "$WORK/dup2.err")"
  fi
  expect "the error names the unit" grep -q "hull-dup.scope" "$WORK/dup2.err"
  expect_eq "the first is still running" "$(state dup1 status)" running
  expect_eq "its scope still active" "$(systemctl is-active hull-dup.scope)" active
  expect "and its init still in it" grep -qx "$(state dup1 pid)" "$(scopedir dup1)/cgroup.procs"
}

check_sd_stats() {
  local b s
  b=$(bundle sds 'sleep 1000' '.linux.cgroupsPath = "system.slice:hull:stats" |
    .linux.resources.memory = {"limit": 33554432} | .linux.resources.pids = {"limit": 20}')
  run_sd sds "$b"
  s=$(hull events --stats sds)
  expect_eq "events --stats: memory limit" "$(jq .data.memory.usage.limit <<<"$s")" 33554432
  expect_eq "events --stats: pids limit" "$(jq .data.pids.limit <<<"$s")" 20
  expect_eq "events --stats: pids current" "$(jq .data.pids.current <<<"$s")" 1
}

# update changes the unit (SetUnitProperties) and the files.
check_sd_update() {
  local b d unit=hull-upd.scope
  b=$(bundle sdu 'sleep 1000' '.linux.cgroupsPath = "system.slice:hull:upd" |
    .linux.resources.memory = {"limit": 33554432} | .linux.resources.pids = {"limit": 20}')
  run_sd sdu "$b"
  d=$(scopedir sdu)
  echo '{"memory": {"limit": 67108864}, "pids": {"limit": 40}}' | hull update --resources - sdu
  expect_eq "$unit: MemoryMax after update" "$(prop MemoryMax $unit)" $((64 * MiB))
  expect_eq "$unit: TasksMax after update" "$(prop TasksMax $unit)" 40
  expect_eq "memory.max after update" "$(cat "$d/memory.max")" $((64 * MiB))
  expect_eq "pids.max after update" "$(cat "$d/pids.max")" 40
}

check_sd_delete() {
  local b d unit=hull-del.scope
  b=$(bundle sdd 'sleep 1000' '.linux.cgroupsPath = "system.slice:hull:del"')
  run_sd sdd "$b"
  d=$(scopedir sdd)
  expect_eq "$unit is active" "$(systemctl is-active $unit)" active
  hull delete -f sdd
  expect "delete -f: $unit is gone" wait_for 10 sh -c "! systemctl is-active -q $unit"
  expect "delete -f: its cgroup is gone" test ! -e "$d"
  expect "and the state" test ! -e "$ROOT/sdd"
  # A stopped container's scope: systemd may already have dropped it; delete is still clean.
  b=$(bundle sdd2 'true' '.linux.cgroupsPath = "system.slice:hull:del2"')
  run_sd sdd2 "$b"
  wait_for 10 sh -c "[ \"\$('$HULL' --root '$ROOT' state sdd2 | jq -r .status)\" = stopped ]"
  expect "delete of a stopped container" hull delete sdd2
  expect "hull-del2.scope is gone" wait_for 10 sh -c "! systemctl is-active -q hull-del2.scope"
}

# A create that fails after the unit exists (the executable is missing) removes the unit.
check_sd_failed_create() {
  local b
  b=$(bundle sdf 'true' '.linux.cgroupsPath = "system.slice:hull:fail" | .process.args = ["/nonexistent"]')
  if hsd create -b "$b" sdf </dev/null >/dev/null 2>"$WORK/sdf.err"; then
    fail "create with a missing executable fails"
    return 0
  fi
  pass "create with a missing executable fails"
  expect "hull-fail.scope is gone" wait_for 10 sh -c '! systemctl is-active -q hull-fail.scope'
  expect "its cgroup is gone" test ! -e "$CG/system.slice/hull-fail.scope"
  expect "no state is left" test ! -e "$ROOT/sdf"
}

check_sd_bad_path() {
  local b err
  b=$(bundle sdbad 'true' '.linux.cgroupsPath = "/not/systemd"')
  if hsd create -b "$b" sdbad </dev/null >/dev/null 2>"$WORK/sdbad.err"; then
    fail "cgroupsPath /not/systemd is refused"
    return 0
  fi
  err=$(cat "$WORK/sdbad.err")
  expect "the error names linux.cgroupsPath and the form ($err)" \
    sh -c "grep -q linux.cgroupsPath '$WORK/sdbad.err' && grep -q slice:prefix:name '$WORK/sdbad.err'"
  expect "nothing is left" test ! -e "$ROOT/sdbad"
}

# Not a check: how long create takes under each driver here (TCG is slow; compare, don't read
# the absolute numbers).
check_sd_timing() {
  local b bfs i t sd=0 fs=0 rc=0
  b=$(bundle tm 'sleep 1000' 'del(.linux.cgroupsPath)')
  timed() {  # timed VAR COMMAND...: adds the command's milliseconds to VAR
    local t0 t1
    t0=$(date +%s%N)
    "${@:2}" </dev/null >/dev/null 2>"$WORK/tm.err" || note "$(cat "$WORK/tm.err")"
    t1=$(date +%s%N)
    eval "$1=\$(($1 + (t1 - t0) / 1000000))"
  }
  # Interleaved, so that whatever else the guest does weighs on all three alike.
  for i in $(seq "${TIMING_N:-5}"); do
    # A cgroup each: a new container may not join one that already has processes.
    bfs=$(bundle "tmfs$i" 'sleep 1000' ".linux.cgroupsPath = \"/hulltiming$i\"")
    timed sd hsd create -b "$b" "tsd$i"
    timed fs hull create -b "$bfs" "tfs$i"
    timed rc runc --systemd-cgroup --root "$WORK/runc" create -b "$b" "trc$i"
  done
  local n=${TIMING_N:-5}
  note "create, mean of $n: hull --systemd-cgroup $((sd / n)) ms, hull cgroupfs $((fs / n)) ms," \
    "runc --systemd-cgroup $((rc / n)) ms"
  expect_eq "$n containers, $n scopes" "$(systemctl list-units --plain --no-legend 'hull-tsd*.scope' | wc -l)" "$n"
  # The cgroupfs figure is of creates that worked, not of refusals.
  expect_eq "$n cgroupfs containers created" "$(hull list -q | grep -c '^tfs')" "$n"
  for i in $(seq "$n"); do runc --root "$WORK/runc" delete -f "trc$i" >/dev/null 2>&1 || true; done
}

echo "TAP version 13"
echo "# guest-systemd-driver: kernel $(uname -r), systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'), $("$HULL" --version | sed -n 1p)"
t0=$SECONDS
if [ $# -gt 0 ]; then run_checks "$@"; else run_checks "${DRIVER_CHECKS[@]}"; fi
echo "# checks took $((SECONDS - t0)) s"
summary guest-systemd-driver
