"""usbphone: a user-space driver and phone appliance for USB telephone handsets and telephony headsets."""

__version__ = "0.1.0"
