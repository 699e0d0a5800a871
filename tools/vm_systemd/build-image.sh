#!/bin/bash
# Builds the QEMU appliance image for tests/test_vm_systemd.py: a pinned Debian kernel and an initramfs that
# is a whole Debian 12 system (systemd as PID 1, udev, SIPp) plus this project, its .venv and what
# `usbphone install` puts in place. Three concatenated cpio archives, so only the changing part is rebuilt:
#   base.cpio     rootfs (mmdebstrap) + the kernel's hid/usb/input/sound modules  (cached on packages+kernel)
#   venv.cpio     the project's .venv                                             (cached on pyproject.toml)
#   project.cpio  the project's files, installed rules/units/config, the guest test (every run, small)
# Usage: tools/vm_systemd/build-image.sh OUTDIR   (root; needs mmdebstrap, apt-get download, cpio)
# Prints "kernel=PATH" and "initrd=PATH". Cache: $USBPHONE_VM_SYSTEMD_CACHE (default ~/.cache/usbphone-vm-systemd).
# Measured recipe: ../shared/recipes/real-peers-and-audio.md §7.
set -euo pipefail
out=${1:?usage: build-image.sh OUTDIR}
project=$(cd "$(dirname "$0")/../.." && pwd)
KVER=6.1.0-47-amd64   # pinned kernel ABI (linux-image-6.1.0-47-amd64, Debian 12)
PACKAGES="systemd,udev,kmod,python3,libportaudio2,libasound2,libusb-1.0-0,alsa-utils,sip-tester,procps"
cache=${USBPHONE_VM_SYSTEMD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/usbphone-vm-systemd}
mkdir -p "$cache" "$out"

base_key=$(echo "$KVER $PACKAGES $(sha1sum "$0" | cut -c1-40)" | sha1sum | cut -c1-16)
base=$cache/base-$base_key.cpio
kernel=$cache/vmlinuz-$KVER
if [[ ! -f $base || ! -f $kernel ]]; then
  work=$(mktemp -d "$cache/build.XXXXXX")
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
  find "$cache" -maxdepth 1 -name 'base-*.cpio' ! -path "$base" -delete   # older keys: ~200 MB each
  cp "$work/kernel/boot/vmlinuz-$KVER" "$kernel"
  rm -rf "$work"; trap - EXIT
fi

venv_key=$(cat "$project/pyproject.toml" "$project"/.venv/.usbphone-* 2>/dev/null | sha1sum | cut -c1-16)
venv=$cache/venv-$venv_key.cpio
if [[ ! -f $venv ]]; then
  # the venv lives at the same absolute path in the guest, so its scripts and symlinks keep working
  # (parent directories first: the kernel's unpacker does not create missing ones)
  parents=$(d=${project#/}; while [[ $d == */* ]]; do d=${d%/*}; echo "$d"; done; echo "${project#/}")
  (cd / && { echo "$parents"; find "${project#/}/.venv" -mount \( -name pip -o -name setuptools -o -name _pytest \
      -o -name ruff \) -prune -o -print; } | LC_ALL=C sort -u | cpio -o -H newc --quiet) > "$venv.tmp"
  mv "$venv.tmp" "$venv"
  find "$cache" -maxdepth 1 -name 'venv-*.cpio' ! -path "$venv" -delete
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/${project#/}"
(cd "$project" && git ls-files -co --exclude-standard | grep -v '^\.venv/' | cpio -pdm --quiet "$stage/${project#/}")
"$project/.venv/bin/usbphone" install --prefix /usr --destdir "$stage" --exec "$project/.venv/bin/usbphone" >/dev/null
# the appliance's config: one account on the guest's own SIPp, password through the systemd credential
cat > "$stage/etc/usbphone/config.toml" <<CONF
[[account]]
name = "vm"
user = "alice"
domain = "127.0.0.1:5070"
password_file = "/run/credentials/usbphone.service/sip-password"

[audio]
device = "vmphone"    # /etc/asound.conf, written by the guest test: QEMU usb-audio + snd-aloop
latency = 0.2         # TCG is ~10x slower than hardware (tools/vm/guest_test.py measured the xruns)
samplerate = 48000

[phone]
echo_number = ""
CONF
echo "vm-secret-password" > "$stage/etc/usbphone/sip-password"
chmod 0600 "$stage/etc/usbphone/sip-password"
mkdir -p "$stage/etc/systemd/system/multi-user.target.wants"
sed "s#/work/main/#$project/#g" "$project/tests/vm_systemd/usbphone-vmtest.service" \
  > "$stage/etc/systemd/system/usbphone-vmtest.service"
ln -sf ../usbphone-vmtest.service "$stage/etc/systemd/system/multi-user.target.wants/usbphone-vmtest.service"
# the usbphone user and group, as systemd-sysusers creates them on a real install
mkdir -p "$stage/etc"
(cd "$stage" && tmp=$(mktemp -d) && (cd "$tmp" && cpio -id --quiet etc/passwd etc/group etc/shadow etc/gshadow < "$base") \
  && cp "$tmp"/etc/* "$stage/etc/" && rm -rf "$tmp")
systemd-sysusers --root="$stage" "$stage/usr/lib/sysusers.d/usbphone.conf" >/dev/null
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out/project.cpio"
cat "$base" "$venv" "$out/project.cpio" > "$out/initrd.cpio"
echo "kernel=$kernel"
echo "initrd=$out/initrd.cpio"
