"""A usbphone CallCore in its own process, driven by JSON lines (the test peer behind tests/peers.PjPeer).

    python tests/sip/pjpeer.py CONFIG.toml BIND      # BIND = 127.0.0.1:PORT

stdin: one CallCommand per line as JSON ({"kind": "dial", "target": "..."}); EOF = shut down and exit.
stdout: {"kind": "ready", "value": "<bound address>"}, then every CallEvent as JSON and one
{"kind": "result", "value": ...} or {"kind": "result", "error": "..."} per command.
Its main loop is the app's threading model in miniature: one queue, the owner thread blocks on it.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
from typing import Any

from usbphone.config import load_config
from usbphone.errors import UserError
from usbphone.events import CallCommand, CallEvent
from usbphone.sip.core import CallCore


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    config = load_config(sys.argv[1])
    q: queue.Queue[Any] = queue.Queue()
    core = CallCore(config, q.put, bind=sys.argv[2])
    core.start()

    def reader() -> None:
        for line in sys.stdin:
            if line.strip():
                q.put(json.loads(line))
        q.put(None)

    threading.Thread(target=reader, daemon=True).start()
    out({"kind": "ready", "value": core.local_address, "transports": core.transport_addresses})
    while True:
        item = q.get()
        if item is None:
            break
        if isinstance(item, CallEvent):
            ev = {"kind": item.kind, "call_id": item.call_id, "value": item.value,
                  "remote_number": item.remote_number, "remote_name": item.remote_name,
                  "code": item.code, "reason": item.reason, **item.extra}
            out(ev)
            continue
        try:
            out({"kind": "result", "value": core.execute(CallCommand(**item))})
        except (UserError, ValueError, TypeError) as exc:
            out({"kind": "result", "error": str(exc)})
    core.shutdown()
    out({"kind": "bye"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
