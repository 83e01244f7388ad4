#!/usr/bin/env bash
# Test lane of the cgroup v2 device filter (eBPF): generator unit tests, then the programs
# loaded, attached and checked by effect under the host's cgroup2 mount. Needs root (it
# reports "skipped" otherwise). A few seconds once built.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo test -p hull-cgroups --lib -q bpf::
cargo test -p hull-cgroups --test devices_bpf
