"""Is the JACK server that PortAudio's JACK host is connected to still there? (libjack through ctypes.)

Why this exists: PortAudio's JACK host (pa_jack.c, libportaudio2 19.6.0 as shipped by Debian 12) keeps one
JACK client from Pa_Initialize to Pa_Terminate and checks its JACK calls with ``assert``. Once that server
has died (or kicked the client out), measured here with ``jackd -d dummy`` killed under a running stream:
  * Pa_Terminate aborts the process (pa_jack.c:820 ``Terminate: Assertion `err == 0'``: jack_deactivate
    fails), even with no stream open;
  * Pa_CloseStream aborts it (pa_jack.c:983 ``CleanUpStream``: jack_port_unregister fails), and
    Pa_AbortStream either waits for a process thread that never runs again or spins, so a stream on that
    server can never be closed;
  * opening a stream fails (jack_port_register on the dead client), and so does every later one: the host
    never reconnects, and re-initialising PortAudio is exactly the Pa_Terminate above.
So after such a death this process must not stop, close or terminate anything of PortAudio's JACK host
(usbphone/audio/stream.py obeys ``JACK.gone``), and the JACK device comes back only with a new process.

``JackWatch.attach()`` (after each Pa_Initialize that found a JACK server) opens a small port-less,
never-activated client of its own on the same server and asks libjack to tell it when the server shuts
down (libjack calls back within ~10 ms of the server's death, measured); ``server_running()`` is a cheap
probe (open + close a client, no server is ever started) for "is a JACK server up again". Edit this module
when PortAudio's JACK host changes (a PortAudio that survives a dead server would make it unnecessary).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time

log = logging.getLogger("usbphone.audio")

JACK_NO_START_SERVER = 0x01  # jack/types.h JackOptions: JackNoStartServer
JACK_HOSTAPI = "JACK Audio Connection Kit"  # PortAudio's name for its JACK host API (pa_jack.c)

_ShutdownCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _libjack() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
    except OSError:
        return None
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    lib.jack_client_close.restype = ctypes.c_int
    lib.jack_on_shutdown.argtypes = [ctypes.c_void_p, _ShutdownCallback, ctypes.c_void_p]
    lib.jack_on_shutdown.restype = None
    return lib


class JackWatch:
    """Watches the server PortAudio's JACK client belongs to; ``gone`` says it died (for good: see above)."""

    def __init__(self) -> None:
        self._lib: ctypes.CDLL | None = None
        self._loaded = False
        self._client: int | None = None
        self._callback = _ShutdownCallback(self._on_shutdown)  # kept alive: libjack holds the pointer
        self._lock = threading.Lock()
        self.gone_at: float | None = None
        self.reason = ""

    @property
    def gone(self) -> bool:
        return self.gone_at is not None

    def _jack(self) -> ctypes.CDLL | None:
        if not self._loaded:
            self._lib, self._loaded = _libjack(), True
        return self._lib

    def attach(self) -> bool:
        """After Pa_Initialize found a JACK server: watch it. False when no client could be opened (the server
        went away in between, or no libjack): then ``gone`` is set, since PortAudio's client is as stale."""
        lib = self._jack()
        with self._lock:
            if lib is None or self._client is not None or self.gone:
                return self._client is not None
            status = ctypes.c_int(0)
            client = lib.jack_client_open(b"usbphone-watch", JACK_NO_START_SERVER, ctypes.byref(status))
            if not client:
                self._mark_gone(f"JACK server not reachable (status 0x{status.value:x})")
                return False
            lib.jack_on_shutdown(client, self._callback, None)
            self._client = client
            return True

    def detach(self) -> None:
        """Before a Pa_Terminate on a live server: close the watching client. Left alone once the server is
        gone (libjack's close on a dead server is as unreliable as PortAudio's; the OS cleans up)."""
        lib = self._jack()
        with self._lock:
            client, self._client = self._client, None
            if client is not None and lib is not None and not self.gone:
                lib.jack_client_close(client)

    def mark_gone(self, reason: str) -> None:
        """Something else saw the server die first (a JACK stream stopped calling back)."""
        with self._lock:
            self._mark_gone(reason)

    def _mark_gone(self, reason: str) -> None:
        if self.gone_at is None:
            self.gone_at, self.reason = time.monotonic(), reason

    def _on_shutdown(self, _arg: int | None) -> None:  # libjack's thread; must not raise, no locks
        if self.gone_at is None:
            self.gone_at, self.reason = time.monotonic(), "the JACK server shut down"

    def server_running(self) -> bool:
        """Is a JACK server (JACK_DEFAULT_SERVER, as for PortAudio) accepting clients now? Never starts one."""
        lib = self._jack()
        if lib is None:
            return False
        status = ctypes.c_int(0)
        client = lib.jack_client_open(b"usbphone-probe", JACK_NO_START_SERVER, ctypes.byref(status))
        if not client:
            return False
        lib.jack_client_close(client)
        return True


JACK = JackWatch()  # one per process, like PortAudio's own JACK client
