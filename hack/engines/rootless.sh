# shellcheck shell=bash
# Rootless, as an ordinary user the lane creates (and removes at exit): subordinate id ranges
# in /etc/subuid and /etc/subgid, Debian's newuidmap/newgidmap (package uidmap).
#   - podman as that user, --runtime hull: podman maps the user's ranges into its user
#     namespace and runs the runtime as root there (no --root, state in $XDG_RUNTIME_DIR);
#   - hull itself as that user, with a config that maps the user's own id and its range: the
#     runtime writes the multi-range maps through newuidmap/newgidmap (src/process/idmap.rs).

RL_USER=""

rootless_setup() {
  local d=$WORK/rootless
  RL_USER=hull-rl-$$
  RL_HOME=$d/home
  mkdir -p "$d"
  # usermod refuses subordinate ids without the files: made here (and removed after) if absent.
  RL_MADE=()
  local f
  for f in /etc/subuid /etc/subgid; do
    [ -e "$f" ] || { install -m 644 /dev/null "$f"; RL_MADE+=("$f"); }
  done
  useradd -M -d "$RL_HOME" -s /bin/sh -U "$RL_USER"
  RL_UID=$(id -u "$RL_USER")
  RL_GID=$(id -g "$RL_USER")
  # useradd gives a range when /etc/subuid exists and login.defs allows; else one is added
  # above every range already given (never overlapping another user's).
  local end
  for f in subuid subgid; do
    if ! grep -q "^$RL_USER:" "/etc/$f" 2>/dev/null; then
      end=$(awk -F: 'BEGIN {m = 100000} {e = $2 + $3; if (e > m) m = e} END {print m}' /etc/subuid /etc/subgid 2>/dev/null)
      usermod "--add-${f#sub}s" "$end-$((end + 65535))" "$RL_USER"
    fi
  done
  RL_SUBUID=$(awk -F: -v u="$RL_USER" '$1 == u {print $2; exit}' /etc/subuid)
  RL_SUBGID=$(awk -F: -v u="$RL_USER" '$1 == u {print $2; exit}' /etc/subgid)
  # The user's own config files, where rootless podman looks (also when conmon runs
  # `podman container cleanup` for it, with none of our environment).
  local conf=$RL_HOME/.config/containers
  mkdir -p "$RL_HOME/run" "$conf"
  chmod 700 "$RL_HOME/run"
  podman_conf "$conf" "$RL_HOME/storage" "$RL_HOME/run/storage"
  cp "$WORK/busybox.tar" "$RL_HOME/busybox.tar"
  chown -R "$RL_USER:$RL_USER" "$RL_HOME"
  cat >"$WORK/bin/podman-rootless" <<EOF
#!/bin/sh
cd /
exec timeout --foreground -k 5 ${BOUND:-90} runuser -u $RL_USER -- env HOME=$RL_HOME XDG_RUNTIME_DIR=$RL_HOME/run \\
  podman --cgroup-manager cgroupfs --events-backend file "\$@"
EOF
  cat >"$WORK/bin/hull-rootless" <<EOF
#!/bin/sh
exec timeout --foreground -k 5 ${BOUND:-90} runuser -u $RL_USER -- env HOME=$RL_HOME XDG_RUNTIME_DIR=$RL_HOME/run $HULL "\$@"
EOF
  chmod +x "$WORK/bin/podman-rootless" "$WORK/bin/hull-rootless"
  E=$WORK/bin/podman-rootless
  "$E" load -q -i "$RL_HOME/busybox.tar" >/dev/null
}

rootless_cleanup() {
  local id
  [ -z "$("$E" ps -aq 2>/dev/null)" ] || "$E" rm -f -a -t 0 >/dev/null 2>&1 || true
  for id in $("$WORK/bin/hull-rootless" list -q 2>/dev/null); do
    "$WORK/bin/hull-rootless" delete -f "$id" >/dev/null 2>&1 || true
  done
}

# Everything of the user: its containers, podman's pause process (it holds the user namespace
# and its mounts), any process left, the user and its ranges.
rootless_teardown() {
  [ -n "$RL_USER" ] || return 0
  local pid left=0
  E=$WORK/bin/podman-rootless
  if [ -x "$E" ]; then
    rootless_cleanup
    "$E" rmi -a -f >/dev/null 2>&1 || true
  fi
  pid=$(cat "$RL_HOME/run/libpod/tmp/pause.pid" 2>/dev/null || true)
  [ -z "$pid" ] || stop_pid "$pid" 10
  for pid in $(ps -o pid= -u "$RL_USER" 2>/dev/null); do
    note "process $pid of $RL_USER left: $({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | cut -c1-100): killed"
    kill -KILL "$pid" 2>/dev/null || true
    left=1
  done
  # (a killed process may take a moment to leave)
  [ "$left" = 0 ] || wait_for 10 sh -c "! ps -u '$RL_USER' >/dev/null"
  userdel "$RL_USER" 2>/dev/null || note "userdel $RL_USER failed"
  local f
  for f in subuid subgid; do
    if grep -q "^$RL_USER:" "/etc/$f"; then
      sed -i "/^$RL_USER:/d" "/etc/$f"
    fi
  done
  for f in "${RL_MADE[@]}"; do
    [ -s "$f" ] || rm -f "$f"
  done
  RL_USER=""
  return $left
}

sc_rootless_podman() {
  local n=rl-$1 out
  out=$("$E" --runtime "$1" run --rm "$IMG" sh -c 'id -u; cat /proc/self/uid_map /proc/self/gid_map' | awk '{$1 = $1; print}')
  expect_eq "run --rm: root inside, the user and its subordinate range outside" "$out" "0
0 $RL_UID 1
1 $RL_SUBUID 65536
0 $RL_GID 1
1 $RL_SUBGID 65536"
  "$E" --runtime "$1" run -d --name "$n" "$IMG" sh -c "$LOOP" >/dev/null
  wait_for 20 logs_have "$n" started
  out=$("$E" exec -u 1000 -e A=b -w /home/user "$n" sh -c 'echo "$(id -u) $A $(pwd)"')
  expect_eq "exec as another user, with env and cwd" "$out" "1000 b /home/user"
  expect_eq "exec exits with the process's status" "$(rc "$E" exec "$n" sh -c 'exit 7')" 7
  expect_eq "the container's root is the user on the host" "$(stat -c %u "/proc/$(pid_of "$n")")" "$RL_UID"
  "$E" stop -t 20 "$n" >/dev/null
  expect_eq "stop: exited with the trapped TERM's 0" "$("$E" inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$n")" "exited 0"
  "$E" rm "$n" >/dev/null
  expect "rm: gone" gone "$n"
  observe "$out"
}

# hull as the user itself, mapping the user's own id and its whole subordinate range: two
# ranges, so hull goes through newuidmap/newgidmap.
sc_rootless_hull() {
  local b=$WORK/rootless/bundle id=rl-direct out root=$RL_HOME/run/hull
  mkdir -p "$b"
  HULL=$HULL "$REPO/hack/mkbundle.sh" "$b" sh -c "${LOOP/echo started/touch /tmp/started}" >/dev/null
  jq --argjson u "$RL_UID" --argjson g "$RL_GID" --argjson su "$RL_SUBUID" --argjson sg "$RL_SUBGID" '
    .root.readonly = false
    | .linux.namespaces += [{"type": "user"}]
    | .linux.uidMappings = [{containerID: 0, hostID: $u, size: 1}, {containerID: 1, hostID: $su, size: 65536}]
    | .linux.gidMappings = [{containerID: 0, hostID: $g, size: 1}, {containerID: 1, hostID: $sg, size: 65536}]' \
    "$b/config.json" >"$b/config.json.new"
  mv "$b/config.json.new" "$b/config.json"
  chown -R "$RL_USER:$RL_USER" "$b"
  chmod 1777 "$b/rootfs/tmp"
  (cd "$b" && "$WORK/bin/hull-rootless" run -d -b "$b" "$id" </dev/null >/dev/null 2>"$WORK/last.err")
  expect "state under \$XDG_RUNTIME_DIR/hull" test -e "$root/$id/state.json"
  wait_for 20 test -e "$b/rootfs/tmp/started"
  out=$("$WORK/bin/hull-rootless" exec "$id" sh -c 'cat /proc/self/uid_map /proc/self/gid_map' | awk '{$1 = $1; print}')
  expect_eq "the maps newuidmap and newgidmap wrote" "$out" "0 $RL_UID 1
1 $RL_SUBUID 65536
0 $RL_GID 1
1 $RL_SUBGID 65536"
  out=$("$WORK/bin/hull-rootless" exec --user 1000:1000 "$id" sh -c 'touch /tmp/f; stat -c %u /tmp/f')
  expect_eq "a file made by uid 1000 inside" "$out" 1000
  expect_eq "... belongs to subordinate uid $((RL_SUBUID + 999)) on the host" \
    "$(stat -c %u "$b/rootfs/tmp/f")" $((RL_SUBUID + 999))
  "$WORK/bin/hull-rootless" kill "$id" TERM
  wait_for 20 sh -c "'$WORK/bin/hull-rootless' state $id | grep -q '\"status\": *\"stopped\"'"
  "$WORK/bin/hull-rootless" delete "$id"
  expect "delete: no state left" test ! -e "$root/$id"
  observe "$out"
}

run_rootless() {
  ENGINE=rootless
  rootless_setup
  eng_cleanup() { rootless_cleanup; }
  scenario rootless_podman
  scenario rootless_hull hull
  rootless_teardown
}
