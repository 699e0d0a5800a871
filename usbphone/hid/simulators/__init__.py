"""Device simulators built from the documented protocols, each a Transport (open/read/write/close).

They let the real DeviceRunner and drivers run without hardware: the Yealink one answers VERSION, INIT,
KEYPRESS, SCANCODE and hook polls and records LCD/ring/LED writes; the CM109 one answers keypad-scan writes
with the row lines of the pressed key; both build on ``base.SimulatedDevice``. ``recording.RecordingTransport``
wraps any transport and keeps both directions as a hid-recorder trace; ``scenarios`` builds the traces
committed under devices/*/traces/.

Edit a simulator when the protocol notes it is built from change.
"""
