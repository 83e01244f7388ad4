#!/usr/bin/env bash
# Test lane: the cargo-fuzz targets in fuzz/ (a workspace of its own, nightly toolchain,
# AddressSanitizer), each run for a bounded time from the seeds in fuzz/seeds/TARGET plus the
# corpus kept in fuzz/corpus/TARGET (grows from run to run when the checkout is kept):
#   config    config.json from bytes: parse, validate, cgroup files rendered from resources
#   state     state.json from bytes: parse, public and hook state, the cgroup handle round trip
#   seccomp   linux.seccomp from bytes: checked and compiled by libseccomp (never loaded)
#   layer     hull-image's layer applier, as root, on a tree with symlinks out of it, in a
#             sandbox (fuzz/src/lib.rs) where nothing may land outside the tree
# Any crash, panic, leak, timeout (10 s per input) or out-of-memory fails the lane; the input
# is kept in fuzz/artifacts/TARGET/ and reproduces with `cargo +nightly fuzz run TARGET FILE`.
# A crash found becomes a regression test in the crate's unit tests, with the fix.
#
# Needs the nightly toolchain and cargo-fuzz, which hack/setup.sh installs (hack/test.sh runs
# it first); when either is missing the lane FAILS, saying so. HULL_SKIP_FUZZ=1 skips it on
# purpose, and says so.
#
# Cost on a 2-core machine, measured: the runs 90 s (FUZZ_SECONDS=20 per target, plus
# start-up); the build 0-5 s warm; cold (every dependency again, instrumented) 10.5
# CPU-minutes, so no less than ~5.5 minutes of wall time on 2 cores (46 min were seen with
# the machine running other builds, load 13-21); ~7 min after a change to hull's own crates.
# In CI (a fresh checkout) the cold build is paid every time: about 7-8 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-20}
targets=(config state seccomp layer)

if [ "$(id -u)" != 0 ]; then
  echo "fuzz lane: run as root (the layer target applies layers as root, in its own mount namespace)" >&2
  exit 1
fi
if [ "${HULL_SKIP_FUZZ:-}" = 1 ]; then
  echo "fuzz lane: SKIPPED because HULL_SKIP_FUZZ=1 -- the fuzz targets were NOT built or run"
  exit 0
fi
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly' || ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz lane: FAILED: the nightly toolchain or cargo-fuzz is missing (hack/setup.sh installs" \
    "both); nothing was fuzzed. HULL_SKIP_FUZZ=1 skips this lane on purpose." >&2
  exit 1
fi
t0=$SECONDS
cargo +nightly fuzz build -O
build=$((SECONDS - t0))

# Leaks inside libseccomp itself are not hull's (fuzz/lsan-suppressions.txt says which).
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log=fuzz/artifacts/$t.log
  mkdir -p fuzz/artifacts
  if cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "${runs:-0}" -gt 0 ]; then
      echo "fuzz $t: $runs runs in $secs s, no crash"
    else
      echo "fuzz $t: FAILED: libFuzzer reported no executed inputs (see $log)"
      failed+=("$t")
    fi
  else
    echo "fuzz $t: FAILED (input in fuzz/artifacts/$t/):"
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -10 || tail -20 "$log"
    failed+=("$t")
  fi
done
echo "fuzz lane cost: build $build s, runs $((SECONDS - t0 - build)) s"
[ ${#failed[@]} = 0 ] || { echo "fuzz lane: crashes in: ${failed[*]}"; exit 1; }
