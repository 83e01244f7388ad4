#!/usr/bin/env bash
# Benchmark of hull-image against `umoci unpack`, on a generated image (default: 5 gzip
# layers, 20 000 files, 300 MB): median wall time and peak RSS of a flatten unpack, and
# the time to make a second bundle of the same image in overlay mode. Needs root and umoci.
#
#   hack/bench-image.sh [RUNS] [LAYERS] [FILES] [MB]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5} layers=${2:-5} files=${3:-20000} mb=${4:-300}

# Release build without the workspace's LTO: the same code, minutes less to build.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
cargo build -q --release -p hull-image --bin hull-image --example mkimage
bin=target/release/hull-image

work=$(mktemp -d /var/tmp/hull-image-bench.XXXXXX)
cleanup() {
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

u_t=$(cut -d' ' -f1 "$work/umoci" | median); u_m=$(cut -d' ' -f2 "$work/umoci" | median)
h_t=$(cut -d' ' -f1 "$work/hull" | median); h_m=$(cut -d' ' -f2 "$work/hull" | median)
o1=$(cut -d' ' -f1 "$work/ovl-first")
o2=$(median <"$work/ovl-second")
echo "image: $layers layers, $files files, $mb MB; $runs runs, medians"
printf '%-28s %8s s  %8s KiB peak RSS\n' "umoci unpack" "$u_t" "$u_m"
printf '%-28s %8s s  %8s KiB peak RSS\n' "hull-image unpack" "$h_t" "$h_m"
awk -v h="$h_t" -v u="$u_t" -v hm="$h_m" -v um="$u_m" \
    'BEGIN { printf "hull-image / umoci: time %.2fx, memory %.2fx\n", h/u, hm/um }'
printf '%-28s %8s s\n' "overlay, first bundle" "$o1"
awk -v us="$o2" 'BEGIN { printf "overlay, second bundle       %8.1f ms (target < 50 ms)\n", us/1000 }'
