#!/usr/bin/env bash
# From a new machine to a running container: installs what is needed, builds hull, makes a
# busybox bundle and runs a container that reports from inside.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
cargo build --release -p hull
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
HULL=target/release/hull hack/mkbundle.sh "$work/bundle" sh -c \
  'echo "hello from inside a hull container"; echo "hostname: $(hostname)"; echo "pid: $$"; echo "root: $(ls /)"; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status'
echo "+ hull run -b $work/bundle demo-$$"
target/release/hull --root "$work/state" run -b "$work/bundle" "demo-$$"
