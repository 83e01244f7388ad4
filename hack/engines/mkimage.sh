#!/usr/bin/env bash
# Builds a one-layer busybox image as a `docker save` archive, with no registry: the layer is
# busybox-static and its applets, two users and a few directories the engine scenarios use.
# Docker, podman (docker-archive) and containerd (`ctr images import`) all load this format.
#   hack/engines/mkimage.sh OUT.tar [NAME:TAG]     (default name localhost/hull-busybox:latest)
# Deterministic for a given busybox binary (sorted entries, mtime 0). Needs jq, sha256sum, tar.
set -euo pipefail
out=$1
name=${2:-localhost/hull-busybox:latest}
tmp=$(mktemp -d /tmp/hull-mkimage.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

r=$tmp/rootfs
mkdir -p "$r"/{bin,etc,proc,sys,dev,run,var,root,home/user,data,tmp}
chmod 1777 "$r/tmp"
chmod 700 "$r/root"
cp /bin/busybox "$r/bin/busybox"
for applet in $("$r/bin/busybox" --list); do
  [ -e "$r/bin/$applet" ] || ln -s busybox "$r/bin/$applet"
done
cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$r/etc/group" <<'EOF'
root:x:0:
user:x:1000:
nogroup:x:65534:
EOF
chown 1000:1000 "$r/home/user"
# Image content under a directory that the scenarios cover with a tmpfs (podman's tmpcopyup
# copies it up; a plain tmpfs hides it).
echo seed >"$r/data/seed"

mkdir -p "$tmp/image/layer"
tar --sort=name --mtime=@0 --numeric-owner --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -cf "$tmp/image/layer/layer.tar" -C "$r" .
diff_id=sha256:$(sha256sum "$tmp/image/layer/layer.tar" | cut -d' ' -f1)

case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
jq -n --arg arch "$arch" --arg diff "$diff_id" '{
  architecture: $arch, os: "linux", created: "1970-01-01T00:00:00Z",
  config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           Cmd: ["sh"], WorkingDir: "/"},
  rootfs: {type: "layers", diff_ids: [$diff]},
  history: [{created: "1970-01-01T00:00:00Z", created_by: "hack/engines/mkimage.sh"}]
}' >"$tmp/config.json"
config=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
mv "$tmp/config.json" "$tmp/image/$config.json"
jq -n --arg c "$config.json" --arg n "$name" \
  '[{Config: $c, RepoTags: [$n], Layers: ["layer/layer.tar"]}]' >"$tmp/image/manifest.json"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out" -C "$tmp/image" .
