"""RFC 6455 facts the engine and rules share: opcodes, close codes, the accept key."""

from __future__ import annotations

import base64
import hashlib

# RFC 6455 §5.2; anything else is reported as reserved-N (contract vocabulary).
OPCODE_NAMES: dict[int, str] = {
    0: "continuation",
    1: "text",
    2: "binary",
    8: "close",
    9: "ping",
    10: "pong",
}
CONTROL_OPCODES = frozenset({8, 9, 10})
MAX_CONTROL_PAYLOAD = 125  # RFC 6455 §5.5

# RFC 6455 §7.4.1 and the IANA registry, as rule texts name them (the `close_name` filter);
# 1005/1006/1015 never appear on the wire. 1015 in RFC 6455's words ("a failure to perform
# a TLS handshake"; the registry says "TLS handshake").
CLOSE_CODE_NAMES: dict[int, str] = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1004: "reserved",
    1005: "no status received",
    1006: "abnormal closure",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure",
}

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def opcode_name(opcode: int) -> str:
    return OPCODE_NAMES.get(opcode, f"reserved-{opcode}")


def close_code_name(code: int) -> str:
    """What a close code means: its registered name, `registered` (3000-3999: libraries and
    frameworks), `private use` (4000-4999), else `unassigned` (RFC 6455 §7.4.2)."""
    if code in CLOSE_CODE_NAMES:
        return CLOSE_CODE_NAMES[code]
    if 3000 <= code <= 3999:
        return "registered"
    return "private use" if 4000 <= code <= 4999 else "unassigned"


def accept_key(sec_websocket_key: str) -> str:
    """The Sec-WebSocket-Accept a correct server derives from the client's key (§4.2.2)."""
    digest = hashlib.sha1((sec_websocket_key.strip() + WEBSOCKET_GUID).encode()).digest()
    return base64.b64encode(digest).decode()
