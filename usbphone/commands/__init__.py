"""usbphone subcommands, one module each (see usbphone/cli.py)."""
