"""SIP side: the only package that imports pjsua2 (call core, audio bridge)."""
