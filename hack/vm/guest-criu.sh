#!/usr/bin/env bash
# hull's checkpoint and restore through criu, checked inside the cgroup2-only VM (the host's
# 6.18 kernel is one criu 3.17 cannot dump on; the guest's 6.1 is):
#
#   hack/vm.sh v2 -- hack/vm/guest-criu.sh [CHECK...]
#
# TAP on stdout (also kept in target/vm/guest-criu.tap); exit status non-zero on any failure.
# hack/vm.sh puts criu, its libraries, GNU tar and the kernel modules criu needs into the
# initramfs. Each container counts: its shell writes 1, 2, 3... to stdout (a host file) and to
# /tmp/log in its rootfs through fd 3, and keeps a `sleep` child; after a restore the count
# must go on from where it stopped (in the new stdout), /tmp/log must hold every number once
# (fd 3's offset kept), and pid 1 and the child must be the same processes at the same pids
# inside the container's pid namespace. Uses the helpers of lib.sh (bundle, expect_eq...).
# shellcheck disable=SC2016  # container commands are single-quoted on purpose
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p target/vm
exec > >(tee target/vm/guest-criu.tap) 2>&1
# shellcheck source=hack/vm/lib.sh
. hack/vm/lib.sh

CRIU_CHECKS=(criu_host checkpoint_restore leave_running pre_dump new_id foreground terminal
  restore_failure)

# The counting container: stdout and /tmp/log (fd 3, opened once) get 1, 2, 3..., /tmp/child
# the pid of its sleep child, every 0.1 s a new number. A prestart hook records the pid it is
# given (create, and restore: criu's setup-namespaces).
COUNTER='sleep 100000 & echo $! > /tmp/child; i=0; exec 3>/tmp/log; while :; do i=$((i+1)); echo $i; echo $i >&3; sleep 0.1; done'
counter() {  # counter NAME: prints the bundle's path
  bundle "$1" "$COUNTER" '.root.readonly = false
    | .hooks.prestart = [{"path": "/bin/sh", "args": ["sh", "-c", "cat > '"$WORK/$1"'.hook"]}]'
}
last() { awk 'END {print $0 + 0}' "$1" 2>/dev/null || echo 0; }   # the last count in FILE
passed() { [ "$(last "$1")" -gt "$2" ]; }
count_passes() { wait_for 20 passed "$1" "$2"; }   # count_passes FILE N: waits for a count > N
# A pipe into FILE, as engines give containers their stdout (conmon, the shim): a fifo with a
# reader that ends once every writer has gone. Sets PIPE (the fifo) and READER (its pid).
pipe_to() {  # pipe_to FILE
  PIPE=$(mktemp -u "$WORK/fifo.XXXXXX")
  mkfifo "$PIPE"
  cat "$PIPE" >"$1" &
  READER=$!
}
drained() { wait_for 10 sh -c "[ ! -e /proc/$1 ]"; }   # drained PID: the reader has ended
inside() { hull exec "$1" sh -c "$2"; }
# What a restored container must show: the count goes on from its last value before (in the
# new stdout), the log holds 1..N once each at fd 3's offset, and the same processes run at
# the same pids inside. check_restored ID BUNDLE OUT-BEFORE OUT-AFTER CHILD-PID
check_restored() {
  local id=$1 b=$2 before=$3 after=$4 child=$5 pid n first
  expect_eq "$id is running" "$(state "$id" status)" running
  pid=$(state "$id" pid)
  expect "$id: its init is alive" test -d "/proc/$pid"
  count_passes "$after" 5 || note "no count in $after: $(head -c 200 "$after")"
  first=$(head -n 1 "$after")
  n=$(last "$before")
  expect_eq "$id: the count goes on from $n (first number after restore)" "$first" $((n + 1))
  # Stop it so the log stands still, then compare.
  hull pause "$id"
  n=$(wc -l <"$b/rootfs/tmp/log")
  expect_eq "$id: /tmp/log holds 1..$n once each (fd 3 wrote on at its offset)" \
    "$(md5sum <"$b/rootfs/tmp/log")" "$(seq 1 "$n" | md5sum)"
  expect_eq "$id: fd 3's offset is the log's size" \
    "$(awk '/^pos:/ {print $2}' "/proc/$pid/fdinfo/3")" "$(stat -c %s "$b/rootfs/tmp/log")"
  hull resume "$id"
  expect_eq "$id: pid 1 inside is still the counting shell" \
    "$(inside "$id" 'tr "\0" " " </proc/1/cmdline')" "sh -c $COUNTER "
  expect_eq "$id: its sleep child is still pid $child inside" \
    "$(inside "$id" "cat /proc/$child/comm"),$(inside "$id" 'cat /tmp/child')" "sleep,$child"
  expect "$id: init is in the container's cgroup" grep -qx "$pid" "$(cgdir "$id")/cgroup.procs"
}

check_criu_host() {
  expect "criu check passes on this kernel ($(uname -r))" criu check
  expect "checkpoint --help exits 0 where checkpointing works" \
    sh -c "'$HULL' checkpoint --help >/dev/null && '$HULL' restore --help >/dev/null"
}

check_checkpoint_restore() {
  local b pid child cg reader
  b=$(counter cr)
  pipe_to "$WORK/cr.out"
  reader=$READER
  hull run -d -b "$b" cr </dev/null >"$PIPE" 2>&1
  count_passes "$WORK/cr.out" 10
  pid=$(state cr pid)
  child=$(inside cr 'cat /tmp/child')
  cg=$(cgdir cr)
  expect_eq "the prestart hook got init's pid at create" "$(jq -r .pid "$WORK/cr.hook")" "$pid"
  hull checkpoint --image-path "$WORK/cr.img" --work-path "$WORK/cr.work" cr
  expect "checkpoint deleted the container" sh -c "! '$HULL' --root '$ROOT' state cr 2>/dev/null"
  expect "its processes are gone" sh -c "[ ! -e /proc/$pid ]"
  expect "its cgroup is gone" test ! -e "$cg"
  expect "the image is written (inventory.img, descriptors.json)" \
    test -s "$WORK/cr.img/inventory.img" -a -s "$WORK/cr.img/descriptors.json"
  expect "criu's log is in the work path" test -s "$WORK/cr.work/dump.log"
  expect "its stdout pipe closed (no writer left)" drained "$reader"

  # New pipes take the old ones' place (descriptors.json names them).
  pipe_to "$WORK/cr.out2"
  hull restore -d -b "$b" --image-path "$WORK/cr.img" --work-path "$WORK/cr.work" \
    --pid-file "$WORK/cr.pid" cr </dev/null >"$PIPE" 2>&1
  expect_eq "the pid file holds the restored init" "$(cat "$WORK/cr.pid")" "$(state cr pid)"
  expect_eq "the prestart hook ran at restore with the restored init's pid" \
    "$(jq -r .pid "$WORK/cr.hook")" "$(state cr pid)"
  expect "the rootfs bind for criu is gone" sh -c "! grep -q criu-root /proc/self/mountinfo"
  check_restored cr "$b" "$WORK/cr.out" "$WORK/cr.out2" "$child"
  # An ordinary container again: kill and delete work on it.
  pid=$(state cr pid)
  cg=$(cgdir cr)
  hull kill cr KILL
  expect "kill stops the restored container" wait_for 10 sh -c "[ \"\$('$HULL' --root '$ROOT' state cr | jq -r .status)\" = stopped ]"
  hull delete cr
  expect "delete removes its cgroup" test ! -e "$cg"
  expect "delete removes its state" test ! -e "$ROOT/cr"
}

check_leave_running() {
  local b n
  b=$(counter lr)
  run_d lr "$b"
  count_passes "$WORK/lr.out" 5
  # --shell-job only allows a session or process group from outside; hull's init has its own.
  hull checkpoint --leave-running --shell-job --image-path "$WORK/lr.img" lr
  expect_eq "still running after checkpoint --leave-running" "$(state lr status)" running
  expect "the image is written" test -s "$WORK/lr.img/inventory.img"
  n=$(last "$WORK/lr.out")
  expect "it keeps counting" count_passes "$WORK/lr.out" "$((n + 5))"
  hull delete -f lr
}

check_pre_dump() {
  local b child n
  b=$(counter pd)
  pipe_to "$WORK/pd.out"
  hull run -d -b "$b" pd </dev/null >"$PIPE" 2>&1
  count_passes "$WORK/pd.out" 5
  child=$(inside pd 'cat /tmp/child')
  mkdir -p "$WORK/pd.img"
  hull checkpoint --pre-dump --image-path "$WORK/pd.img/parent" pd
  expect_eq "still running after --pre-dump" "$(state pd status)" running
  expect "the pre-dump wrote memory pages" sh -c "ls '$WORK/pd.img/parent' | grep -q '^pages-'"
  n=$(last "$WORK/pd.out")
  count_passes "$WORK/pd.out" "$((n + 3))"
  # The final dump, with the rest of runc's flags that change what criu does.
  hull checkpoint --parent-path ../parent --image-path "$WORK/pd.img/final" --auto-dedup \
    --file-locks --tcp-established --ext-unix-sk --manage-cgroups-mode soft --empty-ns network pd
  expect "the final dump links its parent" test -d "$WORK/pd.img/final/parent"
  expect "checkpoint after the pre-dump deleted the container" test ! -e "$ROOT/pd"
  pipe_to "$WORK/pd.out2"
  hull restore -d -b "$b" --image-path "$WORK/pd.img/final" --file-locks --tcp-established \
    --ext-unix-sk --manage-cgroups-mode soft --empty-ns network pd </dev/null >"$PIPE" 2>&1
  check_restored pd "$b" "$WORK/pd.out" "$WORK/pd.out2" "$child"
}

# Files as stdio (run_d: /dev/null in, a host file out), which criu cannot reach from inside
# the container: hull names them as external files, and the restore's own stdio take their
# place. criu checks a regular file's size, so the restore appends to the same file.
check_new_id() {
  local b child n
  b=$(counter old)
  run_d old "$b"
  count_passes "$WORK/old.out" 5
  child=$(inside old 'cat /tmp/child')
  hull checkpoint --image-path "$WORK/old.img" old
  expect "descriptors.json names the files as external" \
    grep -q '"file\[[0-9a-f]*:[0-9a-f]*\]"' "$WORK/old.img/descriptors.json"
  n=$(wc -l <"$WORK/old.out")
  cp "$WORK/old.out" "$WORK/old.before"
  # --no-pivot is accepted (criu sets up the root itself), as runc's callers may pass it.
  hull restore -d --no-pivot -b "$b" --image-path "$WORK/old.img" new </dev/null >>"$WORK/old.out" 2>>"$WORK/old.err"
  expect "the old id is gone" sh -c "! '$HULL' --root '$ROOT' state old 2>/dev/null"
  expect_eq "list shows the new id only" "$(hull list -q | tr '\n' ' ')" "new "
  expect_eq "state names the new id" "$(state new id)" new
  count_passes "$WORK/old.out" "$(last "$WORK/old.before")"
  tail -n +$((n + 1)) "$WORK/old.out" >"$WORK/new.out"
  check_restored new "$b" "$WORK/old.before" "$WORK/new.out" "$child"
}

# restore without -d: like run, hull waits for the container, exits with its status and
# deletes it; without the subreaper too (the restored init is hull's own child).
check_foreground() {
  local b rpid rc=0
  b=$(counter fg)
  pipe_to "$WORK/fg.out"
  hull run -d -b "$b" fg </dev/null >"$PIPE" 2>&1
  count_passes "$WORK/fg.out" 3
  hull checkpoint --image-path "$WORK/fg.img" fg
  pipe_to "$WORK/fg.out2"
  hull restore --no-subreaper -b "$b" --image-path "$WORK/fg.img" fg </dev/null >"$PIPE" 2>"$WORK/fg.err2" &
  rpid=$!
  expect "the restored container counts on" count_passes "$WORK/fg.out2" "$(last "$WORK/fg.out")"
  [ -e "$ROOT/fg" ] || note "restore: $(cat "$WORK/fg.err2")"
  expect_eq "restore waits in the foreground" "$(state fg status)" running
  hull kill fg KILL
  wait "$rpid" || rc=$?
  expect_eq "restore exits with the container's status (SIGKILL)" "$rc" 137
  expect "and deletes it" test ! -e "$ROOT/fg"
}

# A terminal container: the pty's master is outside it (a foreground run relays it), so criu
# dumps the slave side alone; at restore it makes a new pair and hands hull the master
# (orphan-pts-master), which a foreground restore relays as run does (`restore -d` sends it to
# --console-socket instead, as create does).
check_terminal() {
  local b rpid child rc=0
  b=$(counter tt)
  jq '.process.terminal = true' "$b/config.json" >"$b/config.tmp"
  mv "$b/config.tmp" "$b/config.json"
  hull run -b "$b" tt </dev/null >"$WORK/tt.out" 2>"$WORK/tt.err" &
  rpid=$!
  count_passes "$WORK/tt.out" 5 || note "run: $(cat "$WORK/tt.err")"
  child=$(inside tt 'cat /tmp/child')
  expect "tt: init's stdout is a pty" sh -c "'$HULL' --root '$ROOT' exec tt readlink /proc/1/fd/1 | grep -q '^/dev/pts/'"
  hull checkpoint --image-path "$WORK/tt.img" tt
  wait "$rpid" || true
  hull restore -b "$b" --image-path "$WORK/tt.img" tt </dev/null >"$WORK/tt.out2" 2>"$WORK/tt.err2" &
  rpid=$!
  expect "tt: the restored container counts on, through the pty hull relays" \
    count_passes "$WORK/tt.out2" "$(last "$WORK/tt.out")"
  [ -e "$ROOT/tt" ] || note "restore: $(cat "$WORK/tt.err2")"
  expect "tt: init's stdout is a pty again" sh -c "'$HULL' --root '$ROOT' exec tt readlink /proc/1/fd/1 | grep -q '^/dev/pts/'"
  expect_eq "tt: its sleep child is still pid $child inside" \
    "$(inside tt "cat /proc/$child/comm")" sleep
  hull kill tt KILL
  wait "$rpid" || rc=$?
  expect_eq "tt: restore exits with the container's status (SIGKILL)" "$rc" 137
  expect "tt: and deletes it" test ! -e "$ROOT/tt"
}

check_restore_failure() {
  local b err
  b=$(counter rf)
  mkdir -p "$WORK/empty.img"
  if hull restore -d -b "$b" --image-path "$WORK/empty.img" rf </dev/null >/dev/null 2>"$WORK/rf.err"; then
    fail "restore from an empty image succeeded"
  else
    err=$(cat "$WORK/rf.err")
    expect "the error is criu's, with its log's words ($err)" grep -q "criu restore" "$WORK/rf.err"
  fi
  expect "no state is left" test ! -e "$ROOT/rf"
  expect "no rootfs bind is left" sh -c "! grep -q criu-root /proc/self/mountinfo"
  expect "no cgroup is left" sh -c "! find /sys/fs/cgroup -name rf -type d | grep -q ."
  expect "no criu is left running" sh -c "! grep -qx criu /proc/[0-9]*/comm"
}

echo "TAP version 13"
echo "# guest-criu: kernel $(uname -r), $("$HULL" --version | sed -n 1p), $(criu --version | head -1)"
t0=$SECONDS
if [ $# -gt 0 ]; then run_checks "$@"; else run_checks "${CRIU_CHECKS[@]}"; fi
echo "# checks took $((SECONDS - t0)) s"
summary guest-criu
