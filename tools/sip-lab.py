#!/usr/bin/env python3
"""A SIP lab on 127.0.0.1 to try `usbphone call` / `usbphone register` by hand.

Starts the test suite's Kamailio (digest auth; users alice/bob/carol) and a baresip that auto-answers
sip:bob@127.0.0.1:PORT directly, and writes config files for alice (right and wrong password, each in a
password_file). Everything stops on Ctrl-C (or after --seconds).

    .venv/bin/python tools/sip-lab.py [--dir DIR] [--seconds N]

It prints the commands to run in another terminal. Uses the peers from tests/peers.py (edit there).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from peers import Baresip, Kamailio  # noqa: E402

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="", help="working folder (default: a new temporary one)")
    ap.add_argument("--seconds", type=float, default=0, help="stop after N seconds (default: on Ctrl-C)")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="usbphone-sip-lab-"))
    work.mkdir(parents=True, exist_ok=True)
    kam = Kamailio(work, USERS).start()
    peer = Baresip(work, ("g711", "g722"))
    alice = work / "alice.toml"
    alice.write_text(f'[[account]]\nname = "alice"\nuser = "alice"\nregistrar = "{kam.uri}"\n'
                     f'password_file = "alice.password"\n')
    (work / "alice.password").write_text(USERS["alice"] + "\n")
    (work / "alice.password").chmod(0o600)
    wrong = work / "wrong.toml"
    wrong.write_text(alice.read_text().replace("alice.password", "wrong.password"))
    (work / "wrong.password").write_text("not-the-password\n")
    print(f"""SIP lab in {work}
  Kamailio registrar/proxy: {kam.uri} (users {", ".join(USERS)})
  baresip auto-answer:      {peer.uri()} (G.711, G.722; records into {peer.rec})
Try:
  .venv/bin/usbphone register --config {alice} --bind 127.0.0.1:0
  .venv/bin/usbphone register --config {wrong} --bind 127.0.0.1:0      # exits 1: 401 Unauthorized
  .venv/bin/usbphone call {peer.uri()} --duration 3 --dtmf 123
Ctrl-C stops the lab.""", flush=True)
    try:
        deadline = time.monotonic() + args.seconds if args.seconds else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.5)
            if kam.p.poll() is not None or peer.p.poll() is not None:
                print("a peer exited; see the logs in", work, file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        peer.stop()
        kam.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
