#!/usr/bin/env bash
# Runs every test lane of hull on this machine (as root), installing what is missing first.
# Lanes and their rough cost on a 2-core machine (a cold build dominates):
#   setup        apt packages                         ~0 s warm, ~60 s cold
#   lint         cargo fmt --check, clippy -D warnings ~60-120 s cold; hack/modgraph.py (no import
#                circle between the crate's modules, and its self-test) <1 s
#   unit         cargo test --lib/bins, whole workspace ~90 s cold
#   integration  real containers through the binary    ~60 s
#   lanes        hack/lanes/*.sh (image, cgroups, conformance, engines, vm, fuzz, unit-nonroot: the
#                unit tests again as uid 65534, ~3 s), each says its own cost
# Prints one summary line "N passed, N failed" counted over the lanes.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if [ "$(id -u)" != 0 ]; then
  echo "hack/test.sh: run as root (the tests make real containers)" >&2
  exit 1
fi

passed=0; failed=0; failures=()
lane() {  # lane NAME COMMAND...
  local name=$1; shift
  local t0=$SECONDS
  echo "=== lane: $name"
  if "$@"; then
    passed=$((passed+1)); echo "=== lane $name: ok ($((SECONDS-t0)) s)"
  else
    failed=$((failed+1)); failures+=("$name"); echo "=== lane $name: FAILED ($((SECONDS-t0)) s)"
  fi
}

hack/setup.sh || { echo "setup failed"; exit 1; }

# (lint also refuses merge-conflict markers left in any tracked file, and import circles)
lane lint bash -c '! git grep -nE "^(<<<<<<<|>>>>>>>)( |$)" && python3 hack/modgraph.py --self-test && python3 hack/modgraph.py src && cargo fmt --all -- --check && cargo clippy --workspace --all-targets -q -- -D warnings'
lane build bash -c 'cargo build --workspace -q && RUSTFLAGS="-C target-feature=+crt-static" cargo build -q -p hull-probe --target-dir target/probe'
lane unit cargo test --workspace --lib --bins -q
lane integration cargo test -p hull-integration -q -- --test-threads 4
for l in hack/lanes/*.sh; do
  [ -e "$l" ] || continue
  lane "$(basename "$l" .sh)" bash "$l"
done

# Nothing may be left behind by any lane.
leaks=$(grep -cE 'hull-(bundle|root)' /proc/self/mountinfo || true)
lane no-leaks test "${leaks:-0}" -eq 0

echo
[ ${#failures[@]} -gt 0 ] && echo "failed lanes: ${failures[*]}"
echo "lanes: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
