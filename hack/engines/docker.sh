# shellcheck shell=bash
# dockerd for the engines lane: private data root, exec root, socket and pid file; no
# iptables, no bridge, no ip forwarding (nothing of the host's network is touched); cgroupfs;
# containers under the lane's cgroup (a relative --cgroup-parent). Its daemon.json is the
# README's snippet (hack/engines/docker-daemon.json) with hull's path, plus the lane's keys.
# dockerd runs its own containerd (private too) and stops it when it stops.

docker_start() {  # docker_start [ENV=VALUE...]: starts dockerd with the environment given
  local d=$WORK/docker
  mkdir -p "$d/cli"
  if [ ! -e "$d/daemon.json" ]; then
    snippet docker-daemon.json | jq --arg key "$d/data/key.json" '. + {"deprecated-key-path": $key}' >"$d/daemon.json"
  fi
  env "$@" dockerd --config-file "${DOCKER_DAEMON_JSON:-$d/daemon.json}" --data-root "$d/data" --exec-root "$d/exec" \
    -H "unix://$d/docker.sock" --pidfile "$d/docker.pid" --group root \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
    --storage-driver "$DOCKER_STORAGE" --exec-opt native.cgroupdriver=cgroupfs \
    --cgroup-parent "$CG_PARENT" >>"$d/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  track "$DOCKERD_PID"
  cat >"$WORK/bin/docker" <<EOF
#!/bin/sh
export DOCKER_HOST=unix://$d/docker.sock DOCKER_CONFIG=$d/cli
exec timeout --foreground -k 5 ${BOUND:-90} docker "\$@"
EOF
  chmod +x "$WORK/bin/docker"
  E=$WORK/bin/docker
  wait_for 60 sh -c "'$E' version >/dev/null 2>&1" || { note "dockerd did not start:"; tail -n 20 "$d/dockerd.log"; return 1; }
}

docker_stop() {
  [ -n "${DOCKERD_PID:-}" ] || return 0
  docker_cleanup
  stop_pid "$DOCKERD_PID" 30
  DOCKERD_PID=""
}

e_run_words_docker() {
  echo "run --runtime $RT --network ${NET:-none}"
}

docker_cleanup() {
  local ids
  ids=$("$E" ps -aq 2>/dev/null) || return 0
  [ -z "$ids" ] || "$E" rm -f $ids >/dev/null 2>&1 || true
}

# DOCKER_RAMDISK (a root on ramfs, where pivot_root cannot work): dockerd asks the shim for
# no pivot_root, and the shim passes --no-pivot to the runtime. The runtime here is a wrapper
# that logs its arguments, then execs hull or runc.
sc_ramdisk() {
  local n=rd-$1 out
  out=$(e_run --rm "$IMG" sh -c 'echo ok; cat /proc/self/cgroup >/dev/null')
  expect_eq "runs under DOCKER_RAMDISK" "$out" ok
  expect_match "the runtime was asked for --no-pivot" "$(grep ' create ' "$WORK/argv-$1.log" | tail -n 1)" " --no-pivot "
  e_run -d --name "$n" "$IMG" sleep 1000 >/dev/null
  expect_eq "exec works too" "$("$E" exec "$n" echo ok)" ok
  observe "$out"
}

run_docker() {
  ENGINE=docker
  DOCKER_STORAGE=overlay2
  [ "$STORAGE_DRIVER" = overlay ] || DOCKER_STORAGE=vfs
  docker_start
  eng_cleanup() { docker_cleanup; }
  e_run_words() { e_run_words_docker; }
  "$E" load -q -i "$WORK/busybox.tar" >/dev/null
  local s
  for s in exit_codes env_workdir_user detached tty pause limits update read_only volumes \
    signal top restart stats cap_drop pid_host net_host missing_binary bad_cwd; do
    scenario "$s"
  done
  docker_stop

  # Again with DOCKER_RAMDISK=1, the runtimes behind wrappers that log their arguments:
  # runtimes "hull" and "ramdisk-runc" (Docker reserves the name runc).
  local r
  for r in hull runc; do
    printf '#!/bin/sh\necho " $* " >>%s\nexec %s "$@"\n' "$WORK/argv-$r.log" \
      "$([ $r = hull ] && echo "$HULL" || echo "$RUNC")" >"$WORK/bin/$r-argv"
    chmod +x "$WORK/bin/$r-argv"
  done
  jq --arg h "$WORK/bin/hull-argv" --arg r "$WORK/bin/runc-argv" \
    '.runtimes.hull.path = $h | .runtimes["ramdisk-runc"] = {path: $r}' \
    "$WORK/docker/daemon.json" >"$WORK/docker/daemon-ramdisk.json"
  DOCKER_DAEMON_JSON=$WORK/docker/daemon-ramdisk.json docker_start DOCKER_RAMDISK=1
  e_run_words() { echo "run --runtime $([ "$RT" = hull ] && echo hull || echo ramdisk-runc) --network none"; }
  scenario ramdisk
  "$E" rmi -f "$IMG" >/dev/null 2>&1 || true
  docker_stop
}
