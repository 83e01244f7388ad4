#!/usr/bin/env bash
# Installs the system packages hull's build, demo and tests need (Debian). Idempotent: it
# asks apt only for what is missing. Cost: ~0 s when all is present, ~60-120 s on a new machine
# (the engines: podman, containerd, docker.io are most of it), plus the fuzz lane's nightly
# toolchain and cargo-fuzz (~3 minutes once, below).
set -euo pipefail

packages=(
  build-essential pkg-config libseccomp-dev   # building hull (libseccomp crate)
  busybox-static                              # the rootfs of test and demo containers
  runc crun                                   # reference runtimes for differential tests
  criu                                        # checkpoint/restore (the VM lane runs it)
  jq                                          # scripts read JSON
  python3                                     # hack/modgraph.py (lint), the engines lane typist
  dbus-daemon                                 # a private bus for the D-Bus client tests
  golang-github-containers-common             # podman's seccomp profile, test data
  iproute2 util-linux                         # ip (veth pairs, netns) and taskset for tests
  podman conmon catatonit containerd docker.io # the engines lane: hull behind each engine
  uidmap slirp4netns fuse-overlayfs iptables   # rootless podman; what dockerd expects
  "$@"
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Installing containerd and docker.io must not start their daemons (the engines lane starts
  # private ones): a policy-rc.d that refuses, made here only if there is none, and removed
  # again only if it was made here.
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then rm -f "$policy"; trap - EXIT; fi
fi
command -v cargo >/dev/null || { echo "setup: cargo is required (rustup)" >&2; exit 1; }

# The fuzz lane (hack/lanes/fuzz.sh): a nightly toolchain (minimal profile: ~30 s of
# download, once) and cargo-fuzz (built from source, once: ~2-3 CPU-minutes).
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  command -v rustup >/dev/null || { echo "setup: rustup is required (the fuzz lane needs nightly)" >&2; exit 1; }
  echo "setup: installing the nightly toolchain (fuzz lane)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  echo "setup: installing cargo-fuzz (fuzz lane)"
  cargo install cargo-fuzz --locked --version 0.13.2
fi
