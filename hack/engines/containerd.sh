# shellcheck shell=bash
# containerd for the engines lane: one daemon with private root, state and sockets, its CRI
# plugin enabled with the README's runtime entry (hack/engines/containerd-config.toml), and
# `ctr run --runc-binary` (containerd's runc shim, with hull in runc's place) for the
# scenarios. ctr has no update, restart, logs or stats commands: those scenarios are podman's
# and Docker's; logs come through --log-uri here.

CTR_NS=hull-lane

containerd_setup() {
  local d=$WORK/containerd
  mkdir -p "$d/cni"
  {
    cat <<EOF
root = "$d/root"
state = "$d/state"
EOF
    snippet containerd-config.toml
    cat <<EOF

[plugins."io.containerd.grpc.v1.cri"]
  # nothing of the host's: no CNI config read or created, no image pulled at start
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    # the default runtime, which a runtimes table of one's own replaces
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    conf_dir = "$d/cni"
    bin_dir = "$d/cni"

[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
  } >"$d/config.toml"
  containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
  track $!
  CTR_PID=$!
  cat >"$WORK/bin/ctr" <<EOF
#!/bin/sh
exec timeout --foreground -k 5 ${BOUND:-90} ctr --address $d/containerd.sock --namespace $CTR_NS "\$@"
EOF
  chmod +x "$WORK/bin/ctr"
  E=$WORK/bin/ctr
  wait_for 30 sh -c "'$E' version >/dev/null 2>&1" || { note "containerd did not start:"; tail -n 20 "$d/containerd.log"; return 1; }
  CTR_SNAPSHOTTER=overlayfs
  [ "$STORAGE_DRIVER" = overlay ] || CTR_SNAPSHOTTER=native
  "$E" images import --snapshotter "$CTR_SNAPSHOTTER" "$WORK/busybox.tar" >/dev/null
}

# ctr run with the runtime under test; the shim's runc root is private too.
c_run() {  # c_run [FLAGS...] ID [CMD...]: the image is put before ID
  local flags=() bin=$HULL
  [ "$RT" = hull ] || bin=$RUNC
  while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do flags+=("$1"); shift; done
  "$E" run --snapshotter "$CTR_SNAPSHOTTER" --fifo-dir "$WORK/containerd/fifo" --runc-binary "$bin" --runc-root "$WORK/containerd/runc-$RT" \
    --cgroup "$CG_PARENT/$1" "${flags[@]}" "$IMG" "$@"
}
c_pid() { "$E" task ls | awk -v id="$1" '$1 == id {print $2}'; }
c_status() { "$E" task ls | awk -v id="$1" '$1 == id {print $3}'; }
c_stopped() { [ "$(c_status "$1")" != RUNNING ] && [ "$(c_status "$1")" != PAUSED ]; }
c_rm() {
  "$E" task rm -f "$1" >/dev/null 2>&1 || true   # kills it (SIGKILL) and waits
  "$E" container rm "$1" >/dev/null 2>&1 || true
}

containerd_cleanup() {
  local id
  for id in $("$E" container ls -q 2>/dev/null); do c_rm "$id"; done
}

containerd_teardown() {
  [ -n "${CTR_PID:-}" ] || return 0
  E=$WORK/bin/ctr
  containerd_cleanup
  "$E" images rm "$IMG" >/dev/null 2>&1 || true
  stop_pid "$CTR_PID"
  CTR_PID=""
}

# The CRI plugin loaded the README's runtime entry: the running daemon reports the plugin
# ready and logged the parsed CRI config, with hull as BinaryName of runtime "hull".
sc_cri_runtime() {
  local d=$WORK/containerd
  expect_match "ctr plugins ls: the CRI plugin is loaded" \
    "$("$E" plugins ls | awk '$2 == "cri" {print $1, $2, $NF}')" "^io.containerd.grpc.v1 cri ok$"
  expect_match "the CRI config containerd runs with has runtime hull, runc.v2, BinaryName hull" \
    "$(grep -o 'Start cri plugin with config .*' "$d/containerd.log" | grep -o 'Runtimes:map\[hull:{[^}]*}')" \
    "hull:\{Type:io.containerd.runc.v2 .* Options:map\[BinaryName:$HULL\] "
  expect_match "containerd config dump shows the entry" \
    "$(containerd --config "$d/config.toml" config dump | sed -n '/runtimes.hull.options\]/,/^$/p')" \
    "BinaryName = \"$HULL\""
}

csc_exit_codes() {
  local a b
  a=$(rc c_run --rm "ec-$1" sh -c 'exit 3')
  expect_eq "ctr run --rm: exits with the container's status" "$a" 3
  b=$(rc c_run --rm "ec-$1" true)
  expect_eq "ctr run --rm true: 0" "$b" 0
  observe "$a $b"
}

csc_env_cwd() {
  local out
  out=$(c_run --rm --env=FOO=bar --cwd=/tmp "env-$1" sh -c 'echo "$FOO $(pwd) $(id -u)"')
  expect_eq "--env, --cwd seen inside" "$out" "bar /tmp 0"
  observe "$out"
}

csc_detached() {
  local n=det-$1 out
  c_run -d --log-uri="file://$WORK/ctr-$n.log" "$n" sh -c "$LOOP" >/dev/null
  wait_for 20 grep -q started "$WORK/ctr-$n.log"
  out=$("$E" task exec --fifo-dir "$WORK/containerd/fifo" --exec-id e1 --user 1000 --cwd /home/user "$n" sh -c 'echo "$(id -u) $(pwd)"')
  expect_eq "task exec as another user, with cwd" "$out" "1000 /home/user"
  out=$(rc "$E" task exec --fifo-dir "$WORK/containerd/fifo" --exec-id e2 "$n" sh -c 'exit 7')
  expect_eq "task exec exits with the process's status" "$out" 7
  "$E" task kill -s SIGTERM "$n"
  wait_for 20 c_stopped "$n"
  # ctr task rm warns of a non-zero status, and says nothing of 0.
  expect_eq "the trapped TERM ended it with 0" "$("$E" task rm "$n" 2>&1)" ""
  expect_eq "log: what it printed" "$(cat "$WORK/ctr-$n.log")" "started
stopping"
  "$E" container rm "$n"
  expect_eq "container rm: gone" "$("$E" container ls -q | grep -cx "$n" || true)" 0
  observe "$out"
}

csc_tty() {
  local n=tty-$1 out code=0 bin=$HULL
  [ "$1" = hull ] || bin=$RUNC
  out=$(printf 'tty; echo $((6*7)); exit 5\n' | in_pty "$E run -t --rm --snapshotter $CTR_SNAPSHOTTER --fifo-dir $WORK/containerd/fifo --runc-binary $bin --runc-root $WORK/containerd/runc-$1 --cgroup $CG_PARENT/$n $IMG $n sh" | tr -d '\r') || code=$?
  expect_match "run -t: a pty" "$out" "^/dev/pts/[0-9]+$"
  expect_match "run -t: input reaches the shell" "$out" "^42$"
  expect_eq "run -t: the exit status comes through" "$code" 5
  c_run -d "$n" sleep 1000 >/dev/null
  code=0
  out=$(printf 'tty; exit 3\n' | in_pty "$E task exec -t --fifo-dir $WORK/containerd/fifo --exec-id e1 $n sh" | tr -d '\r') || code=$?
  expect_match "exec -t: a pty" "$out" "^/dev/pts/[0-9]+$"
  expect_eq "exec -t: the exit status comes through" "$code" 3
  observe "$code"
}

csc_pause() {
  local n=pause-$1 pid
  c_run -d "$n" sleep 1000 >/dev/null
  pid=$(c_pid "$n")
  "$E" task pause "$n"
  expect_eq "pause: status" "$(c_status "$n")" PAUSED
  expect_match "pause: frozen" "$(freezer_of "$pid")" "^(FROZEN|1)$"
  "$E" task resume "$n"
  expect_eq "resume: status" "$(c_status "$n")" RUNNING
  expect_match "resume: thawed" "$(freezer_of "$pid")" "^(THAWED|0)$"
  observe "paused, resumed"
}

csc_limits() {
  local out
  # ctr's default spec has no /sys/fs/cgroup: mount it (the runtime binds the container's own).
  out=$(c_run --rm --memory-limit=67108864 --mount=type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro "lim-$1" sh -c "$CG_READ"'; r memory/memory.limit_in_bytes memory.max')
  expect_eq "--memory-limit seen inside" "$out" 67108864
  observe "$out"
}

csc_read_only() {
  local out
  out=$(c_run --rm --read-only "ro-$1" sh -c 'touch /x 2>&1; echo done')
  expect_match "--read-only: / refuses writes" "$out" "/x: Read-only file system"
  observe "$out"
}

csc_mounts() {
  local out v=$WORK/vol-ctr-$1
  mkdir -p "$v"
  out=$(c_run --rm --mount="type=bind,src=$v,dst=/vol,options=rbind:rw" \
    --mount="type=tmpfs,src=tmpfs,dst=/scratch,options=size=1m" "mnt-$1" \
    sh -c 'echo hi >/vol/f; awk "\$2 == \"/scratch\" {print \$3}" /proc/mounts; df -k /scratch | awk "NR == 2 {print \$2}"')
  expect_eq "bind mount: the file written inside is on the host" "$(cat "$v/f")" hi
  expect_eq "tmpfs mount, size=1m" "$(echo $out)" "tmpfs 1024"
  observe "$out"
}

csc_signal() {
  local n=sig-$1
  c_run -d --log-uri="file://$WORK/ctr-$n.log" "$n" sh -c 'trap "echo got USR1; exit 42" USR1; echo ready; while :; do sleep 1 & wait $!; done' >/dev/null
  wait_for 20 grep -q ready "$WORK/ctr-$n.log"
  "$E" task kill -s SIGUSR1 "$n"
  wait_for 20 c_stopped "$n"
  expect_match "a trapped USR1: the handler chose the status" "$("$E" task rm "$n" 2>&1)" "non-zero exit code 42\"?$"
  expect_match "the handler's output" "$(cat "$WORK/ctr-$n.log")" "^got USR1$"
  observe "42"
}

csc_ps() {
  local n=ps-$1 out pid
  c_run -d "$n" sh -c 'sleep 1000 & sleep 1001' >/dev/null
  # sh forks `sleep 1000` and execs `sleep 1001` (its last command) in its own place.
  wait_for 20 sh -c "[ \$('$E' task ps $n | wc -l) -ge 3 ]"
  out=$("$E" task ps "$n")
  for pid in $(awk 'NR > 1 {print $1}' <<<"$out"); do
    expect_match "task ps (the runtime's ps): host pid $pid is in the container" \
      "$(tr '\0' ' ' <"/proc/$pid/cmdline")" "^sleep 100[01] $"
  done
  expect_eq "task ps: both sleeps" "$(awk 'NR > 1' <<<"$out" | wc -l)" 2
  observe "2 processes"
}

csc_metrics() {
  local n=met-$1
  c_run -d --memory-limit=67108864 "$n" sleep 1000 >/dev/null
  expect_match "task metrics: the memory limit" "$("$E" task metrics "$n")" "memory.limit_in_bytes +67108864|memory.limit +67108864"
  observe "metrics"
}

csc_cap_drop() {
  local eff
  eff=$(c_run --rm --cap-drop=CAP_NET_RAW --cap-drop=CAP_CHOWN "cap-$1" sh -c 'grep CapEff /proc/self/status | cut -f2')
  expect_eq "--cap-drop CAP_NET_RAW: gone" $(((0x$eff >> 13) & 1)) 0
  expect_eq "--cap-drop CAP_CHOWN: gone" $((0x$eff & 1)) 0
  expect "the others stay (KILL)" test $(((0x$eff >> 5) & 1)) = 1
  observe "$eff"
}

csc_host_ns() {
  local out
  out=$(c_run --rm --net-host --with-ns="pid:/proc/$$/ns/pid" "hns-$1" sh -c "readlink /proc/self/ns/net; readlink /proc/self/ns/pid; test -d /proc/$$ && echo sees-the-lane")
  expect_eq "--net-host and --with-ns pid: the host's namespaces" "$(echo $out)" \
    "$(readlink /proc/self/ns/net) $(readlink /proc/self/ns/pid) sees-the-lane"
  observe "$out"
}

csc_errors() {
  local a b
  a=$(rc c_run --rm "err-$1" no-such-command)
  expect "a command not in PATH fails the run" test "$a" != 0
  expect_match "ctr shows the runtime's error" "$(cat "$WORK/last.err")" 'exec: "no-such-command": executable file not found in \$PATH'
  b=$(rc c_run --rm --cwd=/etc/passwd "err-$1" pwd)
  expect "a cwd that is a file fails the run" test "$b" != 0
  if [ "$1" = hull ]; then
    # The shim reports the last error line of the runtime's --log.
    expect_match "ctr shows hull's error" "$(cat "$WORK/last.err")" \
      "OCI runtime create failed: (chdir to cwd \(/etc/passwd\)|process\.cwd /etc/passwd: .*): Not a directory"
  fi
  observe "$a $b"
}

run_containerd() {
  ENGINE=ctr
  containerd_setup
  eng_cleanup() { containerd_cleanup; }
  scenario cri_runtime hull
  local s
  for s in exit_codes env_cwd detached tty pause limits read_only mounts signal ps metrics \
    cap_drop host_ns errors; do
    eval "sc_ctr_$s() { csc_$s \"\$@\"; }"
    scenario "ctr_$s"
  done
  containerd_teardown
}
