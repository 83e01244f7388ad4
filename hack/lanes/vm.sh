#!/usr/bin/env bash
# Test lane: hull's cgroup v2 manager where the host cannot show it (this machine is cgroup
# v1-hybrid with no systemd PID 1): two throw-away QEMU VMs booted by hack/vm.sh,
#   v2       cgroup2 alone, busybox PID 1          -> hack/vm/guest-v2.sh
#   systemd  Debian with systemd as PID 1, cgroup2 -> hack/vm/guest-systemd.sh (the cgroupfs
#            driver on a systemd host) and hack/vm/guest-systemd-driver.sh (--systemd-cgroup)
#   v2       again, for attacks on the runtime on Linux 6.1 -> hack/vm/guest-security.sh
#            (CVE-2019-5736 against a copy of hull, with controls that must be overwritten)
#   v2       again, for criu                        -> hack/vm/guest-criu.sh: checkpoint and
#            restore through criu (which cannot dump on the host's 6.18 kernel)
# each printing TAP (kept in target/vm/guest-*.tap). Needs root and, the first time, network:
# qemu and a kernel come from `apt-get download` and the systemd image from debootstrap, all
# cached under target/vm (or $HULL_VM_CACHE). Without network the lane FAILS, loudly; set
# HULL_SKIP_VM=1 to skip it on purpose.
#
# Cost on a 2-core machine (software emulation: ~5x slower CPU, ~8x slower fork+exec),
# measured: cached 90 s (v2 36 s, systemd 53 s, of which boot and reset 3 s and 7 s), plus
# the security guest (45-67 s, 22 s of checks, on a busy machine); the first run adds ~65 s
# (downloads 9 s, debootstrap 55 s). Other load on the machine stretches
# it (up to 5x seen). guest-criu: 99 s (51 s of checks) measured on a loaded machine (load
# 7-20), when the whole lane took 8.5 minutes; with the terminal check added, 210 s in the
# lane (95 s of checks, boot and power-off the rest; 277 s alone) at load 15-24, when v2 took
# 477 s, systemd 563 s, systemd-driver 402 s and the release build 13 minutes: the criu guest
# is about a sixth of the lane. The lane prints the measured time of each part.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${HULL_SKIP_VM:-}" = 1 ]; then
  echo "vm lane: SKIPPED because HULL_SKIP_VM=1 -- cgroup v2 and systemd were NOT tested"
  exit 0
fi

cache=${HULL_VM_CACHE:-target/vm}
if [ -e "$cache/sysroot/.done" ] && [ -e "$cache/systemd.ext4" ]; then run=cached; else run="first (downloads)"; fi
times=()
timed() {  # timed LABEL COMMAND...: runs it, records its wall time
  local label=$1 t0=$SECONDS rc=0
  shift
  "$@" || rc=$?
  times+=("$(printf '%-9s %4d s' "$label" $((SECONDS - t0)))")
  return $rc
}
loud() {
  echo
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! vm lane FAILED: $*"
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
}

# The release build (what ships; twice as fast as debug in the VM); its libraries go into
# the v2 initramfs, the binary itself over the 9p share.
timed build cargo build --release -q -p hull
export HULL=$PWD/target/release/hull
# The static probe: the netDevices check runs it inside its container, and it is the
# attacker inside the security guest's containers (the same build as the integration tests').
timed probe env RUSTFLAGS="-C target-feature=+crt-static" cargo build -q -p hull-probe --target-dir target/probe

if ! timed fetch hack/vm.sh fetch systemd; then
  loud "could not fetch or build the VM pieces (qemu, kernel, debootstrap image): no network?" \
    "cgroup v2 and systemd are untested. Set HULL_SKIP_VM=1 to skip this lane on purpose."
  exit 1
fi

failed=()
guests=(v2:guest-v2 systemd:guest-systemd systemd:guest-systemd-driver v2:guest-security v2:guest-criu)
for entry in "${guests[@]}"; do
  mode=${entry%%:*} guest=${entry#*:}
  # The console goes to target/vm/last-$mode.log; show the TAP without its passing lines.
  rc=0
  tap=target/vm/$guest.tap   # written by the guest through the share
  rm -f "$tap"
  HULL_VM_QUIET=1 timed "$guest" hack/vm.sh "$mode" -- "hack/vm/$guest.sh" || rc=$?
  if [ -s "$tap" ]; then
    grep -v '^ok ' "$tap" | grep -vE '^# [a-z_]+: [0-9]+ s$' || true
  fi
  case $rc in
    0) ;;
    124) loud "the $mode VM timed out or gave no exit marker; console: $cache/last-$mode.log"; failed+=("$guest") ;;
    *) echo "vm lane: $guest checks failed (exit $rc); full TAP: $tap"; failed+=("$guest") ;;
  esac
done

echo "vm lane cost ($run run):"
printf '  %s\n' "${times[@]}"
for guest in guest-v2 guest-systemd guest-systemd-driver guest-security guest-criu; do
  c=$(sed -n 's/^# checks took \([0-9]*\) s$/\1/p' "target/vm/$guest.tap" 2>/dev/null || true)
  [ -n "$c" ] && echo "  ($guest: checks $c s in the guest, the rest boot and power-off)"
done
[ ${#failed[@]} = 0 ] || { echo "vm lane: failed: ${failed[*]}"; exit 1; }
