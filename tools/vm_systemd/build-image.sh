#!/bin/bash
# Builds the QEMU appliance image for tests/test_vm_systemd.py: a pinned Debian kernel and an initramfs that
# is a whole Debian 12 system (systemd as PID 1, udev, SIPp) plus this project, its .venv and what
# `usbphone install` puts in place. Three concatenated cpio archives, so only the changing part is rebuilt:
#   base.cpio     rootfs + the kernel's hid/usb/input/sound modules (build-base.sh; cached on its text+packages+kernel)
#   venv.cpio     the project's .venv        (cached on the checkout's path + pyproject.toml + the venv's contents)
#   project.cpio  the project's files, installed rules/units/config, the guest test (every run, small)
# Usage: tools/vm_systemd/build-image.sh OUTDIR   (root; needs mmdebstrap, apt-get download, cpio)
# Prints "kernel=PATH" and "initrd=PATH". Cache: $USBPHONE_VM_SYSTEMD_CACHE (default ~/.cache/usbphone-vm-systemd).
# Measured recipe: ../shared/recipes/real-peers-and-audio.md §7.
set -euo pipefail
out=${1:?usage: build-image.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
KVER=6.1.0-47-amd64   # pinned kernel ABI (linux-image-6.1.0-47-amd64, Debian 12)
PACKAGES="systemd,udev,kmod,python3,libportaudio2,libasound2,libusb-1.0-0,alsa-utils,sip-tester,procps"
cache=${USBPHONE_VM_SYSTEMD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/usbphone-vm-systemd}
mkdir -p "$cache" "$out"

# the base's key covers only what shapes it (build-base.sh's text, kernel, packages): editing this file is free
base_key=$(echo "$KVER $PACKAGES $(sha1sum "$here/build-base.sh" | cut -c1-40)" | sha1sum | cut -c1-16)
base=$cache/base-$base_key.cpio
kernel=$cache/vmlinuz-$KVER
if [[ ! -f $base || ! -f $kernel ]]; then
  "$here/build-base.sh" "$KVER" "$PACKAGES" "$base" "$kernel"
  find "$cache" -maxdepth 1 -name 'base-*.cpio' ! -path "$base" -delete   # older keys: ~200 MB each
fi

# The venv archive holds absolute paths (/<checkout>/.venv, its editable .pth points at the checkout), so
# its key must include the checkout's path: a clone elsewhere (CI) with the same pyproject.toml once reused
# /work/main's archive, the guest had no /<clone>/.venv/bin/python and the test unit never started.
# The rest of the key is what pip put there (distributions, .pth files) and the interpreter (pyvenv.cfg).
venv_key=$({ echo "$project"; cat "$project/pyproject.toml" "$project/.venv/pyvenv.cfg";
             ls "$project"/.venv/lib/python3*/site-packages; cat "$project"/.venv/lib/python3*/site-packages/*.pth; true; } \
           2>/dev/null | sha1sum | cut -c1-16)
venv=$cache/venv-$venv_key.cpio
if [[ ! -f $venv ]]; then
  # the venv lives at the same absolute path in the guest, so its scripts and symlinks keep working
  # (parent directories first: the kernel's unpacker does not create missing ones)
  parents=$(d=${project#/}; while [[ $d == */* ]]; do d=${d%/*}; echo "$d"; done; echo "${project#/}")
  (cd / && { echo "$parents"; find "${project#/}/.venv" -mount \( -name pip -o -name setuptools -o -name _pytest \
      -o -name ruff \) -prune -o -print; } | LC_ALL=C sort -u | cpio -o -H newc --quiet) > "$venv.tmp"
  mv "$venv.tmp" "$venv"
fi
touch "$venv"
# keep the 3 most recently used venv archives (~110 MB each: e.g. /work/main and a CI clone side by side)
ls -t "$cache"/venv-*.cpio | tail -n +4 | xargs -r rm -f

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
# fail fast and visibly: a shell watchdog (no venv, no journald needed) ends the boot with RESULT … FAIL, unit
# status and the journal tail on the console when the check fails to start or does not finish in time
install -D -m 0755 "$project/tests/vm_systemd/watchdog.sh" "$stage/usr/local/sbin/usbphone-vmtest-watchdog"
for u in usbphone-vmtest-watchdog.service usbphone-vmtest-failed.service; do
  cp "$project/tests/vm_systemd/$u" "$stage/etc/systemd/system/$u"
done
mkdir -p "$stage/etc/systemd/system/sysinit.target.wants"
ln -sf /dev/null "$stage/etc/systemd/system/getty-static.service"   # would only print a [FAILED] (no logind)
ln -sf ../usbphone-vmtest-watchdog.service "$stage/etc/systemd/system/sysinit.target.wants/"
# the usbphone user and group, as systemd-sysusers creates them on a real install
mkdir -p "$stage/etc"
(cd "$stage" && tmp=$(mktemp -d) && (cd "$tmp" && cpio -id --quiet etc/passwd etc/group etc/shadow etc/gshadow < "$base") \
  && cp "$tmp"/etc/* "$stage/etc/" && rm -rf "$tmp")
systemd-sysusers --root="$stage" "$stage/usr/lib/sysusers.d/usbphone.conf" >/dev/null
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out/project.cpio"
cat "$base" "$venv" "$out/project.cpio" > "$out/initrd.cpio"
echo "kernel=$kernel"
echo "initrd=$out/initrd.cpio"
