#!/usr/bin/env bash
# Installs the system packages hull's build, demo and tests need (Debian). Idempotent: it
# asks apt only for what is missing. Cost: ~0 s when all is present, ~30-60 s on a new machine.
set -euo pipefail

packages=(
  build-essential pkg-config libseccomp-dev   # building hull (libseccomp crate)
  busybox-static                              # the rootfs of test and demo containers
  runc crun                                   # reference runtimes for differential tests
  criu                                        # checkpoint/restore (the VM lane runs it)
  jq                                          # scripts read JSON
  dbus-daemon                                 # a private bus for the D-Bus client tests
  golang-github-containers-common             # podman's seccomp profile, test data
  "$@"
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo is required (rustup)" >&2; exit 1; }
