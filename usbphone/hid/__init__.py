"""HID side of usbphone: traces, report descriptors, transports and device discovery."""
