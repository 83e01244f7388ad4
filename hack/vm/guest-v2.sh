#!/usr/bin/env bash
# Runs inside the cgroup2-only VM (hack/vm.sh v2 -- hack/vm/guest-v2.sh): hull's v2 manager
# checked by effect with real containers, TAP on stdout (also kept in target/vm/guest-v2.tap
# on the shared repository). Exit status: non-zero on any failure.
#
#   guest-v2.sh [CHECK...]   run only these checks (names without check_, see checks-v2.sh)
#
# hull is the binary built on the host (target/release/hull, over the 9p share). It links
# libseccomp dynamically; hack/vm.sh ships the libraries ldd lists for it into the initramfs,
# which keeps this mode a 3-second busybox boot instead of a full distribution.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec > >(tee target/vm/guest-v2.tap) 2>&1
# shellcheck source=hack/vm/lib.sh
. hack/vm/lib.sh
# shellcheck source=hack/vm/checks-v2.sh
. hack/vm/checks-v2.sh

echo "TAP version 13"
echo "# guest-v2: kernel $(uname -r), $("$HULL" --version | sed -n 1p)"
t0=$SECONDS
if [ $# -gt 0 ]; then run_checks "$@"; else run_checks "${V2_CHECKS[@]}"; fi
echo "# checks took $((SECONDS - t0)) s"
summary guest-v2
