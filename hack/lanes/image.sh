#!/usr/bin/env bash
# Test lane of hull-image: unit and integration tests, including the differential test
# against umoci and the umoci/skopeo/runc-made images. Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v umoci >/dev/null || need+=(umoci)
command -v skopeo >/dev/null || need+=(skopeo)
command -v runc >/dev/null || need+=(runc)
command -v setpriv >/dev/null || need+=(util-linux)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

cargo fmt -p hull-image -- --check
cargo clippy -p hull-image --tests --examples -- -D warnings
# Integration tests share the machine's 2 cores with other lanes.
cargo test -p hull-image -- --test-threads=2
