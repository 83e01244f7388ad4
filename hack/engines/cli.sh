# shellcheck shell=bash
# The scenarios podman and Docker share (their CLIs agree on these), run by
# hack/lanes/engines.sh with ENGINE=podman or docker and E = the engine's CLI wrapper.
#   e_run ARGS...   `run` with the runtime under test ($RT) and the lane's private settings
# Expected values are written out; where podman and Docker differ, by design, a `case` says so.

IMG=localhost/hull-busybox:latest
# A container that ends cleanly on SIGTERM (sh as PID 1 has no default action for it).
LOOP='trap "echo stopping; exit 0" TERM; echo started; while :; do sleep 1 & wait $!; done'

cid() { "$E" inspect -f '{{.Id}}' "$1"; }
pid_of() { "$E" inspect -f '{{.State.Pid}}' "$1"; }
status_of() { "$E" inspect -f '{{.State.Status}}' "$1"; }
logs_have() { "$E" logs "$1" 2>&1 | grep -q "$2"; }
gone() { ! "$E" inspect "$1" >/dev/null 2>&1; }
# The freezer state of a host pid's cgroup: FROZEN or THAWED (cgroup v1), 1 or 0 (v2).
freezer_of() {
  local path mnt
  path=$(awk -F: '$2 == "freezer" {print $3}' "/proc/$1/cgroup")
  if [ -n "$path" ]; then
    mnt=$(awk '$9 == "cgroup" && $NF ~ /(^|,)freezer(,|$)/ {print $5}' /proc/self/mountinfo)
    cat "$mnt$path/freezer.state"
  else
    path=$(sed -n 's/^0:://p' "/proc/$1/cgroup")
    mnt=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
    cat "$mnt$path/cgroup.freeze"
  fi
}
# A cgroup file as the container sees it, v1 or v2.
CG_READ='r() { cat /sys/fs/cgroup/$1 2>/dev/null || cat /sys/fs/cgroup/$2; }'

sc_exit_codes() {
  local a b
  a=$(rc e_run --rm "$IMG" sh -c 'exit 3')
  expect_eq "run --rm: the engine exits with the container's status" "$a" 3
  b=$(rc e_run --rm "$IMG" true)
  expect_eq "run --rm true: 0" "$b" 0
  expect_eq "--rm left no container" "$("$E" ps -aq | wc -l)" 0
  observe "$a $b"
}

sc_env_workdir_user() {
  local out
  out=$(e_run --rm -e FOO=bar -w /tmp -u 1000:1000 "$IMG" sh -c 'echo "$FOO $(pwd) $(id -u):$(id -g) $HOME"')
  expect_eq "-e, -w, -u seen inside" "$out" "bar /tmp 1000:1000 /home/user"
  # runc enters the cwd before the user switch: a 0700 directory of root works (issue found
  # by this lane: hull entered it as the user and failed).
  out=$(e_run --rm -u 1000 -w /root "$IMG" sh -c 'echo "$(pwd) $(id -u)"')
  expect_eq "-u 1000 -w /root (0700): started there, as the user" "$out" "/root 1000"
  observe "$out"
}

sc_detached() {
  local n=det-$1 out
  e_run -d --name "$n" "$IMG" sh -c "$LOOP" >/dev/null
  wait_for 20 logs_have "$n" started
  out=$("$E" exec -u 1000 -e A=b -w /home/user "$n" sh -c 'echo "$(id -u) $A $(pwd)"')
  expect_eq "exec as another user, with env and cwd" "$out" "1000 b /home/user"
  out=$(rc "$E" exec "$n" sh -c 'exit 7')
  expect_eq "exec exits with the process's status" "$out" 7
  expect_eq "logs" "$("$E" logs "$n" 2>&1)" started
  "$E" stop -t 20 "$n" >/dev/null
  expect_eq "stop: status" "$(status_of "$n")" exited
  expect_eq "stop: the trapped TERM ended it with 0" "$("$E" inspect -f '{{.State.ExitCode}}' "$n")" 0
  expect_match "logs after stop" "$("$E" logs "$n" 2>&1)" "^stopping$"
  "$E" rm "$n" >/dev/null
  expect "rm: gone" gone "$n"
  observe "exec $out"
}

sc_tty() {
  local n=tty-$1 out code=0
  out=$(printf 'tty; echo $((6*7)); exit 5\n' | in_pty "$E $(e_run_words) -it --rm $IMG sh" | tr -d '\r') || code=$?
  expect_match "run -it: a pty" "$out" "^/dev/pts/[0-9]+$"
  expect_match "run -it: input reaches the shell" "$out" "^42$"
  expect_eq "run -it: the exit status comes through" "$code" 5
  e_run -d --name "$n" "$IMG" sleep 1000 >/dev/null
  code=0
  out=$(printf 'tty; exit 3\n' | in_pty "$E exec -it $n sh" | tr -d '\r') || code=$?
  expect_match "exec -it: a pty" "$out" "^/dev/pts/[0-9]+$"
  expect_eq "exec -it: the exit status comes through" "$code" 3
  observe "$code"
}

sc_pause() {
  local n=pause-$1 pid
  e_run -d --name "$n" "$IMG" sleep 1000 >/dev/null
  pid=$(pid_of "$n")
  "$E" pause "$n" >/dev/null
  expect_eq "pause: status" "$(status_of "$n")" paused
  expect_match "pause: the container's cgroup is frozen" "$(freezer_of "$pid")" "^(FROZEN|1)$"
  "$E" unpause "$n" >/dev/null
  expect_eq "unpause: status" "$(status_of "$n")" running
  expect_match "unpause: thawed" "$(freezer_of "$pid")" "^(THAWED|0)$"
  expect_eq "unpause: exec works again" "$("$E" exec "$n" echo ok)" ok
  observe "paused, resumed"
}

sc_limits() {
  local out
  out=$(e_run --rm --memory 64m --pids-limit 50 "$IMG" sh -c "$CG_READ"'; r memory/memory.limit_in_bytes memory.max; r pids/pids.max pids.max' | tr '\n' ' ')
  expect_eq "--memory 64m --pids-limit 50 seen inside" "$out" "67108864 50 "
  observe "$out"
}

sc_update() {
  local n=upd-$1 out want
  e_run -d --name "$n" --memory 64m --memory-swap 128m --pids-limit 50 "$IMG" sleep 1000 >/dev/null
  if [ "$ENGINE" = docker ]; then
    "$E" update --memory 128m --memory-swap 256m --pids-limit 80 "$n" >/dev/null
    want="134217728 80 "
  else  # podman 4.3's update has no --pids-limit
    "$E" update --memory 128m --memory-swap 256m "$n" >/dev/null
    want="134217728 50 "
  fi
  out=$("$E" exec "$n" sh -c "$CG_READ"'; r memory/memory.limit_in_bytes memory.max; r pids/pids.max pids.max' | tr '\n' ' ')
  expect_eq "update: the new limits seen inside" "$out" "$want"
  observe "$out"
}

sc_read_only() {
  local out
  out=$(e_run --rm --read-only "$IMG" sh -c 'touch /x 2>&1; touch /home/user/x 2>&1; echo done')
  expect_match "--read-only: / refuses writes" "$out" "/x: Read-only file system"
  expect_match "--read-only: so does every directory of the image" "$out" "/home/user/x: Read-only file system"
  observe "$out"
}

sc_volumes() {
  local out v=$WORK/vol-$ENGINE-$1
  mkdir -p "$v"
  out=$(e_run --rm -v "$v:/vol" --tmpfs /scratch:size=1m "$IMG" sh -c 'echo hi >/vol/f; awk "\$2 == \"/scratch\" {print \$3}" /proc/mounts; df -k /scratch | awk "NR == 2 {print \$2}"')
  expect_eq "-v: the file written inside is on the host" "$(cat "$v/f")" hi
  expect_eq "--tmpfs /scratch:size=1m: a 1 MiB tmpfs" "$(echo $out)" "tmpfs 1024"
  observe "$out"
}

sc_signal() {
  local n=sig-$1 code
  e_run -d --name "$n" "$IMG" sh -c 'trap "echo got USR1; exit 42" USR1; echo ready; while :; do sleep 1 & wait $!; done' >/dev/null
  wait_for 20 logs_have "$n" ready
  "$E" kill -s USR1 "$n" >/dev/null
  code=$("$E" wait "$n")
  expect_eq "a trapped USR1: the container's handler ran and chose the status" "$code" 42
  expect_match "the handler's output" "$("$E" logs "$n" 2>&1)" "^got USR1$"
  observe "$code"
}

sc_top() {
  local n=top-$1 out
  e_run -d --name "$n" "$IMG" sh -c 'sleep 1000 & sleep 1001' >/dev/null
  wait_for 20 sh -c "$E top $n 2>/dev/null | grep -q 'sleep 1000'"
  out=$("$E" top "$n")
  expect_match "top lists the container's processes" "$out" "sleep 1000"
  expect_match "... all of them" "$out" "sleep 1001"
  observe "$(grep -c sleep <<<"$out") processes"
}

sc_restart() {
  local n=rst-$1 p1 p2
  e_run -d --name "$n" "$IMG" sh -c "$LOOP" >/dev/null
  wait_for 20 logs_have "$n" started   # the trap is set: TERM ends it at once
  p1=$(pid_of "$n")
  "$E" restart -t 20 "$n" >/dev/null
  p2=$(pid_of "$n")
  expect_eq "restart: running again" "$(status_of "$n")" running
  expect "restart: a new init (pid $p1 -> $p2)" test "$p1" != "$p2"
  expect_eq "restart: exec works" "$("$E" exec "$n" echo ok)" ok
  observe "restarted"
}

sc_stats() {
  local n=stats-$1 out
  e_run -d --name "$n" --memory 64m "$IMG" sleep 1000 >/dev/null
  out=$("$E" stats --no-stream --format '{{.MemUsage}}' "$n")
  # Docker prints binary units (64MiB), podman decimal ones (67.11MB).
  expect_match "stats: memory usage against the limit" "$out" "^[0-9.]+[kKMG]i?B / (64MiB|67.11MB)$"
  observe "stats"
}

sc_cap_drop() {
  local eff
  eff=$(e_run --rm --cap-drop NET_RAW --cap-drop CHOWN "$IMG" sh -c 'grep CapEff /proc/self/status | cut -f2')
  expect_eq "--cap-drop NET_RAW: gone from the effective set" $(((0x$eff >> 13) & 1)) 0
  expect_eq "--cap-drop CHOWN: gone" $((0x$eff & 1)) 0
  expect "the engine's other default capabilities are there (KILL)" test $(((0x$eff >> 5) & 1)) = 1
  observe "$eff"
}

sc_pid_host() {
  local out
  out=$(e_run --rm --pid host "$IMG" sh -c "readlink /proc/self/ns/pid; test -d /proc/$$ && echo sees-the-lane")
  expect_eq "--pid host: the host's pid namespace" "$(echo $out)" "$(readlink /proc/self/ns/pid) sees-the-lane"
  observe "$out"
}

sc_net_host() {
  local out
  out=$(NET=host e_run --rm "$IMG" readlink /proc/self/ns/net)
  expect_eq "--network host: the host's network namespace" "$out" "$(readlink /proc/self/ns/net)"
  observe "$out"
}

sc_missing_binary() {
  local a b
  a=$(rc e_run --rm "$IMG" /nonexistent)
  expect_eq "a missing binary: 127" "$a" 127
  expect_match "the engine shows the runtime's error" "$(cat "$WORK/last.err")" 'exec: "/nonexistent": stat /nonexistent: no such file or directory'
  b=$(rc e_run --rm "$IMG" no-such-command)
  expect_eq "a command not in PATH: 127" "$b" 127
  expect_match "the engine shows the runtime's error" "$(cat "$WORK/last.err")" 'exec: "no-such-command": executable file not found in \$PATH'
  observe "$a $b"
}

sc_bad_cwd() {
  local n=cwd-$1 code
  e_run -d --name "$n" "$IMG" sleep 1000 >/dev/null
  code=$(rc "$E" exec -w /etc/passwd "$n" pwd)
  expect "exec -w FILE fails ($code)" test "$code" != 0
  if [ "$1" = hull ]; then
    # podman reads the runtime's --log as one JSON object; Docker gets it from the shim.
    # (docker exec prints it on stdout)
    expect_match "the engine shows hull's error" "$(cat "$WORK/last.err" "$WORK/last.out")" "chdir to cwd \(\"/etc/passwd\"\) set in config.json failed: Not a directory"
  fi
  if [ "$ENGINE" = podman ]; then
    # podman creates a missing workdir itself, except on a volume: there the runtime decides.
    : >"$WORK/afile"
    code=$(rc e_run --rm -v "$WORK/afile:/afile" -w /afile "$IMG" pwd)
    expect "run -w (a file on a volume) fails ($code)" test "$code" != 0
    if [ "$1" = hull ]; then
      expect_match "podman shows hull's error" "$(cat "$WORK/last.err")" \
        "hull: (chdir to cwd \(\"/afile\"\) set in config.json failed|process\.cwd /afile: .*): Not a directory"
    fi
  fi
  observe "failed: $code"
}
