#!/usr/bin/env bash
# Boots a throw-away QEMU VM and runs one command in it, for what the host cannot test: this
# machine is cgroup v1-hybrid with no systemd PID 1.
#
#   hack/vm.sh v2 -- CMD...        cgroup2 alone at /sys/fs/cgroup (nsdelegate), every
#                                  controller enabled in the root's subtree_control; busybox
#                                  initramfs, PID 1 is a shell script
#   hack/vm.sh systemd -- CMD...   a minimal Debian with systemd as PID 1 (cgroup v2); CMD runs
#                                  as a oneshot service (Delegate=yes), then the VM resets
#                                  (qemu -no-reboot exits)
#   hack/vm.sh fetch [v2|systemd]  only fetch and build the cached pieces
#
# The guest's PID 1 is hack/vm/init, a busybox script in an initramfs (busybox-static, the
# kernel modules, bash and jq with their libraries). The repository is shared over 9p and
# mounted in the guest at the same path as on the host, read-write, so CMD is run from the
# repository root, sees target/ and writes results back.
# The exit status is CMD's; it travels back as a marker line on the serial console, and a
# missing marker (guest hung, crashed, timed out) is a failure (exit 124 on timeout).
#
# Nothing is installed on the host: `apt-get install qemu-system-x86` would remove the newer
# qemu-utils this machine has, and a kernel package would upgrade udev. Debian packages are
# fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a cache
# ($HULL_VM_CACHE, default target/vm); a second run costs only the boot.
#
# Environment: HULL_VM_CACHE, HULL_VM_TIMEOUT (seconds, default 900), HULL_VM_MEM (MiB, 1024),
# HULL_VM_QUIET=1 (don't echo the console, only keep it in $HULL_VM_CACHE/last-<mode>.log),
# HULL_VM_ENV (names of variables passed on to CMD; default "HULL HULL_VM_KEEP").
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${HULL_VM_CACHE:-$repo/target/vm}
timeout_s=${HULL_VM_TIMEOUT:-900}
mem=${HULL_VM_MEM:-1024}

say() { echo "vm: $*" >&2; }
die() { echo "vm: ERROR: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap and 9p passthrough need it)"

mode=${1:-}; shift || true
case $mode in
  v2 | systemd) [ "${1:-}" = -- ] && shift; [ $# -gt 0 ] || die "usage: $0 $mode -- CMD..." ;;
  fetch) ;;
  *) die "usage: $0 v2|systemd -- CMD...   or   $0 fetch [v2|systemd]" ;;
esac

mkdir -p "$cache"
sysroot=$cache/sysroot   # qemu, its libraries and the kernel package, unpacked

# --- the pieces -------------------------------------------------------------------------------

# qemu-system-x86 of Debian 12 and the shared libraries it links (found by running ldd on it
# in the sysroot until nothing is missing; the list is checked below).
qemu_pkgs=(qemu-system-x86 qemu-system-common qemu-system-data seabios
  libcapstone4 libfdt1 libslirp0 libpmem1 libndctl6 libdaxctl1 libibverbs1 librdmacm1
  libnl-route-3-200 libnl-3-200 libvdeplug2 libbrlapi0.8 libcacard0 libepoxy0 libsndio7.0
  libspice-server1 libusb-1.0-0 libusbredirparser1 libopus0 liborc-0.4-0
  libgstreamer-plugins-base1.0-0 libgstreamer1.0-0 libaio1 liburing2 libjpeg62-turbo
  libpixman-1-0 libnuma1 libseccomp2 libgnutls30 libpng16-16 libglib2.0-0 libzstd1)

# apt-get download with the package lists as they are; if a file is gone from the mirror
# (lists older than the archive), refresh the lists once. Neither installs anything.
download() {
  local err=$cache/debs/.err
  (cd "$cache/debs" && apt-get download -q "$@" >/dev/null 2>"$err") && return 0
  if grep -q '404' "$err"; then
    say "apt-get download: a file is gone from the mirror; refreshing the package lists"
    apt-get update -qq 2>/dev/null || true
    (cd "$cache/debs" && apt-get download -q "$@" >/dev/null 2>"$err") && return 0
  fi
  grep '^E:' "$err" | head -3 >&2
  die "cannot download $* (no network or no Debian mirror?): the VM lane cannot run"
}

fetch_sysroot() {
  [ -e "$sysroot/.done" ] && return 0
  local t0=$SECONDS
  say "fetching qemu and a kernel with apt-get download (once; cached in $cache)"
  mkdir -p "$cache/debs"
  local kernel
  kernel=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  [ -n "$kernel" ] || die "no linux-image-amd64 in the package lists"
  download "${qemu_pkgs[@]}" "$kernel"
  rm -rf "$sysroot" && mkdir -p "$sysroot"
  for deb in "$cache"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  local missing
  missing=$(LD_LIBRARY_PATH=$(qemu_libpath) ldd "$sysroot/usr/bin/qemu-system-x86_64" | grep 'not found' || true)
  [ -z "$missing" ] || die "qemu needs libraries not in the list: $missing"
  # modules.dep is made by the package's postinst, which never ran: make it in the sysroot.
  busybox depmod -b "$sysroot" "$(kver)"
  extract_vmlinux
  touch "$sysroot/.done"
  say "fetched in $((SECONDS - t0)) s"
}

qemu_libpath() { echo "$sysroot/usr/lib/x86_64-linux-gnu:$sysroot/lib/x86_64-linux-gnu"; }
kver() { basename "$(find "$sysroot/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -1)"; }

# QEMU boots the uncompressed kernel through its PVH entry. Debian's vmlinuz is a bzImage
# whose payload is one XZ stream: find its magic (fd 37 7a 58 5a 00) and decompress it.
extract_vmlinux() {
  local vmlinuz off
  vmlinuz=$(ls "$sysroot"/boot/vmlinuz-*)
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
  [ -n "$off" ] || die "$vmlinuz: no XZ stream"
  # xz stops at the stream's end, so tail may die of SIGPIPE: judge by the result.
  { tail -c +$((off + 1)) "$vmlinuz" || true; } | xz -dc --single-stream >"$cache/vmlinux.tmp"
  [ "$(head -c 4 "$cache/vmlinux.tmp" | od -An -c | tr -d ' ')" = 177ELF ] || die "$vmlinuz: no ELF kernel inside"
  mv "$cache/vmlinux.tmp" "$cache/vmlinux"
}

# Kernel modules the guests need and Debian builds as modules, in load order (dependencies
# first, from modules.dep): the virtio-mmio transport of microvm's devices, 9p for the share,
# ext4 (with crc32c) and virtio_blk for the systemd image, overlay for containers' rootfs,
# dummy for linux.netDevices (the development hosts have no dummy module); for criu, what a
# host would load on demand (the guest has no modprobe): nf_tables (its start-up probe, its
# network lock), nf_conntrack_netlink (it saves the conntrack table), the socket diag modules
# it reads sockets through, tun and veth (`criu check`).
modules_wanted=(virtio_mmio 9pnet_virtio 9p virtio_blk crc32c_generic ext4 overlay dummy
  nf_tables nf_conntrack_netlink unix_diag netlink_diag inet_diag tcp_diag udp_diag raw_diag
  af_packet_diag tun veth)
module_order() {  # prints module paths relative to the modules dir
  local dir seen=" " order=()
  dir=$sysroot/lib/modules/$(kver)
  visit() {
    local path deps d
    path=$(awk -F: -v m="$1" '{n=$1; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n)} n == m {print $1; exit}' "$dir/modules.dep")
    [ -n "$path" ] || return 0   # built in
    case $seen in *" $path "*) return 0 ;; esac
    seen="$seen$path "
    deps=$(awk -F: -v p="$path" '$1 == p {print $2}' "$dir/modules.dep")
    for d in $deps; do visit "$(basename "$d" | sed -E 's/\.ko(\.[a-z]+)?$//; s/-/_/g')"; done
    order+=("$path")
  }
  for m in "${modules_wanted[@]}"; do visit "$m"; done
  printf '%s\n' "${order[@]}"
}

# Copies ELF binaries and the libraries ldd lists for them into a root.
ship() {  # ship ROOT FILE...
  local root=$1 f lib; shift
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")" && cp -L "$f" "$root$f"
    for lib in $(ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' || true); do
      [ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; }
    done
  done
}

# The initramfs common to both modes: busybox-static, the modules, bash and jq with their
# libraries (the test scripts are bash and read JSON), criu with its libraries (checkpoint and
# restore: the host's kernel cannot dump, the guest's can) and GNU tar (criu saves tmpfs
# contents with options busybox's tar lacks; PATH has /usr/bin before /bin), and /init.
criu_bin=/usr/sbin/criu
build_initramfs() {
  local out=$cache/initramfs.cpio stamp
  [ -x "$criu_bin" ] || die "$criu_bin is missing: install criu (hack/setup.sh does)"
  # Keyed by every file copied in, so a changed binary (or this script) rebuilds it.
  stamp="$(kver) $(sha256sum "$0" "$repo/hack/vm/init" /bin/busybox "$criu_bin" /usr/bin/tar | cut -c1-16 | tr '\n' ' ')"
  [ -e "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ] && return 0
  local root=$cache/initramfs m
  rm -rf "$root" && mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,newroot,lib/modules}
  cp /bin/busybox "$root/bin/busybox"
  ship "$root" /bin/bash /usr/bin/jq "$criu_bin" /usr/bin/tar
  for a in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
  done
  ln -s /bin/busybox "$root/usr/bin/env"   # for #!/usr/bin/env bash
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  local mdir
  mdir=lib/modules/$(kver)
  mkdir -p "$root/$mdir"
  : >"$root/modules.list"
  while read -r m; do
    mkdir -p "$root/$mdir/$(dirname "$m")"
    case $m in  # busybox insmod takes plain .ko
      *.xz) xz -dc "$sysroot/$mdir/$m" >"$root/$mdir/${m%.xz}"; m=${m%.xz} ;;
      *.zst) zstd -qdc "$sysroot/$mdir/$m" >"$root/$mdir/${m%.zst}"; m=${m%.zst} ;;
      *) cp "$sysroot/$mdir/$m" "$root/$mdir/$m" ;;
    esac
    echo "/$mdir/$m" >>"$root/modules.list"
  done < <(module_order)
  grep -q /9p.ko "$root/modules.list" || die "kernel modules not resolved (modules.dep?)"
  cp "$repo/hack/vm/init" "$root/init"
  (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) >"$out"
  echo "$stamp" >"$out.stamp"
}

# The systemd image: debootstrap (itself fetched with apt-get download) a minimal bookworm
# into a directory, add the unit that runs the test command, and make an ext4 image of it.
# The VM attaches it with snapshot=on, so every boot starts from the same image.
image_pkgs=systemd,dbus,kmod,libseccomp2,jq,runc,busybox-static,procps
build_image() {
  local img=$cache/systemd.ext4
  [ -e "$img" ] && return 0
  local t0=$SECONDS dir=$cache/systemd-root
  say "building the systemd image with debootstrap (once; about a minute)"
  mkdir -p "$cache/debs"
  [ -e "$cache/debootstrap/usr/sbin/debootstrap" ] || {
    download debootstrap
    dpkg-deb -x "$(find "$cache/debs" -name 'debootstrap_*.deb' | sort | tail -1)" "$cache/debootstrap"
  }
  rm -rf "$dir"
  DEBOOTSTRAP_DIR=$cache/debootstrap/usr/share/debootstrap \
    "$cache/debootstrap/usr/sbin/debootstrap" --variant=minbase --include="$image_pkgs" \
    bookworm "$dir" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; die "debootstrap failed (network?), log: $cache/debootstrap.log"; }
  # The test command runs as a oneshot service with a delegated cgroup; its output goes
  # straight to the serial console. The initramfs drops the per-run script at /etc/hull-vm/run.
  cat >"$dir/etc/systemd/system/hull-vm.service" <<'EOF'
[Unit]
Description=hull VM test command
Wants=dbus.service
After=basic.target dbus.service

[Service]
Type=oneshot
ExecStart=/bin/bash /etc/hull-vm/run
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0
Delegate=yes
EOF
  mkdir -p "$dir/etc/systemd/system/multi-user.target.wants"
  ln -sf ../hull-vm.service "$dir/etc/systemd/system/multi-user.target.wants/hull-vm.service"
  # No login prompts or clock sync on the console; root has no password; no fstab entries.
  for u in serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service \
    apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$dir/etc/systemd/system/$u"
  done
  echo hull-vm >"$dir/etc/hostname"
  : >"$dir/etc/fstab"
  rm -rf "$dir/var/cache/apt/archives"/*.deb "$dir/var/lib/apt/lists"/*
  mkfs.ext4 -q -L hullvm -d "$dir" "$img.tmp" 2G >/dev/null
  mv "$img.tmp" "$img"
  rm -rf "$dir"
  say "systemd image built in $((SECONDS - t0)) s"
}

fetch_sysroot
build_initramfs
if [ "$mode" = systemd ] || { [ "$mode" = fetch ] && [ "${1:-v2}" = systemd ]; }; then
  build_image
fi
[ "$mode" = fetch ] && exit 0

# --- one boot ---------------------------------------------------------------------------------

run=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
nonce=$RANDOM$RANDOM
# The per-run archive appended to the initramfs: the command as a script, and the libraries
# of the built hull binaries (they link libseccomp; bookworm's match the host's, so in the
# systemd image they are there already, in the v2 initramfs they are shipped).
mkdir -p "$run/root/etc/hull-vm"
for b in "$repo"/target/release/hull "$repo"/target/debug/hull; do
  [ -x "$b" ] && ship "$run/root" "$b"
done
rm -rf "${run:?}/root$repo"   # the binaries themselves come over 9p, only their libraries here
{
  echo "cd $(printf %q "$repo")"
  echo "export HULL_VM_MODE=$mode PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  for v in ${HULL_VM_ENV:-HULL HULL_VM_KEEP}; do
    [ -n "${!v:-}" ] && echo "export $v=$(printf %q "${!v}")"
  done
  echo "rc=0; $(printf '%q ' "$@") || rc=\$?"
  echo "echo \"hull-vm-exit $nonce \$rc\""
  # Reboot at once: qemu's -no-reboot turns it into an exit (the root is a snapshot or tmpfs).
  echo "sync; echo b > /proc/sysrq-trigger"
} >"$run/root/etc/hull-vm/run"
(cd "$run/root" && find . | busybox cpio -o -H newc 2>/dev/null) >"$run/extra.cpio"
cat "$cache/initramfs.cpio" "$run/extra.cpio" >"$run/initramfs.cpio"

# Without tsc_early_khz about half the boots hang calibrating the clock under TCG.
khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
append="console=ttyS0 quiet loglevel=1 panic=-1 reboot=t tsc_early_khz=$khz hull.mode=$mode hull.repo=$repo"
# shellcheck disable=SC2054  # commas belong to qemu's option syntax
if [ "$mode" = systemd ]; then
  append+=" systemd.unified_cgroup_hierarchy=1 systemd.show_status=false"
  drive=(-drive "file=$cache/systemd.ext4,format=raw,if=none,id=root,snapshot=on"
    -device virtio-blk-device,drive=root)
else
  # A small scratch disk, so io.max has a block device to throttle (/dev/vda).
  truncate -s 16M "$run/scratch.img"
  drive=(-drive "file=$run/scratch.img,format=raw,if=none,id=scratch"
    -device virtio-blk-device,drive=scratch)
fi

log=$cache/last-$mode.log
t0=$(date +%s.%N)
say "booting ($mode): $*"
# TCG, not KVM: /dev/kvm here is PVM, which runs only kernels built as PVM guests.
set +e
timeout "$timeout_s" env LD_LIBRARY_PATH="$(qemu_libpath)" "$sysroot/usr/bin/qemu-system-x86_64" \
  -L "$sysroot/usr/share/qemu" -L "$sysroot/usr/share/seabios" \
  -M microvm,pit=on,rtc=on -accel tcg,thread=multi -cpu max -smp 2 -m "$mem" \
  -nic none -display none -monitor none -serial stdio -no-reboot \
  -kernel "$cache/vmlinux" -initrd "$run/initramfs.cpio" -append "$append" \
  -fsdev "local,id=repo,path=$repo,security_model=passthrough" \
  -device virtio-9p-device,fsdev=repo,mount_tag=repo \
  "${drive[@]}" </dev/null 2>&1 | tr -d '\r' | if [ "${HULL_VM_QUIET:-}" = 1 ]; then cat >"$log"; else tee "$log"; fi
qrc=${PIPESTATUS[0]}
set -e
secs=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')
rc=$(awk -v n="$nonce" '$1 == "hull-vm-exit" && $2 == n {print $3}' "$log" | tail -1)
if [ -z "$rc" ]; then
  if [ "$qrc" = 124 ]; then
    say "TIMEOUT after $timeout_s s ($mode); console: $log"
  else
    say "no exit marker from the guest (qemu exited $qrc; $mode); console: $log"
  fi
  exit 124
fi
say "$mode guest finished in $secs s (boot, command, power off), exit $rc"
exit "$rc"
