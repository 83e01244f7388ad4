# shellcheck shell=bash
# Helpers of the engines lane (sourced by hack/lanes/engines.sh): TAP output, scenarios run
# with hull and with runc and compared, and the bookkeeping that lets the lane stop and
# remove everything it started (daemons by pid, mounts and cgroups by exact name).
#
# A scenario is a function `sc_NAME RUNTIME` run in a subshell with errexit: an unexpected
# failure ends it (reported `not ok`), not the lane. It asserts with expect_eq / expect_match /
# expect, and records what it saw with `observe TEXT`: the lane checks that hull saw the same
# as runc ("same outcome").

: "${WORK:?}" "${HULL:?}" "${RUNC:?}"
RESULTS=$WORK/results   # one line per TAP result, so subshells can report
: >"$RESULTS"
: >"$WORK/scenarios"
ENGINE=""               # podman, docker, ctr, rootless: the label of the current scenarios

note() { sed 's/^/#   /' <<<"$*"; }
_tap() {  # _tap ok|not ok DESCRIPTION
  local n
  n=$(($(wc -l <"$RESULTS") + 1))
  echo "$1 $ENGINE" >>"$RESULTS"
  echo "$1 $n - $ENGINE${RT:+/$RT}: ${SCENARIO:+$SCENARIO: }$2"
}
pass() { _tap ok "$*"; }
fail() { _tap "not ok" "$*"; }
expect_eq() {  # expect_eq DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1"; note "got:  $2"; note "want: $3"; fi
}
expect_match() {  # expect_match DESCRIPTION GOT EXTENDED-REGEX
  if grep -qE -- "$3" <<<"$2"; then pass "$1"; else fail "$1"; note "got:  $2"; note "want: /$3/"; fi
}
expect() {  # expect DESCRIPTION COMMAND...: passes if COMMAND succeeds
  local d=$1; shift
  if "$@"; then pass "$d"; else fail "$d"; note "failed: $*"; fi
}
observe() { echo "$*" >>"$WORK/obs/$ENGINE.$SCENARIO.$RT"; }
# rc COMMAND...: prints the exit status of COMMAND (its output goes to $WORK/last.out/.err).
rc() { local r=0; "$@" >"$WORK/last.out" 2>"$WORK/last.err" || r=$?; echo "$r"; }
wait_for() {  # wait_for SECONDS COMMAND...: polls every 0.1 s
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done
}
# Every engine command is bounded: a runtime that hangs fails the scenario, not the lane.
# The engine wrappers run `timeout --foreground`: without it timeout moves the engine into a
# process group of its own, and an `-it` engine in the background of its terminal is stopped
# by SIGTTOU when it sets raw mode (unless a caller happens to block that signal).
bounded() { timeout -k 5 "${BOUND:-90}" "$@"; }
# A pty for -it: typist.py runs the command on a new terminal and types stdin at the prompt.
in_pty() {  # in_pty 'COMMAND LINE' <input: prints the terminal's output, exits with its status
  python3 "$REPO/hack/engines/typist.py" "${BOUND:-90}" "$1"
}

# scenario NAME [RUNTIME...]: runs sc_NAME for each runtime (default hull runc), then checks
# that hull's observations equal runc's. A scenario missing a feature on an engine is not
# called for it at all.
scenario() {
  local name=$1 r rcode t0=$SECONDS failed0
  failed0=$(grep -c '^not ok' "$RESULTS" || true)
  shift
  local rts=("$@")
  [ $# -gt 0 ] || rts=(hull runc)
  SCENARIO=$name
  for r in "${rts[@]}"; do
    RT=$r
    set +e
    (set -e; "sc_$name" "$r")
    rcode=$?
    set -e
    [ $rcode = 0 ] || { fail "aborted (exit $rcode)"; [ -s "$WORK/last.err" ] && note "last stderr: $(tail -n 3 "$WORK/last.err")"; }
    eng_cleanup || true
  done
  RT=""
  local h=$WORK/obs/$ENGINE.$name.hull o=$WORK/obs/$ENGINE.$name.runc
  if [ -e "$h" ] && [ -e "$o" ]; then
    if cmp -s "$h" "$o"; then
      pass "same outcome as runc"
    else
      fail "same outcome as runc"
      diff "$o" "$h" | sed -n '2,20s/^/#   /p'
    fi
  fi
  if [ "$(grep -c '^not ok' "$RESULTS" || true)" = "$failed0" ]; then
    echo "$ENGINE $name ok" >>"$WORK/scenarios"
  else
    echo "$ENGINE $name FAILED" >>"$WORK/scenarios"
  fi
  echo "# $ENGINE $name: $((SECONDS - t0)) s"
  SCENARIO=""
}

# --- bookkeeping: what the lane started and made, removed at exit by exact name ---

STARTED_PIDS=()   # daemons, in start order
track() { STARTED_PIDS+=("$1"); }

# stop_pid PID [SECONDS]: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pid=$1 secs=${2:-20}
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait_for "$secs" sh -c "! kill -0 $pid 2>/dev/null" || { note "pid $pid ignored SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  wait "$pid" 2>/dev/null || true
}

# Processes that still name the work directory on their command line (shims, conmon, slirp):
# only ours can, since the directory is unique to this run.
procs_of_work() {
  # (the pattern is the path with its dots escaped: grep's own command line does not match)
  grep -laE "${WORK//./\\.}/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | grep -vx "$$" || true
}

# The directory of our cgroup (the lane's own) in every mounted hierarchy, with NAME appended:
# engines are given the relative parent NAME, and runtimes nest it under their own cgroup.
CG_PARENT=hull-engines-$$
cgroup_dirs() {
  local mnt opts line hier path
  while read -r mnt opts; do
    # v1: the hierarchy's controllers (or name=) match a line of /proc/self/cgroup.
    while IFS=: read -r _ hier path; do
      if [ "$opts" = cgroup2 ] && [ -z "$hier" ]; then
        echo "$mnt$path/$CG_PARENT"
        echo "$mnt$(dirname "$path")/$CG_PARENT"   # v2: runtimes nest under the parent
      elif [ "$opts" != cgroup2 ] && [ -n "$hier" ] && grep -qE "(^|,)$hier(,|$)" <<<"$opts"; then
        echo "$mnt$path/$CG_PARENT"
      fi
    done </proc/self/cgroup
  done < <(awk '$9 == "cgroup" {print $5, $NF} $9 == "cgroup2" {print $5, "cgroup2"}' /proc/self/mountinfo)
}

remove_cgroups() {
  local d p leaked=0
  for d in $(cgroup_dirs | sed 's#//*#/#g' | sort -u); do
    [ -d "$d" ] || continue
    for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
      note "process $p still in $d: killed"; kill -KILL "$p" 2>/dev/null || true; leaked=1
    done
    # Empty cgroups may take a moment after their last process exits.
    wait_for 5 sh -c "find '$d' -depth -type d -exec rmdir {} + 2>/dev/null; [ ! -d '$d' ]" ||
      { note "could not remove cgroup $d"; leaked=1; }
  done
  return $leaked
}

# Places outside the work directory that the engines use whatever their configuration says:
# containerd 1.6's shim sockets (/run/containerd/s), dockerd's plugin directory
# (/run/docker/plugins), podman's image blob cache (/var/lib/containers/cache). Those that did
# not exist before the lane are removed after it (by these exact names).
HOST_PATHS=(/run/containerd /run/docker /var/lib/containers /var/lib/containers/cache)
HOST_NEW=()
for _p in "${HOST_PATHS[@]}"; do [ -e "$_p" ] || HOST_NEW+=("$_p"); done
remove_host_paths() {
  local p
  for p in "${HOST_NEW[@]}"; do
    [ ! -e "$p" ] || rm -rf -- "$p"
  done
}

# Mounts under the work directory, deepest first (engines' overlays, shm, netns, ...).
unmount_work() {
  local m
  for m in $(awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || note "could not unmount $m"
  done
  ! awk -v w="$WORK/" 'index($5, w) == 1 {f=1} END {exit !f}' /proc/self/mountinfo
}
