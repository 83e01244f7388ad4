# shellcheck shell=bash
# podman (as root) for the engines lane: private storage, run and tmp directories, no network
# (--network host where a scenario asks), cgroupfs; the containers.conf is the README's
# snippet (hack/engines/podman-containers.conf) with hull's path, after the lane's settings.

# podman_conf DIR GRAPHROOT RUNROOT: the lane's storage.conf and containers.conf in DIR (for
# root's podman and the rootless user's alike).
podman_conf() {
  cat >"$1/storage.conf" <<EOF
[storage]
driver = "$STORAGE_DRIVER"
graphroot = "$2"
runroot = "$3"
EOF
  {
    cat <<EOF
[containers]
netns = "none"
# podman's default rlimits (1048576) are above what this host lets root raise them to.
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

EOF
    snippet podman-containers.conf
  } >"$1/containers.conf"
}

podman_setup() {
  local d=$WORK/podman
  mkdir -p "$d"
  podman_conf "$d" "$d/root" "$d/run"
  # conmon stays in the lane's cgroup (--cgroups no-conmon): it would otherwise make
  # <parent>/conmon at the root of every hierarchy.
  cat >"$WORK/bin/podman" <<EOF
#!/bin/sh
export CONTAINERS_CONF=$d/containers.conf CONTAINERS_STORAGE_CONF=$d/storage.conf
exec timeout --foreground -k 5 ${BOUND:-90} podman --cgroup-manager cgroupfs --events-backend file \\
  --tmpdir $d/tmp --network-config-dir $d/net --volumepath $d/volumes "\$@"
EOF
  chmod +x "$WORK/bin/podman"
  E=$WORK/bin/podman
  "$E" load -q -i "$WORK/busybox.tar" >/dev/null
}

e_run_words_podman() {
  echo "--runtime $RT run --cgroups no-conmon --cgroup-parent $CG_PARENT ${NET:+--network $NET}"
}

podman_cleanup() {
  [ -z "$("$E" ps -aq)" ] || "$E" rm -f -a -t 0 >/dev/null 2>&1 || true
}

podman_teardown() {
  local p=$WORK/bin/podman
  [ -x "$p" ] || return 0
  "$p" rm -f -a -t 0 >/dev/null 2>&1 || true
  "$p" rmi -a -f >/dev/null 2>&1 || true
  rm -f "$p"
}

# podman's --tmpfs copies what the image has there into the tmpfs (the mount option
# tmpcopyup, which the runtime implements).
sc_tmpcopyup() {
  local n=cu-$1 id cfg out
  e_run -d --name "$n" --tmpfs /data "$IMG" sleep 1000 >/dev/null
  id=$(cid "$n")
  cfg=$WORK/podman/root/$STORAGE_DRIVER-containers/$id/userdata/config.json
  expect_match "podman asks for tmpcopyup" \
    "$(jq -c '.mounts[] | select(.destination == "/data") | .options' "$cfg")" '"tmpcopyup"'
  out=$("$E" exec "$n" sh -c 'cat /data/seed; awk "\$2 == \"/data\" {print \$3}" /proc/mounts')
  expect_eq "the image's /data/seed is copied up into the tmpfs" "$(echo $out)" "seed tmpfs"
  observe "$out"
}

run_podman() {
  ENGINE=podman
  podman_setup
  eng_cleanup() { podman_cleanup; }
  e_run_words() { e_run_words_podman; }
  local s
  for s in exit_codes env_workdir_user detached tty pause limits update read_only volumes \
    signal top restart stats cap_drop pid_host net_host missing_binary bad_cwd tmpcopyup; do
    scenario "$s"
  done
  podman_teardown
}
