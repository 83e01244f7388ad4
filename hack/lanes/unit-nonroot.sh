#!/usr/bin/env bash
# Test lane: the workspace's unit tests (lib and bin targets) again, as uid/gid 65534 with
# no groups and no capabilities. A test that needs root must say so (a "SKIP name: why" line
# on stderr, from sys::testing::skip) and pass; one that fails only because the uid is not
# root fails this lane. Prints each binary's result line, the SKIP lines, and the totals.
# Cost: about 3 s once the unit lane has built the test binaries (cargo only checks that they
# are fresh: --no-run); it builds them when run on its own. Needs root to switch uid.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
  echo "unit-nonroot: run as root (it switches to uid 65534 itself)" >&2
  exit 1
fi
uid=65534

# The test binaries, from cargo's own account of what it built.
built=$(cargo test --workspace --lib --bins --no-run -q --message-format=json)
mapfile -t bins < <(python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["profile"]["test"] and m.get("executable"):
        print(m["executable"])
' <<<"$built")
[ ${#bins[@]} -gt 0 ] || { echo "unit-nonroot: cargo listed no test binary" >&2; exit 1; }

# HOME and TMPDIR of the unprivileged uid: its own fresh directory, removed at the end.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chown "$uid:$uid" "$tmp"
run_as() {
  (cd "$tmp" && env -i PATH="$PATH" HOME="$tmp" TMPDIR="$tmp" LANG=C.UTF-8 \
    setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@")
}

passed=0; failed=0; skipped=0; broken=()
for bin in "${bins[@]}"; do
  # A checkout the uid cannot read (e.g. under /root): run a copy. The binaries hold what
  # they read from the source tree (include_str!).
  if ! run_as test -x "$bin"; then
    mkdir -p "$tmp/bin" && chmod 755 "$tmp/bin"
    cp "$bin" "$tmp/bin/" && bin=$tmp/bin/$(basename "$bin")
  fi
  out=$(run_as "$bin" -q 2>&1) && rc=0 || rc=$?
  result=$(grep -E '^test result: ' <<<"$out" | tail -1 || true)
  echo "$(basename "$bin"): ${result:-no result line (exit $rc)}"
  grep -o 'SKIP [^ ]*: .*' <<<"$out" || true
  p=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$result")
  f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$result")
  s=$( (grep -o 'SKIP [^ ]*: ' <<<"$out" || true) | wc -l)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + s))
  if [ "$rc" != 0 ] || [ -z "$result" ]; then
    broken+=("$(basename "$bin")")
    # The failures' own report, after the harness's list of them.
    sed -n '/^failures:$/,$p' <<<"$out" | head -200
  fi
done

echo "unit-nonroot: as uid $uid: $((passed - skipped)) ran and passed, $skipped skipped" \
  "(listed above, counted among the harness's $passed passed), $failed failed"
[ ${#broken[@]} -eq 0 ] || { echo "unit-nonroot: failed: ${broken[*]}" >&2; exit 1; }
