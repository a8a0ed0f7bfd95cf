"""Secret redaction for everything a capture or log says about credentials.

Deepgram credentials travel as `Authorization: Token <key>` / `Bearer <jwt>`, as the
second Sec-WebSocket-Protocol entry (`token, <key>`), in query strings, and in cookies.
Redaction keeps the scheme and the first characters so two sessions can still be told
apart ("Token 3f2a…") without the value being usable.
"""

from __future__ import annotations

import re

REDACTED = "…redacted"
KEEP = 4

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "dg-api-key",
    }
)
SECRET_PARAMS = re.compile(
    r"(?i)^(token|access_token|api_key|apikey|key|auth|authorization|password|secret|"
    r"signature|sig|jwt|x-amz-security-token|x-amz-signature)$"
)
SUBPROTOCOL_AUTH = frozenset({"token", "bearer"})
# A long opaque run of key-like characters inside free text (e.g. a pasted API key).
KEY_LIKE = re.compile(r"\b(?=[A-Za-z0-9_\-]{32,}\b)(?=[^\s]*\d)[A-Za-z0-9_\-]{32,}")


def mask(value: str) -> str:
    return value[:KEEP] + REDACTED if value else value


def header_value(name: str, value: str) -> str:
    """Redact a header value if the header carries credentials."""
    lname = name.lower()
    if lname in SECRET_HEADERS:
        scheme, _, secret = value.partition(" ")
        if secret and lname.endswith("authorization"):
            return f"{scheme} {mask(secret)}"
        return mask(value)
    if lname == "sec-websocket-protocol":
        return ", ".join(subprotocols(value))
    return value


def subprotocols(value: str) -> list[str]:
    """Subprotocol list with the credential after `token`/`bearer` masked."""
    items = [p.strip() for p in value.split(",") if p.strip()]
    out: list[str] = []
    for i, item in enumerate(items):
        after_auth = i > 0 and items[i - 1].lower() in SUBPROTOCOL_AUTH
        out.append(mask(item) if after_auth else item)
    return out


def query_value(name: str, value: str) -> str:
    return mask(value) if SECRET_PARAMS.match(name) else value


def free_text(text: str) -> str:
    """Mask key-looking runs in text frames and log lines."""
    return KEY_LIKE.sub(lambda m: mask(m.group(0)), text)
