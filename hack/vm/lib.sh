# shellcheck shell=bash
# Helpers for the test scripts that run inside the VM (sourced, not run): TAP output, hull with
# a private root, busybox bundles, cleanup. Each check is a function `check_NAME`; `run_checks`
# runs them one by one in a subshell with errexit, so an unexpected failure ends that check
# (reported `not ok`) and not the script. A check reports with `pass`/`fail`/`expect_eq`.
#
# Environment: HULL (default target/release/hull), HULL_VM_KEEP=1 keeps the work directory.

REPO=$PWD
WORK=$(mktemp -d /tmp/hull-vmtest.XXXXXX)
# Run hull from a local copy: executed from the 9p share every start pages it in again
# (0.6 s for `hull spec`, 0.08 s from the copy).
cp "${HULL:-$REPO/target/release/hull}" "$WORK/hull"
HULL=$WORK/hull
ROOT=$WORK/state              # hull --root
RESULTS=$WORK/results         # one line per TAP result, so subshells can report
: >"$RESULTS"
# shellcheck disable=SC2034  # used by the checks
CG=/sys/fs/cgroup

note() { echo "#   $*"; }
_tap() {  # _tap ok|not ok DESCRIPTION
  local n
  n=$(($(wc -l <"$RESULTS") + 1))
  echo "$1" >>"$RESULTS"
  echo "$1 $n - $2"
}
pass() { _tap ok "$CHECK: $*"; }
fail() { _tap "not ok" "$CHECK: $*"; }
expect_eq() {  # expect_eq DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1"; note "got:  $2"; note "want: $3"; fi
}
expect() {  # expect DESCRIPTION COMMAND...: passes if COMMAND succeeds
  local d=$1; shift
  if "$@"; then pass "$d"; else fail "$d"; note "failed: $*"; fi
}

hull() { "$HULL" --root "$ROOT" "$@"; }

# The base bundle is made once per boot and each container copies it and edits config.json
# with a jq filter. Its rootfs (busybox and a link per applet: hundreds of forks, 5 s in the
# VM) is cached as a tar on the share, keyed by the busybox binary.
BASE=$WORK/base
_rootfs_tar=$REPO/target/vm/busybox-rootfs-$(sha256sum /bin/busybox | cut -c1-12).tar
if [ -s "$_rootfs_tar" ]; then
  mkdir -p "$BASE/rootfs" && tar -xf "$_rootfs_tar" -C "$BASE/rootfs"
  "$HULL" spec -b "$BASE"
  jq '.process.terminal = false' "$BASE/config.json" >"$BASE/c.json" && mv "$BASE/c.json" "$BASE/config.json"
else
  HULL=$HULL "$REPO/hack/mkbundle.sh" "$BASE" true >/dev/null
  tar -cf "$_rootfs_tar.tmp" -C "$BASE/rootfs" . && mv "$_rootfs_tar.tmp" "$_rootfs_tar"
fi
bundle() {  # bundle NAME 'SHELL COMMAND' [JQ FILTER]: prints the bundle's path
  local b=$WORK/$1
  rm -rf "$b" && cp -a "$BASE" "$b"
  jq --arg cmd "$2" ".process.args = [\"sh\", \"-c\", \$cmd] | ${3:-.}" "$BASE/config.json" >"$b/config.json"
  echo "$b"
}
# run -d with the container's stdio in files (a pipe would stay open, held by the container).
run_d() {  # run_d ID BUNDLE
  hull run -d -b "$2" "$1" </dev/null >"$WORK/$1.out" 2>"$WORK/$1.err" || {
    note "run -d $1: $(cat "$WORK/$1.err")"
    return 1
  }
}
state() { hull state "$1" | jq -r ".$2"; }
cgdir() { jq -r .cgroup.path "$ROOT/$1/state.json"; }   # the v2 manager's saved path
# The caller's own cgroup and the parent runc nests relative cgroupsPath values under.
own_cgroup() { sed -n 's/^0:://p' /proc/self/cgroup; }
wait_for() {  # wait_for SECONDS COMMAND...: polls every 0.1 s
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done
}

cleanup() {
  local id
  for id in $(hull list -q 2>/dev/null); do hull delete -f "$id" >/dev/null 2>&1 || true; done
  [ -n "${HULL_VM_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

run_checks() {  # run_checks NAME...: runs check_NAME for each
  local c rc t0
  for c in "$@"; do
    CHECK=$c
    t0=$SECONDS
    set +e
    (set -e; "check_$c")
    rc=$?
    set -e
    [ $rc = 0 ] || fail "aborted (exit $rc)"
    echo "# $c: $((SECONDS - t0)) s"
    for id in $(hull list -q 2>/dev/null); do hull delete -f "$id" >/dev/null 2>&1 || true; done
  done
}

summary() {  # summary LABEL: prints the plan and the counts, returns 1 on any failure
  local total failed
  total=$(wc -l <"$RESULTS")
  failed=$(grep -c '^not ok' "$RESULTS" || true)
  echo "1..$total"
  echo "# $1: $((total - failed)) passed, $failed failed"
  [ "$failed" = 0 ]
}
