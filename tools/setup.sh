#!/bin/bash
# Sets up usbphone on a fresh Debian/Ubuntu machine: checks the platform, installs Debian packages
# (as root; otherwise prints the apt-get line), creates .venv and installs the pinned Python packages.
# Usage: tools/setup.sh run|test      (idempotent: a second run only checks)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-run}

RUN_DEBS="libportaudio2 libusb-1.0-0 libasound2-plugins alsa-utils ca-certificates libspeexdsp1"
TEST_DEBS="$RUN_DEBS sip-tester kamailio baresip tshark tcpdump jackd2 sox umockdev gir1.2-umockdev-1.0 python3-gi systemd udev openssl qemu-system-x86 mmdebstrap cpio coturn pulseaudio pulseaudio-utils pipewire pipewire-bin pipewire-pulse wireplumber"

die() { echo "usbphone setup: $*" >&2; exit 1; }

[[ $(uname -s) == Linux && $(uname -m) == x86_64 ]] || \
  die "usbphone supports Linux x86_64 only (the pjsua2-python wheel exists only there); this is $(uname -s) $(uname -m). Building pjproject from source is not supported yet."

pick_python() {
  # Debian's own python3 first: with --system-site-packages the venv also sees python3-gi (umockdev).
  for py in /usr/bin/python3 python3.12 python3.11 python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null \
       && "$py" -c 'import venv, ensurepip' 2>/dev/null; then echo "$py"; return; fi
  done
}

debs=$RUN_DEBS; [[ $what == test ]] && debs=$TEST_DEBS
if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then
  missing=$(for p in $debs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done | tr '\n' ' ')
  if [[ -z $(pick_python) ]]; then missing="$missing python3 python3-venv"; fi
else
  echo "usbphone setup: not Debian/Ubuntu (no apt-get): install the equivalents of these Debian packages yourself: $debs" >&2
  missing=""
fi
if [[ -n ${missing// /} ]]; then
  if [[ $(id -u) == 0 ]]; then
    echo "usbphone setup: installing Debian packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "usbphone setup: these Debian packages are missing; run:" >&2
    echo "    sudo apt-get install --no-install-recommends $missing" >&2
    [[ $what == test ]] && exit 1
  fi
fi

PY=$(pick_python)
[[ -n $PY ]] || die "need CPython 3.11 or 3.12 with venv (the pjsua2-python wheel exists only for those); install python3.11 or python3.12 with its venv module (Debian: apt-get install python3-venv)."

stamp=.venv/.usbphone-$what-$(sha1sum pyproject.toml | cut -c1-12)
if [[ ! -f $stamp ]]; then
  if [[ ! -x .venv/bin/python ]]; then
    flags=""; [[ $PY == /usr/bin/python3 ]] && flags="--system-site-packages"
    "$PY" -m venv $flags .venv
  fi
  extra=""; [[ $what == test ]] && extra="[test]"
  .venv/bin/pip install -q --disable-pip-version-check -e ".$extra"
  touch "$stamp"
fi
.venv/bin/python -c 'import pjsua2' 2>/dev/null || die "pjsua2 does not import in .venv (is this CPython 3.11/3.12 on x86_64?)"
