#!/usr/bin/env bash
# Benchmark of hull-image on a generated image (default: 5 gzip layers, 20 000 files,
# 300 MB); median wall time and peak RSS of:
#  - from a layout: `umoci unpack` against `hull-image unpack`, and the time to make a
#    second bundle of the same image in overlay mode;
#  - from a registry (Debian's docker-registry on 127.0.0.1, private root and port):
#    `skopeo copy docker://... oci:...` + `umoci unpack` (the two times added, the larger
#    peak RSS) against `hull-image unpack docker://...` (goal: at most half the time), and
#    `hull-image pull` into an empty store; `--jobs 1` (no prefetch of later layers) for
#    comparison with the default of 3.
# Needs root, umoci, skopeo and docker-registry. Figures mean something on an idle machine
# only.
#
#   hack/bench-image.sh [RUNS] [LAYERS] [FILES] [MB]
#   BENCH_IMAGE_ONLY=registry hack/bench-image.sh ...   (skip the layout part)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5} layers=${2:-5} files=${3:-20000} mb=${4:-300}
only=${BENCH_IMAGE_ONLY:-}

# Release build without the workspace's LTO: the same code, minutes less to build.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
cargo build -q --release -p hull-image --bin hull-image --example mkimage
bin=target/release/hull-image

work=$(mktemp -d /var/tmp/hull-image-bench.XXXXXX)
registry_pid=
cleanup() {
    if [ -n "$registry_pid" ]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    for b in "$work"/ovl*; do
        [ -d "$b" ] && "$bin" umount "$b" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

echo "generating image: $layers layers, $files files, $mb MB ..." >&2
target/release/examples/mkimage "$work/img" "$layers" "$files" "$mb"
du -sh "$work/img" >&2

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# measure NAME CMD...: appends "seconds kilobytes" per run to $work/NAME.
measure() {
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    cat "$work/t" >>"$work/$name"
}
col() { cut -d' ' -f"$2" "$work/$1" | median; }
row() { printf '%-30s %8s s  %8s KiB peak RSS\n' "$1" "$(col "$2" 1)" "$(col "$2" 2)"; }
ratio() {  # ratio LABEL HULL BASE
    awk -v h="$(col "$2" 1)" -v u="$(col "$3" 1)" -v hm="$(col "$2" 2)" -v um="$(col "$3" 2)" -v l="$1" \
        'BEGIN { printf "%s: time %.2fx, memory %.2fx\n", l, h/u, hm/um }'
}

echo "image: $layers layers, $files files, $mb MB; $runs runs, medians"

if [ "$only" != registry ]; then
    for i in $(seq "$runs"); do
        sync
        measure umoci umoci unpack --image "$work/img:bench" "$work/b-umoci"
        rm -rf "$work/b-umoci"
        sync
        measure hull "$bin" unpack --quiet "oci:$work/img:bench" "$work/b-hull"
        rm -rf "$work/b-hull"
    done
    # Overlay: the first bundle fills the store; each further one should be one mount.
    measure ovl-first "$bin" unpack --quiet --overlay --store "$work/store" "oci:$work/img:bench" "$work/ovl0"
    for i in $(seq "$runs"); do
        start=$(date +%s%N)
        "$bin" unpack --quiet --overlay --store "$work/store" "oci:$work/img:bench" "$work/ovl$i"
        end=$(date +%s%N)
        echo $(( (end - start) / 1000 )) >>"$work/ovl-second"
    done
    echo "from an OCI layout:"
    row "umoci unpack" umoci
    row "hull-image unpack" hull
    ratio "hull-image / umoci" hull umoci
    printf '%-30s %8s s\n' "overlay, first bundle" "$(col ovl-first 1)"
    awk -v us="$(median <"$work/ovl-second")" \
        'BEGIN { printf "overlay, second bundle         %8.1f ms (target < 50 ms)\n", us/1000 }'
fi

# From a registry on loopback: the generated image pushed as it is.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "127.0.0.1:%s", secret: bench}\n' \
    "$work/registry" "$port" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
ref="docker://127.0.0.1:$port/bench:bench"
skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$work/img:bench" "$ref"
for i in $(seq "$runs"); do
    sync
    measure skopeo skopeo copy -q --src-tls-verify=false "$ref" "oci:$work/copy:bench"
    measure umoci-reg umoci unpack --image "$work/copy:bench" "$work/b-umoci"
    rm -rf "$work/copy" "$work/b-umoci"
    sync
    measure hull-reg "$bin" unpack --quiet "$ref" "$work/b-hull"
    rm -rf "$work/b-hull"
    sync
    measure hull-reg-1 "$bin" unpack --quiet --jobs 1 "$ref" "$work/b-hull"
    rm -rf "$work/b-hull"
    sync
    measure hull-pull "$bin" pull --quiet --store "$work/pull-store" "$ref"
    "$bin" rmi --store "$work/pull-store" "$ref"
    "$bin" gc --store "$work/pull-store" >/dev/null 2>&1
done
# skopeo + umoci: per run, the two times added and the larger peak.
paste -d' ' "$work/skopeo" "$work/umoci-reg" |
    awk '{ print $1 + $3, ($2 > $4 ? $2 : $4) }' >"$work/baseline"
echo "from a registry on 127.0.0.1:"
row "skopeo copy" skopeo
row "umoci unpack (of the copy)" umoci-reg
row "skopeo copy + umoci unpack" baseline
row "hull-image unpack docker://" hull-reg
ratio "hull-image / (skopeo + umoci)" hull-reg baseline
row "  the same, --jobs 1" hull-reg-1
row "hull-image pull (empty store)" hull-pull
