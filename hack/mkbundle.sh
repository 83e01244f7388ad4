#!/usr/bin/env bash
# Makes a busybox bundle: hack/mkbundle.sh DIR [ARGS...]. The rootfs holds busybox-static and
# its applets; config.json is `hull spec` with terminal off and ARGS (default: sh) as the process.
set -euo pipefail
dir=$1; shift
hull=${HULL:-$(dirname "$0")/../target/release/hull}
mkdir -p "$dir/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$dir/rootfs/bin/busybox"
for applet in $("$dir/rootfs/bin/busybox" --list); do
  [ -e "$dir/rootfs/bin/$applet" ] || ln -s busybox "$dir/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/rootfs/etc/passwd"
echo 'root:x:0:' > "$dir/rootfs/etc/group"
rm -f "$dir/config.json"
"$hull" spec -b "$dir"
args=$(printf '%s\n' "${@:-sh}" | jq -R . | jq -s .)
jq --argjson args "$args" '.process.terminal = false | .process.args = $args' \
  "$dir/config.json" > "$dir/config.json.new" && mv "$dir/config.json.new" "$dir/config.json"
