#!/usr/bin/env bash
# The measuring part of hack/bench.sh; runs inside the bench's private mount and cgroup
# namespaces, under the driver's subreaper, with the bench's cgroup as the namespace root.
# Input: BENCH_WORK (bundles, driver, floor; samples go to $BENCH_WORK/samples),
# BENCH_ROUNDS, BENCH_RUNS_N, BENCH_LEVELS, BENCH_RUNTIMES (NAME=PATH ..., hull first).
set -euo pipefail
work=$BENCH_WORK
rounds=$BENCH_ROUNDS
runs_n=$BENCH_RUNS_N
read -r -a levels <<< "$BENCH_LEVELS"
read -r -a specs <<< "$BENCH_RUNTIMES"
rts=() names=()
for spec in "${specs[@]}"; do names+=("${spec%%=*}"); rts+=("${spec#*=}"); done
n=${#rts[@]}
drv=$work/driver
out=$work/samples

. "$(dirname "$0")/lib.sh"
bench_remount_cgroups "$work"
# hull-ro: the same hull through a read-only bind, where it has nothing to do to protect its
# binary (CVE-2019-5736) and does not re-execute itself; informational samples beside hull's
# (outside the permutation, as hull-cold): "hull" minus "hull-ro" is what the protection costs.
hull_ro=$work/hull-ro
: > "$hull_ro"
mount --bind -o ro "${rts[0]}" "$hull_ro"

root_of() { echo "$work/root-$1"; }
# Every container the bench has made and not yet deleted, by exact name: "BIN|ROOT|ID" keys.
# Cleanup (at the end, on a failure, or on SIGTERM from the reaper: hack/bench/driver.c) deletes
# these and nothing else. Every id ever used also goes to $work/ids, once, so that the caller
# (hack/bench.sh) can remove any cgroup still left under that exact name if this shell is
# killed before it could clean up.
declare -A live=() noted=()
made() {  # BIN ROOT ID
  live["$1|$2|$3"]=1
  if [ -z "${noted[$3]:-}" ]; then
    noted[$3]=1
    echo "$3" >> "$work/ids"
  fi
}
gone() { unset "live[$1|$2|$3]"; }  # BIN ROOT ID
# What the steps being built delete: no longer live once `time_it` has run them.
deleting=()
deleted_by_step() { deleting+=("$1|$2|$3"); }  # BIN ROOT ID
cleanup() {
  trap '' TERM INT HUP
  local key bin root id
  for key in "${!live[@]}"; do
    IFS='|' read -r bin root id <<< "$key"
    "$bin" --root "$root" delete -f "$id" </dev/null >/dev/null 2>>"$work/errors" \
      || echo "bench: could not delete $id ($bin --root $root)" >&2
  done
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# Every order of the runtimes (indexes), lexicographic: round r uses perms[r % nperms].
mapfile -t perms < <(python3 -c '
import itertools, sys
for p in itertools.permutations(range(int(sys.argv[1]))): print(" ".join(map(str, p)))' "$n")
nperms=${#perms[@]}

# Step lists for the driver, appended to `steps`: create (its peak RSS, and init's memory
# once it waits on the exec fifo), start, delete -f; of container ID from BUNDLE by runtime
# index I, under ROOT (default: the runtime's own).
create_step() {  # I BUNDLE ID [ROOT]
  local root=${4:-$(root_of "${names[$1]}")}
  made "${rts[$1]}" "$root" "$3"
  steps+=("=create,pid=$work/pid" "${rts[$1]}" --root "$root" create --pid-file "$work/pid" -b "$2" "$3")
}
start_step() {  # I ID [ROOT]
  steps+=(=start "${rts[$1]}" --root "${3:-$(root_of "${names[$1]}")}" start "$2")
}
delete_step() {  # I ID [ROOT]
  deleted_by_step "${rts[$1]}" "${3:-$(root_of "${names[$1]}")}" "$2"
  steps+=(=delete "${rts[$1]}" --root "${3:-$(root_of "${names[$1]}")}" delete -f "$2")
}
cycle_steps() {  # I BUNDLE ID [ROOT]
  steps=()
  create_step "$@"; start_step "$1" "$3" ${4:+"$4"}; delete_step "$1" "$3" ${4:+"$4"}
}
time_it() {  # KEY STEP...
  local key=$1; shift
  "$drv" -o "$out" -k "$key" "$@"
  for key in ${deleting[@]+"${deleting[@]}"}; do unset "live[$key]"; done
  deleting=()
}
quiet() { "$@" </dev/null >/dev/null 2>>"$work/errors"; }

# One running container per runtime to exec into.
for i in "${!rts[@]}"; do
  made "${rts[$i]}" "$(root_of "${names[$i]}")" "x-${names[$i]}"
  quiet "${rts[$i]}" --root "$(root_of "${names[$i]}")" create -b "$work/sleep" "x-${names[$i]}"
  quiet "${rts[$i]}" --root "$(root_of "${names[$i]}")" start "x-${names[$i]}"
done

echo "bench: $rounds rounds ..." >&2
for ((r = 0; r < rounds; r++)); do
  read -r -a order <<< "${perms[$((r % nperms))]}"
  time_it "$r spawn ref" =spawn /bin/true
  for i in "${order[@]}"; do
    cycle_steps "$i" "$work/base" "c$r"; time_it "$r cycle ${names[$i]}" "${steps[@]}"
  done
  # The floor takes each position among the runtimes in turn, one per block of nperms rounds.
  run_order=("${order[@]}")
  pos=$(( (r / nperms) % (n + 1) ))
  run_order=("${run_order[@]:0:pos}" floor "${run_order[@]:pos}")
  for i in "${run_order[@]}"; do
    if [ "$i" = floor ]; then
      time_it "$r run floor" =run "$work/floor" "$work/base/rootfs"
    else
      made "${rts[$i]}" "$(root_of "${names[$i]}")" "r$r"
      deleted_by_step "${rts[$i]}" "$(root_of "${names[$i]}")" "r$r"
      time_it "$r run ${names[$i]}" =run "${rts[$i]}" --root "$(root_of "${names[$i]}")" run -b "$work/base" "r$r"
    fi
  done
  for i in "${order[@]}"; do
    time_it "$r exec ${names[$i]}" =exec "${rts[$i]}" --root "$(root_of "${names[$i]}")" exec "x-${names[$i]}" /bin/true
  done
  time_it "$r exec ${names[0]}-ro" =exec "$hull_ro" --root "$(root_of "${names[0]}")" exec "x-${names[0]}" /bin/true
  steps=()
  made "$hull_ro" "$(root_of "${names[0]}-ro")" "c$r"
  deleted_by_step "$hull_ro" "$(root_of "${names[0]}-ro")" "c$r"
  steps+=("=create,pid=$work/pid" "$hull_ro" --root "$(root_of "${names[0]}-ro")" create --pid-file "$work/pid" -b "$work/base" "c$r")
  steps+=(=start "$hull_ro" --root "$(root_of "${names[0]}-ro")" start "c$r")
  steps+=(=delete "$hull_ro" --root "$(root_of "${names[0]}-ro")" delete -f "c$r")
  time_it "$r cycle ${names[0]}-ro" "${steps[@]}"
  for profile in docker podman; do
    for i in "${order[@]}"; do
      cycle_steps "$i" "$work/$profile" "s$r"; time_it "$r cycle-$profile ${names[$i]}" "${steps[@]}"
    done
  done
  # hull caches compiled seccomp programs under its --root; this sample clears the cache
  # first (outside the permutation: informational, shows what the cache saves).
  rm -rf "$(root_of "${names[0]}-cold")/.seccomp-cache"
  cycle_steps 0 "$work/podman" "s$r" "$(root_of "${names[0]}-cold")"
  time_it "$r cycle-podman ${names[0]}-cold" "${steps[@]}"
  for i in "${order[@]}"; do
    made "${rts[$i]}" "$(root_of "${names[$i]}")" "n$r"
    deleted_by_step "${rts[$i]}" "$(root_of "${names[$i]}")" "n$r"
    time_it "$r runs ${names[$i]}" "=run,n=$runs_n" "${rts[$i]}" --root "$(root_of "${names[$i]}")" run -b "$work/base" "n$r"
  done
  echo "bench: round $((r + 1))/$rounds done" >&2
done

for i in "${!rts[@]}"; do
  quiet "${rts[$i]}" --root "$(root_of "${names[$i]}")" delete -f "x-${names[$i]}"
  gone "${rts[$i]}" "$(root_of "${names[$i]}")" "x-${names[$i]}"
done

# With L containers present (created, their inits waiting): list, state, and the create and
# delete -f of one more; at the largest L, the memory of all L waiting inits together.
have=0
last=${levels[-1]}
for L in "${levels[@]}"; do
  echo "bench: $L containers per runtime ..." >&2
  for ((k = have + 1; k <= L; k++)); do
    read -r -a order <<< "${perms[$((k % nperms))]}"
    for i in "${order[@]}"; do
      mkdir -p "$work/pids-${names[$i]}"
      # An id per runtime: a missing cgroupsPath puts the container at <bench cgroup>/<id>,
      # and a runtime may refuse a cgroup another runtime's waiting init already holds.
      made "${rts[$i]}" "$(root_of "${names[$i]}")" "p$k-${names[$i]}"
      quiet "${rts[$i]}" --root "$(root_of "${names[$i]}")" create \
        --pid-file "$work/pids-${names[$i]}/$k" -b "$work/base" "p$k-${names[$i]}"
    done
  done
  have=$L
  for ((r = 0; r < rounds; r++)); do
    read -r -a order <<< "${perms[$((r % nperms))]}"
    for i in "${order[@]}"; do
      time_it "$r list$L ${names[$i]}" =list "${rts[$i]}" --root "$(root_of "${names[$i]}")" list --format json
    done
    for i in "${order[@]}"; do
      time_it "$r state$L ${names[$i]}" =state "${rts[$i]}" --root "$(root_of "${names[$i]}")" state "p1-${names[$i]}"
    done
    for i in "${order[@]}"; do
      steps=(); create_step "$i" "$work/base" "e$r"; delete_step "$i" "e$r"
      time_it "$r with$L ${names[$i]}" "${steps[@]}"
    done
    if [ "$L" = "$last" ]; then
      for i in "${order[@]}"; do
        time_it "$r inits${L} ${names[$i]}" =inits,smaps "$work/pids-${names[$i]}"/*
      done
    fi
  done
done
for ((k = 1; k <= have; k++)); do
  read -r -a order <<< "${perms[$((k % nperms))]}"
  for i in "${order[@]}"; do
    quiet "${rts[$i]}" --root "$(root_of "${names[$i]}")" delete -f "p$k-${names[$i]}"
    gone "${rts[$i]}" "$(root_of "${names[$i]}")" "p$k-${names[$i]}"
  done
done
