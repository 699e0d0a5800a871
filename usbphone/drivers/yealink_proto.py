"""Yealink USB-P1K family wire format: command codes, packet build/parse with checksum, model detection.

Generation 1 (P1K, P4K, B2K, B3G) packets are 16 bytes: cmd, size, offset (big-endian 16 bit),
data[11], sum. Generation 2 (P1KH) packets are 8 bytes: cmd, data[6], sum. In both, all bytes add
up to 0 modulo 256. Everything here is pure and stateless; yealink.py holds the state.

source: ../shared/protocols/usb-phone-protocols.md §2.1-2.4 (kernel drivers/input/misc/yealink.{c,h},
treitmayr/yealink-module, hkarel/ToxPhone yealink_protocol.cpp).
Edit this module when a new command code or model range becomes known.
"""

from __future__ import annotations

from dataclasses import dataclass

G1_LEN = 16  # source: §2.3 (G1 packet = 16 bytes)
G2_LEN = 8  # source: §2.3 (G2 packet = 8 bytes)
G1_DATA = 11
G2_DATA = 6

# Command codes. source: §2.4 table "Command codes".
CMD_B2K_RING = 0x01
CMD_RING_NOTE = 0x02
CMD_RINGTONE = 0x03
CMD_LCD = 0x04
CMD_LED = 0x05
CMD_PSTN_LINE = 0x07
CMD_DIALTONE = 0x09
CMD_SPEAKER = 0x0C
CMD_PSTN_SWITCH = 0x0E
CMD_RING_VOLUME = 0x11
CMD_LCD_BACKLIGHT = 0x12
CMD_JOIN = 0x14
CMD_KEYPRESS = 0x80
CMD_SCANCODE = 0x81
CMD_VERSION = 0x87
CMD_HOOKPRESS = 0x8B
CMD_HANDSET = 0x8D
CMD_INIT = 0x8E
STATE_BAD_PKT = 0xFD  # source: §2.3 "a reply whose command byte is 0xFD means the phone got a bad packet"

COMMAND_NAMES = {
    CMD_B2K_RING: "B2K_RING", CMD_RING_NOTE: "RING_NOTE", CMD_RINGTONE: "RINGTONE", CMD_LCD: "LCD",
    CMD_LED: "LED", CMD_PSTN_LINE: "PSTN_LINE", CMD_DIALTONE: "DIALTONE", CMD_SPEAKER: "SPEAKER",
    CMD_PSTN_SWITCH: "PSTN_SWITCH", CMD_RING_VOLUME: "RING_VOLUME", CMD_LCD_BACKLIGHT: "LCD_BACKLIGHT",
    CMD_JOIN: "JOIN", CMD_KEYPRESS: "KEYPRESS", CMD_SCANCODE: "SCANCODE", CMD_VERSION: "VERSION",
    CMD_HOOKPRESS: "HOOKPRESS", CMD_HANDSET: "HANDSET", CMD_INIT: "INIT", STATE_BAD_PKT: "BAD_PACKET",
}

# VERSION reply ranges -> model. source: §2.1 "Model detection" (module ranges; ToxPhone adds P3K/V1K/B1K/T1K).
MODEL_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0100, 0x01FF, "p1k"),
    (0x0200, 0x022F, "p3k"),
    (0x0230, 0x02FF, "p4k"),
    (0x0300, 0x04FF, "v1k"),
    (0x0500, 0x051F, "b1k"),
    (0x0520, 0x053F, "b2k"),
    (0x0540, 0x056F, "b3g"),
    (0x0570, 0x058F, "b2k"),
    (0x0600, 0x06FF, "t1k"),
)
MODELS = frozenset({"p1k", "p1kh", "p3k", "p4k", "v1k", "b1k", "b2k", "b3g", "t1k"})


def model_for_version(version: int) -> str:
    """The model a VERSION reply names, or "" when the version is outside every known range."""
    for lo, hi, model in MODEL_RANGES:
        if lo <= version <= hi:
            return model
    return ""


def checksum(body: bytes) -> int:
    """The byte that makes ``body + sum`` add up to 0 mod 256 (two's-complement of the sum)."""
    return (-sum(body)) & 0xFF


def checksum_ok(packet: bytes) -> bool:
    return sum(packet) % 256 == 0


def g1_packet(cmd: int, data: bytes = b"", *, size: int | None = None, offset: int = 0) -> bytes:
    """A 16-byte G1 packet; ``size`` defaults to len(data) (at least 1)."""
    if len(data) > G1_DATA:
        raise ValueError(f"G1 payload is at most {G1_DATA} bytes, got {len(data)}")
    n = size if size is not None else max(1, len(data))
    body = bytes([cmd & 0xFF, n & 0xFF, (offset >> 8) & 0xFF, offset & 0xFF]) + data.ljust(G1_DATA, b"\0")
    return body + bytes([checksum(body)])


def g2_packet(cmd: int, data: bytes = b"") -> bytes:
    """An 8-byte G2 packet: cmd, data[6], sum."""
    if len(data) > G2_DATA:
        raise ValueError(f"G2 payload is at most {G2_DATA} bytes, got {len(data)}")
    body = bytes([cmd & 0xFF]) + data.ljust(G2_DATA, b"\0")
    return body + bytes([checksum(body)])


@dataclass(frozen=True)
class Packet:
    """A parsed packet (either generation): ``data`` is the payload area (11 or 6 bytes)."""

    cmd: int
    data: bytes
    size: int = 0
    offset: int = 0
    generation: int = 1

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.cmd, f"0x{self.cmd:02x}")


class PacketError(ValueError):
    """Bytes that are not a valid Yealink packet (wrong length or checksum)."""


def parse_packet(raw: bytes) -> Packet:
    """Parse 16 (G1) or 8 (G2) bytes; raises PacketError on a wrong length or a bad checksum."""
    if len(raw) == G1_LEN:
        if not checksum_ok(raw):
            raise PacketError(f"bad checksum: {raw.hex(' ')}")
        return Packet(raw[0], bytes(raw[4:15]), raw[1], (raw[2] << 8) | raw[3], 1)
    if len(raw) == G2_LEN:
        if not checksum_ok(raw):
            raise PacketError(f"bad checksum: {raw.hex(' ')}")
        return Packet(raw[0], bytes(raw[1:7]), 0, 0, 2)
    raise PacketError(f"a Yealink packet is 16 or 8 bytes, got {len(raw)}")


def build(generation: int, cmd: int, data: bytes = b"", *, size: int | None = None, offset: int = 0) -> bytes:
    """One packet of the given generation (G2 has no size/offset fields)."""
    if generation == 2:
        return g2_packet(cmd, data)
    return g1_packet(cmd, data, size=size, offset=offset)


def lcd_packets(generation: int, offset: int, values: bytes) -> list[bytes]:
    """LCD writes for consecutive buffer bytes starting at ``offset`` (split to the packet's capacity).

    G1: offset field = buffer offset, size = byte count, up to 11 bytes. G2: data[0] = count,
    data[1] = offset, then up to 4 bytes. source: §2.3 (G2 LCD layout), §2.4 (LCD command 0x04).
    """
    per = G1_DATA if generation == 1 else G2_DATA - 2
    out = []
    for start in range(0, len(values), per):
        chunk = values[start : start + per]
        if generation == 1:
            out.append(g1_packet(CMD_LCD, chunk, size=len(chunk), offset=offset + start))
        else:
            out.append(g2_packet(CMD_LCD, bytes([len(chunk), offset + start]) + chunk))
    return out
