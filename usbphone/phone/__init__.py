"""The phone: a pure state machine, dial plan and tone plans (no I/O, no threads, no pjsua2)."""
