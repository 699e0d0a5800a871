#!/bin/bash
# Builds the base image for the real-kernel appliance test (tools/vm/run.py): a pinned Debian kernel and a
# Debian root filesystem that becomes the initramfs. Usage: tools/vm/mkimage.sh OUTDIR   (as root)
#
# OUTDIR/vmlinuz         the kernel (from linux-image-$KERNEL_ABI-amd64=$KERNEL_VERSION, apt-get download)
# OUTDIR/root/           mmdebstrap minbase + $GUEST_DEBS, the kernel modules the test needs (closure of
#                        drivers/hid, drivers/usb/{core,common,host}, sound/{core,usb,drivers}) + depmod,
#                        and usbphone's pinned Python dependencies (pyproject.toml) in /opt/usbphone/site for
#                        the guest's python3.11, installed with the host's pip from wheels.
# run.py packs root/ into an uncompressed newc cpio (compressed ones unpack slowly under TCG) and caches it
# under .cache/vm/<key>; the key covers this file, the kernel pin and the dependency list.
# source for the whole approach: ../shared/recipes/real-peers-and-audio.md §7.
# Edit this file when the guest needs another package or kernel module; bump the pin when the archive drops it.
set -euo pipefail
out=${1:?usage: mkimage.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
die() { echo "tools/vm/mkimage.sh: $*" >&2; exit 1; }

# Pinned kernel: bookworm's point-release kernel (bookworm/main keeps it until the next point release;
# bookworm-security drops superseded ABIs at once). USBPHONE_VM_KERNEL=ABI=VERSION overrides.
KERNEL_PIN=${USBPHONE_VM_KERNEL:-6.1.0-50=6.1.176-1}
KERNEL_ABI=${KERNEL_PIN%%=*}
KERNEL_VERSION=${KERNEL_PIN#*=}
KVER=$KERNEL_ABI-amd64
# Guest packages: what usbphone needs at run time (RUN_DEBS in tools/setup.sh, read from there) plus udev
# (real rules), kmod (modprobe), python3 (3.11, the wheels' ABI), alsa-utils (aplay for the reference tone),
# sip-tester (SIPp, the peer), iproute2 (loopback up); util-linux/passwd are in minbase (setpriv, useradd).
# Left out: libasound2-plugins (ALSA's bridges to PulseAudio/JACK: the guest has no sound server, and it
# pulls in ffmpeg's libavcodec, +190 MB of initramfs and ~10 s more boot under TCG).
run_debs=$(sed -n 's/^RUN_DEBS="\(.*\)"$/\1/p' "$project/tools/setup.sh")
[[ -n $run_debs ]] || die "no RUN_DEBS=\"...\" line in tools/setup.sh"
run_debs=$(tr ' ' '\n' <<<"$run_debs" | grep -vx 'libasound2-plugins' | paste -sd' ')
GUEST_DEBS=${GUEST_DEBS:-python3,udev,kmod,alsa-utils,libasound2,sip-tester,iproute2,${run_debs// /,}}

[[ $(id -u) == 0 ]] || die "needs root (mmdebstrap and dpkg -x keep file ownership)"
for tool in mmdebstrap apt-get dpkg depmod; do command -v $tool >/dev/null || die "$tool is missing (tools/setup.sh test)"; done
pip=$project/.venv/bin/pip
[[ -x $pip ]] || die "no $pip: run tools/setup.sh test first"

rm -rf --one-file-system "$out.tmp" && mkdir -p "$out.tmp/dl"
cd "$out.tmp/dl"

# 1. the kernel
if ! apt-get download -q "linux-image-$KVER=$KERNEL_VERSION" >/dev/null 2>apt.err; then
  cat apt.err >&2
  die "cannot download the pinned kernel linux-image-$KVER=$KERNEL_VERSION (dropped from the archive?); \
pick one from 'apt-cache policy linux-image-amd64' and set KERNEL_PIN in tools/vm/mkimage.sh \
(or USBPHONE_VM_KERNEL=ABI=VERSION)"
fi
dpkg -x linux-image-*.deb kernel
cp "kernel/boot/vmlinuz-$KVER" "$out.tmp/vmlinuz"

# 2. the root filesystem
root=$out.tmp/root
mmdebstrap --quiet --variant=minbase --include="$GUEST_DEBS" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  bookworm "$root"
# trimmed (nothing runs dpkg or perl in the guest; hwdb.bin stays, its sources go): -70 MB, faster unpacking
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/zoneinfo "$root"/usr/share/perl \
  "$root"/usr/lib/x86_64-linux-gnu/perl "$root"/usr/lib/x86_64-linux-gnu/gconv "$root"/usr/lib/udev/hwdb.d

# 3. kernel modules: the closure (modules.dep) of what the test loads
src=kernel/lib/modules/$KVER
dst=$root/lib/modules/$KVER
mkdir -p "$dst"
depmod -b kernel "$KVER"  # the package ships no modules.dep (its postinst makes it)
cp "$src"/modules.builtin* "$src"/modules.order "$dst"/
wanted=$(cd "$src" && find kernel/drivers/hid kernel/drivers/usb/core kernel/drivers/usb/common \
  kernel/drivers/usb/host kernel/sound/core kernel/sound/usb kernel/sound/drivers kernel/sound/soundcore.ko \
  -name '*.ko' | sort)
python3 - "$src" $wanted <<'EOF' | while read -r ko; do install -D -m 0644 "$src/$ko" "$dst/$ko"; done
import sys
src, todo = sys.argv[1], list(sys.argv[2:])
deps = {}
for line in open(f"{src}/modules.dep"):
    mod, _, rest = line.partition(":")
    deps[mod] = rest.split()
seen = set()
while todo:
    mod = todo.pop()
    if mod not in seen:
        seen.add(mod)
        todo.extend(deps.get(mod, []))
print("\n".join(sorted(seen)))
EOF
depmod -b "$root" "$KVER"

# 4. usbphone's pinned Python dependencies for the guest's python3.11 (manylinux/pure wheels only), byte-compiled
#    here (pjsua2.py alone takes seconds to compile under TCG, and the service user cannot cache .pyc files)
deps=$(cd "$project" && python3 -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')
# shellcheck disable=SC2086
"$pip" install -q --disable-pip-version-check --target "$root/opt/usbphone/site" \
  --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform linux_x86_64 $deps
echo "$KVER" > "$out.tmp/kernel-release"

cd /
rm -rf --one-file-system "$out.tmp/dl"
rm -rf --one-file-system "$out" && mv "$out.tmp" "$out"
echo "tools/vm/mkimage.sh: built $out (kernel $KVER $KERNEL_VERSION)"
