#!/usr/bin/env bash
# Test lane: the cargo-fuzz targets in fuzz/ (a workspace of its own, nightly toolchain,
# AddressSanitizer), each run for a bounded time from the seeds in fuzz/seeds/TARGET plus the
# corpus kept in fuzz/corpus/TARGET (grows from run to run when the checkout is kept):
#   config    config.json from bytes: parse, validate, cgroup files rendered from resources
#   state     state.json from bytes: parse, public and hook state, saved cgroup manager
#   seccomp   linux.seccomp from bytes: checked and compiled by libseccomp (never loaded)
#   layer     hull-image's layer applier, as root, on a tree with symlinks out of it, in a
#             sandbox (fuzz/src/lib.rs) where nothing may land outside the tree
# Any crash, panic, leak, timeout (10 s per input) or out-of-memory fails the lane; the input
# is kept in fuzz/artifacts/TARGET/ and reproduces with `cargo +nightly fuzz run TARGET FILE`.
# A crash found becomes a regression test in the crate's unit tests, with the fix.
#
# Installs what it needs (network the first time): the nightly toolchain (minimal profile)
# and cargo-fuzz (`cargo install`, a few minutes once). Cost, measured on a 2-core machine:
# the runs 90 s (FUZZ_SECONDS=20 per target, plus start-up); the build 0-5 s warm, and cold
# (every dependency again, instrumented) 10.5 CPU-minutes: 46 min wall on that machine while
# it ran other builds (load 13-21), 7 min after a change to hull's own crates.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-20}
targets=(config state seccomp layer)

if [ "$(id -u)" != 0 ]; then
  echo "fuzz lane: run as root (the layer target applies layers as root, in its own mount namespace)" >&2
  exit 1
fi
t0=$SECONDS
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build -O
build=$((SECONDS - t0))

failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log=fuzz/artifacts/$t.log
  mkdir -p fuzz/artifacts
  if cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "fuzz $t: ${runs:-?} runs in $secs s, no crash"
  else
    echo "fuzz $t: FAILED (input in fuzz/artifacts/$t/):"
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -10 || tail -20 "$log"
    failed+=("$t")
  fi
done
echo "fuzz lane cost: build $build s, runs $((SECONDS - t0 - build)) s"
[ ${#failed[@]} = 0 ] || { echo "fuzz lane: crashes in: ${failed[*]}"; exit 1; }
