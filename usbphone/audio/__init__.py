"""Audio without pjsua2: drift-correcting ring buffers, tone rendering, sound-card matching and the sounddevice
stream. ``usbphone/sip/audio.py`` joins these to pjsua2's conference bridge. Nothing here imports pjsua2."""
