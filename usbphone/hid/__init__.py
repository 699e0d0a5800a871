"""HID side of usbphone: traces, report descriptors, transports, the device runner and discovery.

Nothing to edit here: each job has its own module (see DESIGN.md "A layout that shows the architecture").
"""
