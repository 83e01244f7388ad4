#!/usr/bin/env bash
# Engines lane: hull behind podman 4 (conmon), containerd 1.6 (ctr, its runc shim and the CRI
# plugin's runtime entry) and dockerd 20.10, as a user would plug it in, plus rootless podman
# and rootless hull as an ordinary user made for the run. Each scenario runs with hull and
# with runc and must come out the same (hack/engines/*.sh; TAP, one line per assertion).
#
# Everything is private to one work directory under /tmp: daemons' roots, state, sockets and
# pid files, podman's storage, the images (a busybox image built here, no registry), the
# user's home; containers go in cgroups nested in the lane's own. At exit, pass or fail, it
# stops what it started by pid, unmounts and removes what it made, by exact name, and fails
# if anything was left behind.
#
# Needs root and the Debian packages hack/setup.sh installs (podman, containerd, docker.io,
# uidmap, ...). Cost on a 2-core machine shared with other builds, measured: 3 to 6 min
# (podman 55-160 s, containerd 18-72 s, Docker 75-130 s, rootless 16-37 s, image and
# teardown ~10 s; the high ends at a load average of 8), 11 min at a load average of 15
# (Docker 366 s), plus hull's debug build if nothing built it. Every engine command is bounded (90 s), so a hung runtime fails a scenario, not
# the lane. It prints each part's time. ENGINES=podman,ctr,docker,rootless (a subset) runs
# only those; HULL_ENGINES_KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
t_lane=$SECONDS

need=()
for c in podman:podman conmon:conmon catatonit:catatonit containerd:containerd \
  ctr:containerd dockerd:docker.io docker:docker.io runc:runc newuidmap:uidmap \
  python3:python3 runuser:util-linux jq:jq; do
  command -v "${c%%:*}" >/dev/null || need+=("${c#*:}")
done
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  echo "engines lane: installing ${need[*]}"
  hack/setup.sh "${need[@]}"
fi

cargo build -q -p hull

WORK=$(mktemp -d /tmp/hull-engines.XXXXXX)
chmod 755 "$WORK"   # the rootless user runs hull from here
mkdir -p "$WORK/bin" "$WORK/obs"
# A copy the rootless user can reach (the checkout may be under a private home).
cp "${CARGO_TARGET_DIR:-target}/debug/hull" "$WORK/bin/hull"
HULL=$WORK/bin/hull
RUNC=$(command -v runc)
# shellcheck source=hack/engines/lib.sh
source hack/engines/lib.sh
# shellcheck source=hack/engines/cli.sh
source hack/engines/cli.sh
# shellcheck source=hack/engines/podman.sh
source hack/engines/podman.sh
# shellcheck source=hack/engines/containerd.sh
source hack/engines/containerd.sh
# shellcheck source=hack/engines/docker.sh
source hack/engines/docker.sh
# shellcheck source=hack/engines/rootless.sh
source hack/engines/rootless.sh

e_run() { "$E" $(e_run_words) "$@"; }   # word splitting of the engine's flags is meant
eng_cleanup() { :; }

# The README's snippet FILE as the lane uses it: hull's path is the built binary's.
snippet() { sed "s#/usr/local/bin/hull#$HULL#g" "hack/engines/$1"; }

# overlayfs on overlayfs (a CI runner in a container) does not work: vfs (containerd's
# native snapshotter) there, or when HULL_ENGINES_STORAGE=vfs asks.
STORAGE_DRIVER=${HULL_ENGINES_STORAGE:-overlay}
[ "$(stat -f -c %T "$WORK")" != overlayfs ] || STORAGE_DRIVER=vfs

teardown_done=0
teardown() {
  [ "$teardown_done" = 0 ] || return 0
  teardown_done=1
  set +e
  local t0=$SECONDS leaks=0 p times=()
  podman_teardown
  containerd_teardown
  docker_stop
  rootless_teardown || leaks=1
  for p in "${STARTED_PIDS[@]}"; do stop_pid "$p"; done
  times+=("engines $((SECONDS - t0)) s")
  for p in $(procs_of_work); do
    note "left behind: pid $p: $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-150): killed"
    kill -KILL "$p" 2>/dev/null; leaks=1
  done
  remove_cgroups || leaks=1
  unmount_work || leaks=1
  [ "$leaks" = 1 ] || remove_host_paths
  times+=("cgroups and mounts $((SECONDS - t0)) s")
  if [ "$leaks" = 0 ] && [ -z "${HULL_ENGINES_KEEP:-}" ]; then
    rm -rf "$WORK"
  else
    note "work directory kept: $WORK"
  fi
  echo "# teardown: $((SECONDS - t0)) s (${times[*]})"
  return $leaks
}
trap 'teardown; exit 1' INT TERM
trap 'teardown || { echo "engines lane: something was left behind (see above)"; exit 1; }' EXIT

# The README quotes the snippets the lane loads: they must be the same text.
ENGINE=readme
for f in podman-containers.conf containerd-config.toml docker-daemon.json; do
  quoted=$(awk -v m="<!-- hack/engines/$f -->" '$0 == m {on = 1; next} on && /^```/ {if (open) exit; open = 1; next} on && open' README.md)
  expect_eq "README quotes hack/engines/$f exactly" "$quoted" "$(cat "hack/engines/$f")"
done

hack/engines/mkimage.sh "$WORK/busybox.tar"

declare -A took
for engine in podman ctr docker rootless; do
  case ",${ENGINES:-podman,ctr,docker,rootless}," in *",$engine,"*) ;; *) continue ;; esac
  t0=$SECONDS
  case $engine in
    podman) run_podman ;;
    ctr) run_containerd ;;
    docker) run_docker ;;
    rootless) run_rootless ;;
  esac
  took[$engine]=$((SECONDS - t0))
done

echo "1..$(wc -l <"$RESULTS")"
echo "# engines lane: scenarios per engine (assertions passed/failed, seconds)"
failed=0
for engine in readme podman ctr docker rootless; do
  p=$(grep -c "^ok $engine\$" "$RESULTS" || true)
  f=$(grep -c "^not ok $engine\$" "$RESULTS" || true)
  failed=$((failed + f))
  [ $((p + f)) -gt 0 ] || continue
  echo "#   $engine: scenarios $(grep -c "^$engine .* ok\$" "$WORK/scenarios" || true) passed," \
    "$(grep -c "^$engine .* FAILED\$" "$WORK/scenarios" || true) failed; assertions $p passed, $f failed${took[$engine]:+; ${took[$engine]} s}"
done
echo "# engines lane: $(($(wc -l <"$RESULTS") - failed)) passed, $failed failed, $((SECONDS - t_lane)) s before teardown"
[ "$failed" = 0 ]
