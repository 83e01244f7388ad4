# The environment the bench scripts run runtimes in (sourced by hack/bench.sh and
# hack/bench/startup.sh). Root only; cgroup v1 or hybrid hosts.
#
#   bench_cgroups_make NAME   a cgroup NAME below our own in every hierarchy (v1 and the
#                             unified one), cpuset.cpus/mems copied from the parent;
#                             their paths go to the array bench_cg
#   bench_cgroups_remove      removes them, reporting (and removing, when empty) anything a
#                             runtime left below them
#   bench_cgroups_kill_ids FILE  for each container id in FILE (one a line), kills what is
#                             still in the cgroup of that exact name below ours, in every
#                             hierarchy, and removes it: what a bench killed before its own
#                             cleanup ran leaves there (a container's cgroup is <ours>/<id>)
#   bench_enter WORK CMD...   runs CMD in those cgroups, in a new private mount namespace
#                             and a new cgroup namespace rooted there, under the driver's
#                             subreaper (WORK/driver), with an environment of PATH and the
#                             BENCH_* variables only; returns CMD's status
#   bench_remount_cgroups WORK  (inside) mounts every hierarchy afresh, so their roots and
#                             /proc/self/cgroup are the bench's cgroup for every runtime:
#                             a container's cgroup lands at <bench cgroup>/<id> whether a
#                             runtime reads a missing cgroupsPath as "/<id>" (crun) or as
#                             relative to its own cgroup (runc, hull). The unified
#                             hierarchy's cgroup.controllers reads empty, or crun 1.8.1
#                             takes the hybrid host for a v2 one and refuses it.

bench_cg=()

# mountinfo's super options of a cgroup v1 mount, without those that are not controllers.
_bench_controllers() {
  tr , '\n' <<< "$1" \
    | grep -Ev '^(rw|ro|xattr|clone_children|noprefix|cpuset_v2_mode|favordynmods|release_agent=.*)$' \
    | paste -sd,
}

bench_cgroups_make() {
  local name=$1 mnt rest fstype super ctl own d
  while read -r _ _ _ _ mnt _ rest; do
    read -r fstype _ super <<< "${rest#*- }"
    case $fstype in
      cgroup) ctl=$(_bench_controllers "$super")
              own=$(awk -F: -v c="$ctl" '$2 == c { print $3 }' /proc/self/cgroup) ;;
      cgroup2) [ "$mnt" != /sys/fs/cgroup ] || {
                 echo "bench: cgroup v2-only hosts are not supported yet" >&2; return 1; }
               own=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup) ;;
      *) continue ;;
    esac
    [ -n "$own" ] || { echo "bench: no own cgroup for $mnt" >&2; return 1; }
    d=$mnt${own%/}/$name
    mkdir "$d"
    bench_cg+=("$d")
    if [ -e "$d/cpuset.cpus" ]; then
      cat "$d/../cpuset.cpus" > "$d/cpuset.cpus"
      cat "$d/../cpuset.mems" > "$d/cpuset.mems"
    fi
  done < /proc/self/mountinfo
}

bench_cgroups_remove() {
  local d left
  for d in ${bench_cg[@]+"${bench_cg[@]}"}; do
    [ -d "$d" ] || continue
    for left in "$d"/*/; do
      [ -d "$left" ] || continue
      echo "bench: left behind by a runtime: ${left%/}" >&2
      rmdir "$left" 2>/dev/null || echo "bench: cannot remove ${left%/}" >&2
    done
    rmdir "$d" || echo "bench: cannot remove $d" >&2
  done
  bench_cg=()
}

bench_cgroups_kill_ids() {
  local ids=$1 id d pid left
  while read -r id; do
    [ -n "$id" ] && [[ $id != */* ]] && [ "$id" != . ] && [ "$id" != .. ] || continue
    for d in ${bench_cg[@]+"${bench_cg[@]}"}; do
      [ -d "$d/$id" ] || continue
      echo "bench: left behind: $d/$id; killing what is in it" >&2
      # The runtime that made it may be removing it at the same moment: a vanished file or
      # directory is no error.
      for _ in $(seq 50); do
        [ -d "$d/$id" ] || break
        left=0
        while read -r pid; do
          kill -KILL "$pid" 2>/dev/null || true
          left=1
        done < <(cat "$d/$id/cgroup.procs" 2>/dev/null)
        [ "$left" = 0 ] && rmdir "$d/$id" 2>/dev/null && break
        sleep 0.1
      done
      [ ! -d "$d/$id" ] || echo "bench: cannot remove $d/$id" >&2
    done
  done < <(sort -u "$ids")
}

bench_enter() {
  ( bench_exec "$@" )
}

# bench_enter without the subshell: this shell becomes the reaper (run it as `bench_exec ... &`
# to have the reaper's pid in $!).
bench_exec() {
  local work=$1 v d; shift
  # The runtimes see a fixed environment: PATH and the bench's own variables, nothing from
  # the caller's shell (RUST_BACKTRACE=1 there makes every error hull meets internally
  # capture a backtrace; engines do not set it).
  local env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  for v in $(compgen -e); do
    [[ $v == BENCH_* ]] && env+=("$v=${!v}")
  done
  for d in "${bench_cg[@]}"; do echo "$BASHPID" > "$d/cgroup.procs"; done
  exec env -i "${env[@]}" unshare --mount --cgroup --propagation private "$work/driver" -r "$@"
}

bench_remount_cgroups() {
  local work=$1 mnt rest fstype super h type opts hier=()
  while read -r _ _ _ _ mnt _ rest; do
    read -r fstype _ super <<< "${rest#*- }"
    case $fstype in
      cgroup) hier+=("$mnt cgroup $(_bench_controllers "$super")") ;;
      cgroup2) hier+=("$mnt cgroup2 -") ;;
    esac
  done < /proc/self/mountinfo
  umount -R /sys/fs/cgroup
  mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
  for h in "${hier[@]}"; do
    read -r mnt type opts <<< "$h"
    mkdir -p "$mnt"
    if [ "$type" = cgroup ]; then
      mount -t cgroup -o "$opts" cgroup "$mnt"
    else
      mount -t cgroup2 cgroup2 "$mnt"
      : > "$work/empty"
      mount --bind "$work/empty" "$mnt/cgroup.controllers"
    fi
  done
  # We must now be at the root of every hierarchy, in the bench's cgroup.
  if grep -qv ':/$' /proc/self/cgroup; then
    echo "bench: not at the root of the cgroup namespace:" >&2
    cat /proc/self/cgroup >&2
    return 1
  fi
}
