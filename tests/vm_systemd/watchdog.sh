#!/bin/sh
# Guest-side watchdog for tests/test_vm_systemd.py (installed by tools/vm_systemd/build-image.sh as
# /usr/local/sbin/usbphone-vmtest-watchdog; plain sh, so it works when the project's .venv does not).
#   usbphone-vmtest-watchdog --after SECONDS   wait, then report that the guest check did not finish
#   usbphone-vmtest-watchdog --failed UNIT     report that UNIT failed (its OnFailure= handler)
# Either way it prints "RESULT <name> FAIL <reason>", what systemd knows (failed units, pending jobs, unit
# status, journal tail), "DONE" and powers the VM off, so the host sees why at once instead of a silent hang.
exec >/dev/console 2>&1
case "$1" in
  --after) sleep "$2"; name=guest-watchdog; reason="the guest check did not finish within $2 s of boot" ;;
  --failed) name=guest-check; reason="$2 failed before the check finished" ;;
  *) echo "usage: $0 --after SECONDS | --failed UNIT"; exit 2 ;;
esac
echo "RESULT $name FAIL $reason"
t() { timeout 20 "$@" 2>&1 | sed 's/^/NOTE    /'; }   # bounded: systemd itself may be what hangs
echo "NOTE --- failed units";      t systemctl --no-pager --failed
echo "NOTE --- pending jobs";      t systemctl --no-pager list-jobs
echo "NOTE --- unit status";       t systemctl --no-pager --lines=15 status usbphone-vmtest.service usbphone.service
echo "NOTE --- journal without the kernel (last 40)"
t journalctl --no-pager -n 300 -o short-monotonic | grep -v " kernel: " | tail -n 40
echo "DONE 0/1 ($name)"
sleep 0.5
echo o > /proc/sysrq-trigger
