"""The built-in echo test: a real SIP user agent on loopback that answers, echoes audio and DTMF back.

One process can hold only one pjsua2 Endpoint, so the echo test is a child process running its own
endpoint (``python -m usbphone.echo``). It binds 127.0.0.1 on a free port, prints ``READY host:port`` on
stdout, answers every INVITE with 200 OK, loops each call's received audio back into it (conference bridge
port transmitting to itself) and answers every received DTMF digit with the same digit as an RFC 4733
event. It exits when its stdin closes (the parent went away) or on SIGTERM, hanging its calls up first.

``EchoService`` is the parent's handle: ``start()`` returns the SIP URI to route the echo number to.
Edit this module to change what the echo test does; the app decides which number reaches it.
"""

from __future__ import annotations

import argparse
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from usbphone.errors import UserError

READY = "READY"


class EchoService:
    """Starts and stops the echo child process; ``uri`` is where calls to it go."""

    def __init__(self, host: str = "127.0.0.1", user: str = "600") -> None:
        self.host, self.user = host, user
        self.uri = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> str:
        """Start the child and wait until it is bound; raises UserError with its message when it fails."""
        argv = [sys.executable, "-m", "usbphone.echo", "--host", self.host, "--user", self.user]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)  # Ctrl-C in the terminal is ours
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None and not line.startswith(READY):
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline().strip()  # pjlib may print banner lines first
        if not line.startswith(READY):
            err = ""
            if self.proc.poll() is not None and self.proc.stderr is not None:
                err = self.proc.stderr.read().strip().splitlines()[-1:] or [""]
                err = err[0]
            self.stop()
            raise UserError(f"echo test did not start{': ' + err if err else ''}")
        self.uri = f"sip:{self.user}@{line.split()[1]}"
        return self.uri

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the child's cue to hang up and exit
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(2.0)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


# --- the child process ------------------------------------------------------------------------------


def _child(host: str, user: str) -> int:  # noqa: C901 - one straight-line pjsua2 setup
    import pjsua2 as pj

    events: queue.Queue[tuple[Any, ...]] = queue.Queue()

    class EchoCall(pj.Call):
        def onCallState(self, prm: Any) -> None:
            if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
                events.put(("gone", self))

        def onCallMediaState(self, prm: Any) -> None:
            ci = self.getInfo()
            for mi in ci.media:
                if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    am = self.getAudioMedia(mi.index)
                    am.startTransmit(am)  # what arrives goes straight back: the echo

        def onDtmfDigit(self, prm: Any) -> None:
            events.put(("dtmf", self, prm.digit))

    class EchoAccount(pj.Account):
        def onIncomingCall(self, prm: Any) -> None:
            events.put(("incoming", EchoCall(self, prm.callId)))

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 1  # pjsua's worker polls SIP/RTP; this thread sleeps on the queue
    cfg.uaConfig.userAgent = "usbphone-echo"
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.boundAddress = host
    tc.publicAddress = host
    tc.port = 0
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    port = ep.transportGetInfo(tid).localName.rsplit(":", 1)[1]
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{user}@{host}:{port}"
    acfg.mediaConfig.transportConfig.boundAddress = host
    acc = EchoAccount()
    acc.create(acfg, True)

    def watch_stdin() -> None:
        while sys.stdin.read(4096):
            pass
        events.put(("quit",))

    def watch_signals() -> None:
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
        events.put(("quit",))

    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Thread(target=watch_signals, daemon=True).start()
    print(f"{READY} {host}:{port}", flush=True)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # nobody reads our stdout after READY: a full pipe must never block pjlib's prints

    calls: list[Any] = []  # keep every Call object until libDestroy (no destructor after it)
    while True:
        item = events.get()
        try:
            if item[0] == "incoming":
                calls.append(item[1])
                op = pj.CallOpParam()
                op.statusCode = 200
                item[1].answer(op)
            elif item[0] == "dtmf":
                prm = pj.CallSendDtmfParam()
                prm.digits = item[2]
                prm.method = pj.PJSUA_DTMF_METHOD_RFC2833
                prm.duration = 160
                item[1].sendDtmf(prm)
            elif item[0] == "quit":
                break
        except pj.Error as exc:
            print(f"echo: {exc.reason}", file=sys.stderr, flush=True)
    try:
        ep.hangupAllCalls()
    except pj.Error:
        pass
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(c.isActive() for c in calls):
        time.sleep(0.02)
    acc.shutdown()
    ep.libDestroy()
    sys.stdout.flush()
    os._exit(0)  # recipes §1a: skip Python finalisers of pjsua2 objects after libDestroy


def main(argv: list[str] | None = None) -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # handled by watch_signals
    parser = argparse.ArgumentParser(prog="python -m usbphone.echo", description="usbphone's echo test UA")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="600")
    args = parser.parse_args(argv)
    return _child(args.host, args.user)


if __name__ == "__main__":
    sys.exit(main())
