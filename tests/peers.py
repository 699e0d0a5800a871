"""Real SIP peers for tests: SIPp, Kamailio, baresip, tshark, and a second pjsua2 endpoint (child process).

Every peer binds 127.0.0.1 on a free port, writes its log into the test's tmp dir, and is stopped by PID
in ``stop()`` (the fixtures in tests/sip/conftest.py call it in ``finally``). A missing binary skips the
test (``require()``), so the suite still runs where a peer is not installed. Use from any test:

    from peers import Sipp, Kamailio, Baresip, Capture, PjPeer, free_port   # (pytest pythonpath = tests)

    uas = Sipp.uas(tmp_path, "uas_reject.xml", values={"code": "486", "reason": "Busy Here"})
    ...                                                # make the call to uas.uri("100")
    assert uas.wait() == 0                             # SIPp exit 0 = every call passed its scenario

    kam = Kamailio(tmp_path, users={"alice": "alicepw"}).start()   # registrar/proxy with digest auth
    cap = Capture(tmp_path).start()                    # tshark on lo; cap.stop(); cap.rtp_events()

Edit when a new peer or a new kind of wire check is needed; keep each peer's set-up in its own class.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
SCENARIOS = Path(__file__).resolve().parent / "sip" / "scenarios"
ROOT = Path(__file__).resolve().parents[1]


def require(*binaries: str) -> None:
    """Skip the calling test when a peer binary is not installed."""
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (tools/setup.sh test installs them)")


def free_port(kind: int = socket.SOCK_DGRAM, host: str = HOST, pair: bool = False) -> int:
    """A port that is free right now for UDP (and TCP); ``pair`` = also port+1 free (RTP+RTCP)."""
    for _ in range(50):
        with socket.socket(_family(host), kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port > 65000:
            continue
        if all(_free(host, p) for p in ((port, port + 1) if pair else (port,))):
            return port
    raise RuntimeError("no free port found")


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _free(host: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(_family(host), kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def wait_for(pred: Any, timeout: float, step: float = 0.05, what: str = "condition") -> Any:
    """Poll ``pred()`` until truthy (returned) or fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def udp_bound(port: int, host: str = HOST) -> bool:
    return not _free_udp(host, port)


def _free_udp(host: str, port: int) -> bool:
    with socket.socket(_family(host), socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class Proc:
    """A child process with its output in a log file; ``stop()`` ends it (TERM, then KILL) by PID."""

    def __init__(self, argv: list[str], log: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None, stdin: int | None = subprocess.DEVNULL) -> None:
        self.argv, self.log_path = argv, log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd,
                                  env=env, stdin=stdin, start_new_session=True)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.argv[0]} did not finish within {timeout} s; log:\n{self.log()}") from None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if not hasattr(self, "p"):  # never started
            return
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)  # own session: also its children (kamailio forks)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self._log.close()


# --- SIPp -------------------------------------------------------------------------------------------


class Sipp(Proc):
    """SIPp running one scenario on 127.0.0.1 (``-m`` calls, then exits; exit 0 = all calls passed)."""

    def __init__(self, tmp: Path, args: list[str], name: str, port: int, host: str = HOST) -> None:
        require("sipp")
        self.port, self.host, self.tmp = port, host, tmp
        self.media_port = free_port(pair=True, host=host)
        self.messages = tmp / f"{name}-{port}-messages.log"
        argv = ["sipp", *args, "-i", host, "-p", str(port), "-mi", host, "-mp", str(self.media_port),
                "-nostdin", "-trace_msg", "-message_file", str(self.messages), "-timeout", "60s",
                "-timeout_error"]
        super().__init__(argv, tmp / f"{name}-{port}.log", cwd=tmp)

    @staticmethod
    def scenario(tmp: Path, name: str, values: dict[str, str] | None) -> list[str]:
        """``-sf FILE`` for tests/sip/scenarios/NAME with ``@key@`` placeholders filled in from ``values``.

        (SIPp checks response codes when it parses the file, so its own ``-key`` cannot set them.)
        """
        text = (SCENARIOS / name).read_text()
        for key, value in (values or {}).items():
            text = text.replace(f"@{key}@", value)
        path = tmp / f"{name[:-4]}-{time.monotonic_ns()}.xml"
        path.write_text(text)
        return ["-sf", str(path)]

    @classmethod
    def uas(cls, tmp: Path, scenario: str = "", sn: str = "uas", calls: int = 1, host: str = HOST,
            extra: list[str] | None = None, values: dict[str, str] | None = None) -> Sipp:
        """A UAS answering ``calls`` calls with tests/sip/scenarios/``scenario`` (or built-in ``sn``)."""
        port = free_port(host=host)
        scen = cls.scenario(tmp, scenario, values) if scenario else ["-sn", sn]
        s = cls(tmp, [*scen, "-m", str(calls), "-rtp_echo", *(extra or [])], scenario or sn, port, host)
        wait_for(lambda: udp_bound(port, host) or s.p.poll() is not None, 10, what="sipp to bind")
        assert s.p.poll() is None, f"sipp exited at start:\n{s.log()[-2000:]}"
        return s

    @classmethod
    def uac(cls, tmp: Path, target: str, scenario: str = "", sn: str = "uac", calls: int = 1,
            host: str = HOST, service: str = "usbphone", extra: list[str] | None = None,
            values: dict[str, str] | None = None) -> Sipp:
        """A UAC calling ``target`` ("127.0.0.1:PORT") ``calls`` times."""
        port = free_port(host=host)
        scen = cls.scenario(tmp, scenario, values) if scenario else ["-sn", sn]
        return cls(tmp, [target, *scen, "-m", str(calls), "-s", service, *(extra or [])],
                   scenario or sn, port, host)

    def uri(self, user: str = "100") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"sip:{user}@{host}:{self.port}"

    def sent_and_received(self) -> str:
        """SIPp's message trace (every SIP message it sent and received)."""
        return self.messages.read_text(errors="replace") if self.messages.exists() else ""


# --- Kamailio -----------------------------------------------------------------------------------------


class Kamailio(Proc):
    """Kamailio registrar/proxy with digest auth and static passwords (tests/sip/kamailio.cfg.in)."""

    TEMPLATE = Path(__file__).resolve().parent / "sip" / "kamailio.cfg.in"

    def __init__(self, tmp: Path, users: dict[str, str]) -> None:
        require("kamailio")
        self.tmp, self.users = tmp, users
        self.port = free_port()
        self.uri = f"sip:{HOST}:{self.port}"

    def start(self) -> Kamailio:
        cases = "\n".join(f'        case "{u}": $var(pw) = "{p}"; break;' for u, p in self.users.items())
        cfg = self.TEMPLATE.read_text().replace("@PORT@", str(self.port)).replace("@USERS@", cases)
        cfg = cfg.replace("@MODULES@", _kamailio_modules())
        path = self.tmp / f"kamailio-{self.port}.cfg"
        path.write_text(cfg)
        run = self.tmp / f"kam-run-{self.port}"
        run.mkdir()
        check = subprocess.run(["kamailio", "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"kamailio config check failed:\n{check.stderr[-3000:]}"
        super().__init__(["kamailio", "-f", str(path), "-DD", "-E", "-Y", str(run), "-P", str(run / "kam.pid"),
                          "-m", "32", "-M", "8"], self.tmp / f"kamailio-{self.port}.log")
        wait_for(lambda: udp_bound(self.port) or self.p.poll() is not None, 15, what="kamailio to bind")
        assert self.p.poll() is None, f"kamailio exited:\n{self.log()[-3000:]}"
        return self

    def count(self, text: str) -> int:
        """How many log lines contain ``text`` (the cfg logs each REGISTER/INVITE it handles)."""
        return sum(text in line for line in self.log().splitlines())


def _kamailio_modules() -> str:
    for d in ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules"):
        if Path(d).is_dir():
            return d + "/"
    return "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


# --- baresip --------------------------------------------------------------------------------------------


class Baresip(Proc):
    """baresip auto-answering ``sip:bob@127.0.0.1:PORT``; a 1 kHz sine source; records what it hears.

    Audio: ``ausine`` source, ``sndfile`` recorder (``recordings`` dir), player = ``aufile`` writing into
    the recordings dir, so no sound server is needed. ``codecs`` picks baresip's codec modules.
    """

    def __init__(self, tmp: Path, codecs: tuple[str, ...] = ("g711",)) -> None:
        require("baresip")
        self.port = free_port()
        self.dir = tmp / f"baresip-{self.port}"
        self.rec = self.dir / "rec"
        self.rec.mkdir(parents=True)
        rtp = free_port(pair=True)
        modules = "\n".join(f"module\t\t\t{c}.so" for c in codecs)
        (self.dir / "config").write_text(f"""poll_method\t\tepoll
sip_listen\t\t{HOST}:{self.port}
net_interface\t\t{HOST}
dns_server\t\t{HOST}:53
call_local_timeout\t120
call_max_calls\t\t4
audio_player\t\taufile,{self.dir / 'played.wav'}
audio_source\t\tausine,1000
audio_alert\t\taufile,{self.dir / 'alert.wav'}
ausrc_srate\t\t48000
auplay_srate\t\t48000
ausrc_channels\t\t2
auplay_channels\t\t1
audio_buffer\t\t20-160
rtp_ports\t\t{rtp}-{rtp + 40}
jitter_buffer_delay\t5-10
rtp_stats\t\tyes
snd_path\t\t{self.rec}
module_path\t\t/usr/lib/baresip/modules
{modules}
module\t\t\taufile.so
module\t\t\tausine.so
module\t\t\tsndfile.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
""")
        (self.dir / "accounts").write_text(f"<sip:bob@{HOST}:{self.port}>;regint=0;answermode=auto\n")
        super().__init__(["baresip", "-f", str(self.dir), "-v"], tmp / f"baresip-{self.port}.log")
        wait_for(lambda: udp_bound(self.port) or self.p.poll() is not None, 10, what="baresip to bind")

    def uri(self) -> str:
        return f"sip:bob@{HOST}:{self.port}"


# --- tshark -----------------------------------------------------------------------------------------------


class Capture(Proc):
    """tshark capturing UDP on lo into a pcap; decode with ``rtp_events()`` / ``sip_methods()``."""

    def __init__(self, tmp: Path, bpf: str = "udp") -> None:
        require("tshark")
        self.pcap = tmp / f"cap-{time.monotonic_ns()}.pcap"
        super().__init__(["tshark", "-i", "lo", "-f", bpf, "-w", str(self.pcap), "-q"], tmp / "tshark.log")

    def start(self) -> Capture:
        wait_for(lambda: "Capturing on" in self.log() or self.p.poll() is not None, 20, what="tshark to start")
        time.sleep(0.3)
        return self

    def finish(self) -> Capture:
        time.sleep(0.5)  # let the last packets land
        self.stop()
        return self

    def fields(self, display_filter: str, *fields: str, decode: list[str] | None = None) -> list[list[str]]:
        argv = ["tshark", "-r", str(self.pcap), "-o", "rtp.heuristic_rtp:TRUE", "-Y", display_filter,
                "-T", "fields", *[a for f in fields for a in ("-e", f)]]
        for d in decode or []:
            argv += ["-d", d]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return [line.split("\t") for line in out.stdout.splitlines() if line.strip()]

    def rtp_events(self, payload_type: int = 101, port: int | None = None) -> str:
        """The RFC 4733 digits on the wire (to or from ``port``, if given: other tests may share lo),
        each event once (retransmitted end packets collapsed)."""
        where = "rtpevent" if port is None else f"rtpevent && udp.port == {port}"
        rows = subprocess.run(
            ["tshark", "-r", str(self.pcap), "-o", "rtp.heuristic_rtp:TRUE",
             "-o", f"rtpevent.event_payload_type_value:{payload_type}", "-Y", where,
             "-T", "fields", "-e", "rtp.timestamp", "-e", "rtpevent.event_id"],
            capture_output=True, text=True, timeout=60).stdout.split("\n")
        seen: list[tuple[str, str]] = []
        for row in rows:
            parts = row.split("\t")
            if len(parts) == 2 and parts not in [list(s) for s in seen]:
                seen.append((parts[0], parts[1]))
        names = {"10": "*", "11": "#"}
        return "".join(names.get(ev, ev) for _, ev in seen)

    def rtp_streams(self) -> list[dict[str, Any]]:
        """tshark's RTP stream table: one dict per stream (src_port, dst_port, payload, packets, lost)."""
        out = subprocess.run(["tshark", "-r", str(self.pcap), "-o", "rtp.heuristic_rtp:TRUE", "-q",
                              "-z", "rtp,streams"], capture_output=True, text=True, timeout=60).stdout
        # start end src-ip src-port dst-ip dst-port ssrc payload... packets lost (pct) ...
        row = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\S+\s+(\d+)\s+\S+\s+(\d+)\s+0x[0-9A-Fa-f]+\s+"
                         r"(.+?)\s+(\d+)\s+(-?\d+) \(")
        streams = []
        for line in out.splitlines():
            m = row.match(line)
            if m:
                streams.append({"src_port": int(m[1]), "dst_port": int(m[2]), "payload": m[3],
                                "packets": int(m[4]), "lost": int(m[5])})
        return streams

    def rtp_between(self, a: str, b: str) -> list[dict[str, Any]]:
        """The RTP streams between two "host:port" addresses (both directions)."""
        pa, pb = int(a.rsplit(":", 1)[1]), int(b.rsplit(":", 1)[1])
        return [s for s in self.rtp_streams() if {s["src_port"], s["dst_port"]} == {pa, pb}]

    def sip_methods(self, port: int) -> list[str]:
        """SIP request methods / response codes seen on ``port``, in order."""
        rows = self.fields("sip", "sip.Method", "sip.Status-Code", decode=[f"udp.port=={port},sip"])
        return [r[0] or r[1] for r in rows if any(r)]


# --- a second pjsua2 endpoint ---------------------------------------------------------------------------


class PjPeer:
    """Another usbphone CallCore in a child process (tests/sip/pjpeer.py), driven by JSON lines.

    ``send({"kind": "dial", "target": ...})`` runs a CallCommand there; ``event("connected")`` waits for
    a CallEvent from it. A real pjsua2 peer for codecs baresip lacks (GSM, iLBC), transfers and presence.
    """

    SCRIPT = Path(__file__).resolve().parent / "sip" / "pjpeer.py"

    def __init__(self, tmp: Path, config: str = "", name: str = "peer") -> None:
        self.port = free_port()
        cfg = tmp / f"{name}-{self.port}.toml"
        cfg.write_text(config)
        self.log_path = tmp / f"{name}-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen([sys.executable, str(self.SCRIPT), str(cfg), f"{HOST}:{self.port}"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                  text=True, bufsize=1, cwd=ROOT, start_new_session=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        ready = self.event("ready", timeout=20)
        self.address = ready["value"]
        self.transports: dict[str, str] = ready["transports"]  # "tls" -> "127.0.0.1:PORT" when it has one

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                continue

    def uri(self, user: str = "peer") -> str:
        return f"sip:{user}@{self.address}"

    def send(self, command: dict[str, Any], timeout: float = 10) -> Any:
        """Run one CallCommand in the peer; returns its result (e.g. the call id of a dial)."""
        assert self.p.stdin is not None
        self.p.stdin.write(json.dumps(command) + "\n")
        self.p.stdin.flush()
        reply = self.event("result", timeout=timeout)
        if reply.get("error"):
            raise AssertionError(f"peer refused {command}: {reply['error']}")
        return reply.get("value")

    def event(self, kind: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        """The next event of ``kind`` (fields matching ``match``); earlier ones stay in ``seen``."""
        for ev in self.seen:
            if ev["kind"] == kind and all(ev.get(k) == v for k, v in match.items()) and not ev.get("_used"):
                ev["_used"] = True
                return ev
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"peer: no {kind} {match} within {timeout} s; seen {self.seen}; "
                                     f"log:\n{self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(ev)
            if ev["kind"] == kind and all(ev.get(k) == v for k, v in match.items()):
                ev["_used"] = True
                return ev

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                assert self.p.stdin is not None
                self.p.stdin.close()
                self.p.wait(8)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self._log.close()
