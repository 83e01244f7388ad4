#!/usr/bin/env bash
# Test lane of hull-image: unit and integration tests, including the differential test
# against umoci, the umoci/skopeo/runc-made images, pulls from a docker-registry started
# on 127.0.0.1 (anonymous, basic auth over TLS, token auth, corrupt, interrupted and
# stalled downloads; plain HTTP by a name given in a private mount namespace's
# /etc/hosts), runs killed mid-layer, and repack round trips read back by umoci, skopeo
# and podman. Needs root.
# Cost on the 2-core machine, measured while other builds loaded it (load ~12): 4.8 min,
# of which the tests ~3 min (registry ~65 s, repack ~45 s, killed-mid-layer ~25 s, the
# rest ~45 s) and fmt, clippy and the test build the rest; a cold build adds ~2 min.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v umoci >/dev/null || need+=(umoci)
command -v skopeo >/dev/null || need+=(skopeo)
command -v runc >/dev/null || need+=(runc)
command -v setpriv >/dev/null && command -v unshare >/dev/null || need+=(util-linux)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
command -v podman >/dev/null || need+=(podman)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    # docker-registry's package would start a registry daemon: no daemons from apt here
    # (the tests start their own, on ports of their own).
    policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy=/usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
    [ -n "$policy" ] && rm -f "$policy"
fi

cargo fmt -p hull-image -- --check
cargo clippy -p hull-image --tests --examples -- -D warnings
# Integration tests share the machine's 2 cores with other lanes.
cargo test -p hull-image -- --test-threads=2
