#!/bin/bash
# Builds the cached base layer of the tools/vm_systemd image: a Debian 12 rootfs (mmdebstrap) with the pinned
# kernel's hid/usb/input/sound modules, as one cpio archive, plus the kernel itself. Only build-image.sh calls
# it; the cache key is this file's content + KVER + PACKAGES, so edit here only what changes the rootfs.
# Usage: build-base.sh KVER PACKAGES BASE_CPIO KERNEL_OUT   (root; needs mmdebstrap, apt-get download, cpio)
# Measured recipe: ../shared/recipes/real-peers-and-audio.md §7.
set -euo pipefail
KVER=${1:?KVER} PACKAGES=${2:?PACKAGES} base=${3:?BASE_CPIO} kernel=${4:?KERNEL_OUT}
work=$(mktemp -d "$(dirname "$base")/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "linux-image-$KVER" >/dev/null 2>&1) || { echo "cannot download linux-image-$KVER" >&2; exit 1; }
dpkg -x "$work"/linux-image-*.deb "$work/kernel"
mmdebstrap --quiet --variant=minbase --aptopt='APT::Install-Recommends "false"' --include="$PACKAGES" bookworm "$work/root" >/dev/null
rm -rf "$work"/root/usr/share/{doc,man,info,locale,perl} "$work"/root/var/cache/apt/* "$work"/root/var/lib/apt/lists/* \
      "$work"/root/usr/lib/x86_64-linux-gnu/{perl,gconv} "$work"/root/usr/lib/udev/hwdb.{d,bin}   # unused in the guest
mods=lib/modules/$KVER
mkdir -p "$work/root/$mods/kernel/drivers"
cp -a "$work/kernel/$mods"/modules.{order,builtin,builtin.modinfo} "$work/root/$mods/"
for d in drivers/hid drivers/usb drivers/input drivers/media/mc sound; do
  mkdir -p "$work/root/$mods/kernel/$(dirname $d)"
  cp -a "$work/kernel/$mods/kernel/$d" "$work/root/$mods/kernel/$d"
done
depmod -b "$work/root" "$KVER"
# boot straight into the test: no gettys on the console, no units that wait for hardware we do not have
for u in getty@.service serial-getty@.service console-getty.service systemd-timesyncd.service \
         apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer systemd-logind.service; do
  ln -sf /dev/null "$work/root/etc/systemd/system/$u"
done
(cd "$work/root" && find . -mount | LC_ALL=C sort | cpio -o -H newc --quiet) > "$base.tmp"
mv "$base.tmp" "$base"
cp "$work/kernel/boot/vmlinuz-$KVER" "$kernel.tmp"
mv "$kernel.tmp" "$kernel"
