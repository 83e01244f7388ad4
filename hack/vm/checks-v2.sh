# shellcheck shell=bash
# hull's cgroup v2 manager (the cgroupfs driver), checked by effect with real busybox
# containers. Sourced after lib.sh by guest-v2.sh (cgroup2-only VM, PID 1 a shell) and by
# guest-systemd.sh (the same checks with systemd as PID 1). One function per check.
# shellcheck disable=SC2016  # container commands are single-quoted on purpose

# shellcheck disable=SC2034  # read by the guest scripts
V2_CHECKS=(host features limits cpu_quota oom pids pause kill_all update delete paths populated_parent
  refuse_cgroup no_pidns update_swap pids_zero netdevices kernel_attrs idmap)

MiB=$((1024 * 1024))
inside() { hull exec "$1" cat "/sys/fs/cgroup/$2"; }   # a cgroup file as the container sees it

check_host() {
  expect_eq "cgroup2 at /sys/fs/cgroup" "$(awk -v m="$CG" '$2 == m {print $3}' /proc/mounts)" cgroup2
  expect "no v1 hierarchy is mounted" sh -c '! grep -q " - cgroup " /proc/self/mountinfo'
}

check_features() {
  local f
  f=$(hull features)
  # The document describes the build, not the host (features-linux.md: "irrelevant to the
  # cgroup version of the host"): a v2-only machine still reads v1 true.
  expect_eq "features: linux.cgroup.v2" "$(jq -r .linux.cgroup.v2 <<<"$f")" true
  expect_eq "features: linux.cgroup.v1" "$(jq -r .linux.cgroup.v1 <<<"$f")" true
}

# Every resource the v2 manager renders lands in its file, as read on the host and in the
# container (whose cgroup namespace makes its cgroup the root of /sys/fs/cgroup).
check_limits() {
  local b d pid dev io=""
  # A virtio disk (the systemd image, or the v2 VM's scratch disk) to throttle.
  dev=$(cat /sys/block/vda/dev 2>/dev/null || true)
  [ -z "$dev" ] || io=", \"throttleReadBpsDevice\": [{\"major\": ${dev%:*}, \"minor\": ${dev#*:}, \"rate\": 1048576}],
    \"throttleWriteIOPSDevice\": [{\"major\": ${dev%:*}, \"minor\": ${dev#*:}, \"rate\": 100}]"
  b=$(bundle limits 'sleep 1000' '.linux.resources = {
    "memory": {"limit": 67108864, "reservation": 33554432, "swap": 100663296},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
    "pids": {"limit": 50},
    "blockIO": {"weight": 500'"$io"'},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
    "unified": {"memory.high": "50331648"}}')
  run_d limits "$b"
  d=$(cgdir limits)
  pid=$(state limits pid)
  expect "init ($pid) is in $d" grep -qx "$pid" "$d/cgroup.procs"
  expect_eq "the container's cgroup is the root of its cgroup namespace" \
    "$(hull exec limits cat /proc/self/cgroup)" "0::/"
  # One exec reads every file in the container (an exec costs ~0.5 s in the VM).
  hull exec limits sh -c 'cd /sys/fs/cgroup && for f in *; do [ -f "$f" ] && echo "$f $(cat "$f" 2>/dev/null | tr "\n" " ")"; done' \
    >"$WORK/limits.in" 2>/dev/null || true
  local f want
  while read -r f want; do
    expect_eq "$f (host)" "$(cat "$d/$f")" "$want"
    expect_eq "$f (in the container)" "$(awk -v f="$f" '$1 == f {$1 = ""; sub(/^ /, ""); sub(/ +$/, ""); print}' "$WORK/limits.in")" "$want"
  done <<EOF
memory.max 67108864
memory.low 33554432
memory.swap.max 33554432
memory.high 50331648
cpu.weight 20
cpu.max 50000 100000
cpuset.cpus 0
cpuset.mems 0
pids.max 50
io.weight default 4950
hugetlb.2MB.max 4194304
EOF
  if [ -n "$dev" ]; then
    expect_eq "io.max (host)" "$(cat "$d/io.max")" "$dev rbps=1048576 wbps=max riops=max wiops=100"
  else
    note "io.max not checked: no virtio disk in this VM"
  fi
}

# cpu.max by effect: a busy loop under a 10% quota gets throttled.
check_cpu_quota() {
  local b
  b=$(bundle cpuq 'sleep 1000' '.linux.resources.cpu = {"quota": 10000, "period": 100000}')
  run_d cpuq "$b"
  CPUQ_STAT=$(cgdir cpuq)/cpu.stat   # global: the helpers below run inside `expect`
  stat_of() { awk -v k="$1" '$1 == k {print $2}' "$CPUQ_STAT"; }
  # Asserted on the kernel's own throttling counters, never on CPU time over wall time: a
  # busy machine (the loop gets less than its 10%) only makes the wait longer. The loop runs
  # until the check's container is deleted.
  hull exec -d cpuq sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1
  throttled() { [ "$(stat_of nr_throttled)" -ge 3 ]; }
  expect "a busy loop under cpu.max 10000 100000 is throttled (nr_throttled >= 3)" wait_for 120 throttled
  local thr periods usec
  thr=$(stat_of nr_throttled) periods=$(stat_of nr_periods) usec=$(stat_of throttled_usec)
  expect "and held back for a while: throttled_usec $usec > 0" [ "${usec:-0}" -gt 0 ]
  expect "throttled in $thr of $periods periods: never more periods than it ran" [ "$thr" -le "$periods" ]
}

check_oom() {
  local b d rc=0
  b=$(bundle oom 'sleep 1000' ".linux.resources.memory = {\"limit\": $((16 * MiB))}")
  run_d oom "$b"
  d=$(cgdir oom)
  # Streaming events: wait for its first stats line (one interval in, as runc's ticker) so it
  # has read the OOM baseline.
  hull events --interval 1s oom >"$WORK/events.out" 2>&1 &
  local ev=$!
  wait_for 20 grep -q '"type":"stats"' "$WORK/events.out" || note "events printed no stats"
  hull exec oom dd if=/dev/zero of=/dev/null bs=64M count=1 >/dev/null 2>&1 || rc=$?
  expect_eq "dd with a 64M buffer under memory.max 16M is OOM-killed (exit 137)" "$rc" 137
  expect "memory.events counts the kill" grep -qE '^oom_kill [1-9]' "$d/memory.events"
  local s
  s=$(hull events --stats oom)
  expect "events --stats: memory.oom_kill >= 1" [ "$(jq .data.memory.oom_kill <<<"$s")" -ge 1 ]
  expect_eq "events --stats: memory.usage.limit" "$(jq .data.memory.usage.limit <<<"$s")" $((16 * MiB))
  expect "events (streaming) reports an oom event" wait_for 5 grep -q '"type":"oom"' "$WORK/events.out"
  expect "in runc's shape: {type, id}, no data" grep -qx '{"id":"oom","type":"oom"}' "$WORK/events.out"
  kill "$ev" 2>/dev/null || true
  wait "$ev" 2>/dev/null || true
  expect_eq "the container's init survived (only dd was killed)" "$(state oom status)" running
}

check_pids() {
  local b rc=0
  # Each successful fork records its number; the shell dies at the first refused fork.
  b=$(bundle pids 'for i in $(seq 30); do sleep 30 & echo $i > /forked; done' \
    '.linux.resources.pids = {"limit": 10} | .root.readonly = false')
  hull run -b "$b" pids </dev/null >"$WORK/pids.out" 2>"$WORK/pids.err" || rc=$?
  expect "the fork loop fails (exit $rc)" [ "$rc" != 0 ]
  expect "with \"can't fork\"" grep -q "can't fork" "$WORK/pids.err"
  expect_eq "the shell and 9 sleeps fill pids.max 10" "$(cat "$b/rootfs/forked")" 9
}

check_pause() {
  local b d pid n1 n2 all rc=0
  b=$(bundle pause 'sleep 1000 & while :; do echo x >> /ticks; sleep 0.1; done' '.root.readonly = false')
  run_d pause "$b"
  wait_for 20 test -s "$b/rootfs/ticks"
  hull pause pause
  d=$(cgdir pause)
  expect_eq "state: paused" "$(state pause status)" paused
  expect "cgroup.events: frozen 1" grep -qx 'frozen 1' "$d/cgroup.events"
  expect_eq "cgroup.freeze" "$(cat "$d/cgroup.freeze")" 1
  # Each process of a frozen v2 cgroup sleeps (S) in the freezer's trap, which the kernel
  # enters from signal delivery: wchan do_freezer_trap, or get_signal where it is inlined.
  all=""
  for pid in $(cat "$d/cgroup.procs"); do
    all+="$pid:$(cat "/proc/$pid/wchan"):$(awk '$1 == "State:" {print $2}' "/proc/$pid/status") "
  done
  expect "every process sleeps in the freezer (pid:wchan:state $all)" \
    sh -c "[ -n '$all' ] && ! echo '$all' | tr ' ' '\n' | grep -v '^$' | grep -qvE ':(do_freezer_trap|get_signal):S$'"
  n1=$(wc -l <"$b/rootfs/ticks")
  sleep 1
  n2=$(wc -l <"$b/rootfs/ticks")
  expect_eq "no progress while paused (ticks)" "$n2" "$n1"
  hull exec pause true >/dev/null 2>&1 || rc=$?
  expect_eq "exec into a paused container is refused" "$rc" 255
  hull resume pause
  expect_eq "state after resume: running" "$(state pause status)" running
  expect "cgroup.events after resume: frozen 0" grep -qx 'frozen 0' "$d/cgroup.events"
  expect "the container makes progress again" wait_for 10 sh -c "[ \$(wc -l < '$b/rootfs/ticks') -gt $n2 ]"
}

check_kill_all() {
  local b d pids sig
  for sig in KILL TERM; do
    b=$(bundle "kill$sig" 'sleep 1000 & sleep 1001 & wait')
    run_d "kill$sig" "$b"
    d=$(cgdir "kill$sig")
    wait_for 20 sh -c "[ \$(wc -l < '$d/cgroup.procs') = 3 ]" || note "procs: $(cat "$d/cgroup.procs")"
    pids=$(cat "$d/cgroup.procs")
    expect_eq "ps lists the 3 processes" "$(hull ps --format json "kill$sig" | jq length)" 3
    hull kill --all "kill$sig" "$sig"
    expect "kill --all $sig: the cgroup empties" wait_for 10 sh -c "[ -z \"\$(cat '$d/cgroup.procs')\" ]"
    # shellcheck disable=SC2086
    pids=$(echo $pids)
    expect "kill --all $sig: no process left ($pids)" \
      wait_for 10 sh -c "for p in $pids; do [ ! -e /proc/\$p ] || exit 1; done"
    expect_eq "kill --all $sig: state stopped" "$(state "kill$sig" status)" stopped
    expect "kill --all $sig: the cgroup is not left frozen" grep -qx 'frozen 0' "$d/cgroup.events"
  done
}

check_update() {
  local b d rc=0
  b=$(bundle update 'sleep 1000' '.linux.resources = {"memory": {"limit": 67108864}, "pids": {"limit": 100},
    "cpu": {"quota": 40000, "period": 50000}}')
  run_d update "$b"
  d=$(cgdir update)
  expect_eq "memory.max before" "$(inside update memory.max)" $((64 * MiB))
  hull update --cpu-quota 30000 update
  expect_eq "update --cpu-quota alone keeps the period set at create" "$(cat "$d/cpu.max")" "30000 50000"
  hull update --memory 32m --pids-limit 20 update
  expect_eq "update --memory 32m: memory.max in the container" "$(inside update memory.max)" $((32 * MiB))
  expect_eq "update --pids-limit 20: pids.max in the container" "$(inside update pids.max)" 20
  echo '{"memory": {"limit": 0}, "pids": {"limit": 30}, "cpu": {"shares": 2048, "quota": 20000, "period": 100000}}' |
    hull update -r - update
  expect_eq "update -r: limit 0 leaves memory.max" "$(inside update memory.max)" $((32 * MiB))
  expect_eq "update -r: pids.max" "$(inside update pids.max)" 30
  expect_eq "update -r: cpu.max" "$(inside update cpu.max)" "20000 100000"
  expect_eq "update -r: cpu.weight from shares 2048" "$(inside update cpu.weight)" 79
  # By effect: the new limits hold.
  hull update --pids-limit 3 update
  hull exec update sh -c 'sleep 5 & sleep 5 & sleep 5 & wait' >/dev/null 2>"$WORK/update.err" || rc=$?
  expect "after update --pids-limit 3 a third process cannot fork (exit $rc)" grep -q "can't fork" "$WORK/update.err"
  hull update --pids-limit -1 update
  expect_eq "update --pids-limit -1: pids.max" "$(inside update pids.max)" max
  hull update --pids-limit 100 --memory 16m update
  rc=0
  hull exec update dd if=/dev/zero of=/dev/null bs=32M count=1 >/dev/null 2>&1 || rc=$?
  expect_eq "after update --memory 16m a 32M buffer is OOM-killed" "$rc" 137
  expect_eq "the saved config follows update" "$(jq .config.linux.resources.memory.limit "$ROOT/update/state.json")" $((16 * MiB))
}

check_delete() {
  local b d
  b=$(bundle del 'sleep 1000')
  run_d del "$b"
  d=$(cgdir del)
  expect "the cgroup exists while running" test -d "$d"
  hull delete -f del
  expect "delete -f removes the cgroup" test ! -e "$d"
  # A container may make cgroups below its own (systemd in a container does): delete removes
  # them too, as runc does.
  run_d del1 "$b"
  d=$(cgdir del1)
  mkdir -p "$d/sub/leaf"
  hull delete -f del1 2>"$WORK/del1.err" || note "delete -f: $(cat "$WORK/del1.err")"
  expect "delete -f removes the cgroup with sub-cgroups" test ! -e "$d"
  run_d del2 "$b"
  d=$(cgdir del2)
  hull kill del2 KILL
  wait_for 10 sh -c "[ \"\$(\"$HULL\" --root '$ROOT' state del2 | jq -r .status)\" = stopped ]"
  hull delete del2
  expect "delete of a stopped container removes the cgroup" test ! -e "$d"
}

# runc's rules on v2: an absolute cgroupsPath is from the root; a relative one nests under the
# PARENT of the caller's cgroup (the caller's own usually holds processes, so controllers
# could not be enabled below it); none means the container id, relative.
check_paths() {
  local b parent got rc=0
  parent=$(dirname "$(own_cgroup)")
  parent=${parent%/}
  b=$(bundle rel 'sleep 1000' '.linux.cgroupsPath = "hulltest-rel/ctr"')
  run_d rel "$b"
  expect_eq "relative cgroupsPath" "$(cgdir rel)" "$CG$parent/hulltest-rel/ctr"
  expect "init is in it" grep -qx "$(state rel pid)" "$(cgdir rel)/cgroup.procs"
  b=$(bundle abs 'sleep 1000' '.linux.cgroupsPath = "/hulltest-abs/ctr"')
  run_d abs "$b"
  expect_eq "absolute cgroupsPath" "$(cgdir abs)" "$CG/hulltest-abs/ctr"
  b=$(bundle none 'sleep 1000' 'del(.linux.cgroupsPath)')
  run_d none "$b"
  expect_eq "no cgroupsPath: the id, relative" "$(cgdir none)" "$CG$parent/none"
  b=$(bundle esc 'true' '.linux.cgroupsPath = "../../escape"')
  hull create -b "$b" esc </dev/null >/dev/null 2>"$WORK/esc.err" || rc=$?
  expect_eq "a cgroupsPath with .. is refused" "$rc" 1
  got=$(cat "$WORK/esc.err")
  expect "and the error names cgroupsPath: $got" grep -q cgroupsPath "$WORK/esc.err"
  for id in rel abs none; do hull delete -f "$id"; done
  rmdir "$CG$parent/hulltest-rel" "$CG/hulltest-abs"
  expect "delete removed the containers' cgroups" \
    sh -c "[ ! -e '$CG$parent/none' ] && [ ! -e '$CG$parent/hulltest-rel' ]"
}

# A cgroup that holds processes cannot enable domain controllers (memory, io) for children:
# the "no internal processes" rule. hull enables what it can one by one (as runc does), and
# a container below such a cgroup is refused with the reason, not a bare EOPNOTSUPP.
check_populated_parent() {
  local b busy=$CG/hulltest-busy s rc=0
  mkdir -p "$busy"
  sleep 1000 &
  s=$!
  echo "$s" >"$busy/cgroup.procs"
  b=$(bundle busy 'sleep 1000' '.linux.cgroupsPath = "/hulltest-busy/ctr" | .linux.resources.pids = {"limit": 20}')
  hull run -d -b "$b" busy </dev/null >/dev/null 2>"$WORK/busy.err" || rc=$?
  expect_eq "a container below a cgroup with processes is refused" "$rc" 1
  expect "saying why: $(cat "$WORK/busy.err")" grep -q "holds processes itself" "$WORK/busy.err"
  expect "and nothing is left in the runtime's root" sh -c "[ -z \"\$(\"$HULL\" --root '$ROOT' list -q)\" ]"
  kill "$s"
  wait "$s" 2>/dev/null || true
  [ ! -d "$busy/ctr" ] || wait_for 10 rmdir "$busy/ctr" 2>/dev/null || true
  expect "cleaned up" wait_for 10 rmdir "$busy"
}

# linux.netDevices with a dummy device (runtime-spec 1.3, runc 1.3 semantics): moved into the
# container's network namespace and renamed, its permanent address and MTU kept, set up; the
# probe inside (hull-probe, built on the host, over the share) reports the interfaces. The
# container's own namespace ends with it, and the dummy device with it; a create that fails
# puts it back on the host.
check_netdevices() {
  local b probe=$REPO/target/probe/debug/hull-probe r
  [ -x "$probe" ] || { fail "no $probe (hack/lanes/vm.sh builds it)"; return 0; }
  busybox ip link add hulldummy0 type dummy
  busybox ip addr add 10.233.0.1/24 dev hulldummy0
  busybox ip link set hulldummy0 mtu 1280
  b=$(bundle netdev true '.process.args = ["/probe"] | .linux.netDevices = {"hulldummy0": {"name": "ctr0"}}')
  cp "$probe" "$b/rootfs/probe"
  r=$(hull run -b "$b" netdev </dev/null)
  expect_eq "ctr0 has the address inside" "$(jq -r .net.ctr0.ipv4 <<<"$r")" 10.233.0.1
  expect_eq "ctr0 keeps its MTU" "$(jq -r .net.ctr0.mtu <<<"$r")" 1280
  expect_eq "ctr0 is up" "$(jq -r '.net.ctr0.flags % 2' <<<"$r")" 1
  expect_eq "lo is up" "$(jq -r '.net.lo.flags % 2' <<<"$r")" 1
  expect "the dummy device went with the container's namespace" sh -c '! busybox ip link show hulldummy0 2>/dev/null'
  # A failed create (a createRuntime hook that fails) puts it back.
  busybox ip link add hulldummy0 type dummy
  busybox ip addr add 10.233.0.1/24 dev hulldummy0
  b=$(bundle netdev2 true '.process.args = ["/probe"] | .linux.netDevices = {"hulldummy0": {"name": "ctr0"}} | .hooks.createRuntime = [{"path": "/bin/false"}]')
  cp "$probe" "$b/rootfs/probe"
  expect "the create with a failing hook fails" sh -c "! '$HULL' --root '$ROOT' run -b '$b' netdev2 </dev/null >/dev/null 2>&1"
  expect "the device is back on the host" sh -c 'busybox ip link show hulldummy0 >/dev/null'
  expect "with its address" sh -c 'busybox ip addr show dev hulldummy0 | grep -q "10.233.0.1/24"'
  busybox ip link del hulldummy0
}

# process.scheduler, linux.personality and linux.memoryPolicy on the older kernel (6.1), read
# by the probe inside; MPOL_WEIGHTED_INTERLEAVE (Linux 6.9) is refused by this kernel, and
# the create fails naming the field instead of running without it.
check_kernel_attrs() {
  local b probe=$REPO/target/probe/debug/hull-probe r err
  [ -x "$probe" ] || { fail "no $probe (hack/lanes/vm.sh builds it)"; return 0; }
  b=$(bundle attrs true '.process.args = ["/probe"]
    | .process.scheduler = {"policy": "SCHED_DEADLINE", "runtime": 1000000, "deadline": 10000000, "period": 10000000}
    | .process.ioPriority = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    | .linux.personality = {"domain": "LINUX32"}
    | .linux.memoryPolicy = {"mode": "MPOL_BIND", "nodes": "0"}')
  cp "$probe" "$b/rootfs/probe"
  r=$(hull run -b "$b" attrs </dev/null)
  expect_eq "SCHED_DEADLINE inside" "$(jq -c '[.sched.policy, .sched.runtime, .sched.deadline]' <<<"$r")" "[6,1000000,10000000]"
  expect_eq "ioPriority inside" "$(jq -c .ioprio <<<"$r")" '{"class":2,"level":6}'
  expect_eq "LINUX32 inside" "$(jq -r .machine <<<"$r")" i686
  expect_eq "MPOL_BIND inside" "$(jq -r .mempolicy.mode <<<"$r")" 2
  b=$(bundle attrs2 true '.linux.memoryPolicy = {"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}')
  err=$(hull run -b "$b" attrs2 </dev/null 2>&1 >/dev/null || true)
  expect "MPOL_WEIGHTED_INTERLEAVE is an error naming the field on 6.1" grep -q "linux.memoryPolicy: set_mempolicy MPOL_WEIGHTED_INTERLEAVE" <<<"$err"
  expect "nothing is left of it" sh -c "[ ! -e '$ROOT/attrs2' ] && [ -z \"\$('$HULL' --root '$ROOT' list -q)\" ]"
}

# runc 1.2+ refuses a cgroup that already holds processes ("container's cgroup is not empty")
# and a frozen one ("container's cgroup unexpectedly frozen"). hull also refuses a cgroup below
# a frozen ancestor: init would be frozen the moment it joined, and create would hang.
check_refuse_cgroup() {
  local b rc=0 shared=$CG/hulltest-shared frz=$CG/hulltest-frz
  b=$(bundle busy1 'sleep 1000' '.linux.cgroupsPath = "/hulltest-shared"')
  run_d busy1 "$b"
  hull run -d -b "$b" busy2 </dev/null >/dev/null 2>"$WORK/busy2.err" || rc=$?
  expect_eq "a container in a cgroup that holds processes is refused" "$rc" 1
  expect "saying so: $(cat "$WORK/busy2.err")" grep -q "container's cgroup is not empty" "$WORK/busy2.err"
  expect "and leaving no state" sh -c "! \"$HULL\" --root '$ROOT' state busy2 >/dev/null 2>&1"
  expect_eq "the first container is alone in its cgroup" "$(cat "$shared/cgroup.procs")" "$(state busy1 pid)"
  hull delete -f busy1
  expect "its cgroup is gone with it" test ! -e "$shared"

  mkdir -p "$frz"
  echo 1 >"$frz/cgroup.freeze"
  b=$(bundle frz 'true' '.linux.cgroupsPath = "/hulltest-frz/ctr"')
  rc=0
  timeout 60 "$HULL" --root "$ROOT" run -d -b "$b" frz </dev/null >/dev/null 2>"$WORK/frz.err" || rc=$?
  expect_eq "a container below a frozen cgroup is refused, not hung" "$rc" 1
  expect "saying so: $(cat "$WORK/frz.err")" grep -q "unexpectedly frozen" "$WORK/frz.err"
  expect "nothing was made below it" test ! -e "$frz/ctr"
  mkdir "$frz/ctr"
  echo 0 >"$frz/cgroup.freeze"
  echo 1 >"$frz/ctr/cgroup.freeze"
  rc=0
  timeout 60 "$HULL" --root "$ROOT" run -d -b "$b" frz </dev/null >/dev/null 2>"$WORK/frz.err" || rc=$?
  expect_eq "a frozen cgroup of its own is refused (runc's check)" "$rc" 1
  expect "saying so: $(cat "$WORK/frz.err")" grep -q "unexpectedly frozen" "$WORK/frz.err"
  expect "the cgroup, not the runtime's, is left as it was" grep -qx 1 "$frz/ctr/cgroup.freeze"
  rmdir "$frz/ctr" "$frz"
}

# Without a pid namespace of its own, init's death does not take the container's other
# processes with it. runc 1.4: SIGKILL kills the whole cgroup (cgroup.kill), and delete kills
# what is left after init has gone.
check_no_pidns() {
  local b d pids init left
  b=$(bundle nopid 'sleep 1000' 'del(.linux.namespaces[] | select(.type == "pid"))')
  for id in nopid1 nopid2; do
    run_d "$id" "$b"
    hull exec -d "$id" sleep 1001 </dev/null >/dev/null 2>&1
    hull exec -d "$id" sh -c 'sleep 1002 & sleep 1003' </dev/null >/dev/null 2>&1
  done
  d=$(cgdir nopid1)
  wait_for 20 sh -c "[ \$(wc -l < '$d/cgroup.procs') -ge 4 ]" || note "procs: $(cat "$d/cgroup.procs")"
  # shellcheck disable=SC2046,SC2086
  pids=$(echo $(cat "$d/cgroup.procs"))
  hull kill nopid1 KILL
  expect "kill KILL: every process of the cgroup is gone ($pids)" \
    wait_for 10 sh -c "for p in $pids; do [ ! -e /proc/\$p ] || exit 1; done"
  hull delete nopid1
  expect "delete removed its cgroup" test ! -e "$d"

  d=$(cgdir nopid2)
  wait_for 20 sh -c "[ \$(wc -l < '$d/cgroup.procs') -ge 4 ]" || note "procs: $(cat "$d/cgroup.procs")"
  # shellcheck disable=SC2046,SC2086
  pids=$(echo $(cat "$d/cgroup.procs"))
  init=$(state nopid2 pid)
  kill -9 "$init"
  wait_for 10 sh -c "[ \"\$(\"$HULL\" --root '$ROOT' state nopid2 | jq -r .status)\" = stopped ]"
  left=$(cat "$d/cgroup.procs")
  expect "init gone, the others are left (${left//$'\n'/ })" [ -n "$left" ]
  hull delete nopid2
  expect "delete of the stopped container kills them ($pids)" \
    wait_for 10 sh -c "for p in $pids; do [ ! -e /proc/\$p ] || exit 1; done"
  expect "and removes its cgroup" test ! -e "$d"
}

# v2's memory.swap.max is swap alone, runc's value memory+swap: runc converts, reads a swap
# value without a limit against the current limit, and lifts swap with an unlimited limit.
check_update_swap() {
  local b d
  b=$(bundle swap 'sleep 1000' '.linux.resources.memory = {"limit": 67108864, "swap": 134217728}')
  run_d swap "$b"
  d=$(cgdir swap)
  if [ ! -e "$d/memory.swap.max" ]; then
    pass "no swap accounting in this kernel: nothing to check"
    return
  fi
  expect_eq "create: memory.max" "$(cat "$d/memory.max")" $((64 * MiB))
  expect_eq "create: memory.swap.max (128M - 64M)" "$(cat "$d/memory.swap.max")" $((64 * MiB))
  hull update --memory 256m --memory-swap 512m swap
  expect_eq "raise both: memory.max" "$(cat "$d/memory.max")" $((256 * MiB))
  expect_eq "raise both: memory.swap.max" "$(cat "$d/memory.swap.max")" $((256 * MiB))
  hull update --memory-swap 384m swap
  expect_eq "swap alone is read against the current limit" "$(cat "$d/memory.swap.max")" $((128 * MiB))
  hull update --memory 32m --memory-swap 64m swap
  expect_eq "lower both: memory.max" "$(cat "$d/memory.max")" $((32 * MiB))
  expect_eq "lower both: memory.swap.max" "$(cat "$d/memory.swap.max")" $((32 * MiB))
  hull update --memory -1 swap
  expect_eq "memory -1: memory.max" "$(cat "$d/memory.max")" max
  expect_eq "memory -1 lifts swap too" "$(cat "$d/memory.swap.max")" max
}

# runtime-spec 1.3 / runc 1.4: pids.limit 0 is a limit (written as 1, as runc 1.4 and
# systemd's TasksMax do), negative is "max", absent leaves pids.max alone.
check_pids_zero() {
  local b
  b=$(bundle pidz 'cat /sys/fs/cgroup/pids.max' '.linux.resources.pids = {"limit": 0}')
  expect_eq "pids.limit 0: pids.max" "$(hull run -b "$b" pidz </dev/null 2>&1)" 1
  b=$(bundle pidn 'cat /sys/fs/cgroup/pids.max' '.linux.resources.pids = {"limit": -5}')
  expect_eq "pids.limit -5: pids.max" "$(hull run -b "$b" pidn </dev/null 2>&1)" max
  b=$(bundle pidu 'cat /sys/fs/cgroup/pids.max' '.linux.resources.pids = {}')
  expect_eq "pids without limit: pids.max as the kernel made it" "$(hull run -b "$b" pidu </dev/null 2>&1)" max
}

# Id-mapped binds on this kernel (6.1 in the VM): `features` says they work (mount_setattr,
# 5.12+). Where the filesystem supports them (ext4: the systemd guest's /tmp) a file owned by
# 1000 shows as 0 through the mount and root's new file is stored as 1000; where it does not
# (tmpfs before Linux 6.3: the v2 guest's /tmp) the create fails naming the mount and the
# filesystem, and leaves nothing.
check_idmap() {
  local src=$WORK/idmap-src b out fs map
  expect_eq "features: idmap enabled" "$(hull features | jq -r .linux.mountExtensions.idmap.enabled)" true
  mkdir -p "$src" && chmod 777 "$src" && touch "$src/f" && chown 1000:1000 "$src/f"
  fs=$(stat -f -c %T "$src")
  map='[{containerID: 1000, hostID: 0, size: 1}, {containerID: 0, hostID: 5000, size: 1}]'
  b=$(bundle idmap "stat -c '%u %g' /v/f; touch /v/new" \
    ".mounts += [{destination: \"/v\", type: \"bind\", source: \"$src\", options: [\"bind\"], uidMappings: $map, gidMappings: $map}]")
  if out=$(hull run -b "$b" idmap </dev/null 2>&1); then
    expect_eq "on $fs: a file owned by 1000 shows as 0" "$(echo "$out" | head -n 1)" "0 0"
    expect_eq "on $fs: root's new file is stored as 1000" "$(stat -c '%u %g' "$src/new")" "1000 1000"
  elif [ "$fs" = tmpfs ] && [[ $out == *"(/v): idmap $src (tmpfs)"*"may not support id-mapped mounts"* ]]; then
    pass "on tmpfs (no id-mapped mounts before 6.3): refused naming the mount: $out"
    expect "and nothing is left in the runtime's root" sh -c "[ -z \"\$(\"$HULL\" --root '$ROOT' list -q)\" ]"
  else
    fail "id-mapped bind on $fs"
    note "$out"
  fi
}
