"""Secret redaction for everything a capture or log says about credentials.

Deepgram credentials travel as `Authorization: Token <key>` / `Bearer <jwt>`, as the
second Sec-WebSocket-Protocol entry (`token, <key>`), in query strings, and in cookies.
Redaction keeps the scheme and the first characters so two sessions can still be told
apart ("Token 3f2a…") without the value being usable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import polars as pl

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
# Key-looking runs inside free text: 32+ word characters (Deepgram keys are 40 hex; UUIDs
# such as request ids have hyphens every <= 12 characters and survive) or a JWT. The
# pattern is valid for both Python's re and polars' Rust regex, so text frames (polars)
# and single values (Python) are redacted by the same definition.
KEY_PATTERN = (
    r"\b([A-Za-z0-9_]{4})[A-Za-z0-9_]{28,}\b"
    r"|\b(eyJ[A-Za-z0-9_-])[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
)
KEY_REPLACEMENT_POLARS = "${1}${2}" + REDACTED
_KEY_LIKE = re.compile(KEY_PATTERN)
# On unless a user asked for `--no-redact`: a policy for the whole run, so it is context
# state rather than a flag threaded through every ingestion function.
_ON: ContextVar[bool] = ContextVar("wsdoctor_redact", default=True)


@contextmanager
def disabled() -> Iterator[None]:
    """Keep secrets as captured for the duration (the user's explicit `--no-redact`)."""
    token = _ON.set(False)
    try:
        yield
    finally:
        _ON.reset(token)


def active() -> bool:
    return _ON.get()


def text_expr(expr: pl.Expr) -> pl.Expr:
    """The polars form of `free_text`, for whole columns of text frames."""
    return expr.str.replace_all(KEY_PATTERN, KEY_REPLACEMENT_POLARS) if _ON.get() else expr


def mask(value: str) -> str:
    return value[:KEEP] + REDACTED if value else value


def header_value(name: str, value: str) -> str:
    """Redact a header value if the header carries credentials."""
    if not _ON.get():
        return value
    lname = name.lower()
    if lname in SECRET_HEADERS:
        scheme, _, secret = value.partition(" ")
        if secret and lname.endswith("authorization"):
            return f"{scheme} {mask(secret)}"
        return mask(value)
    if lname == "sec-websocket-protocol":
        return ", ".join(subprotocols(value))
    return free_text(value)


def subprotocols(value: str) -> list[str]:
    """Subprotocol list with the credential after `token`/`bearer` masked, and keys or
    JWTs embedded in an entry (wstunnel's `authorization.bearer.<jwt>`) masked too."""
    items = [p.strip() for p in value.split(",") if p.strip()]
    if not _ON.get():
        return items
    out: list[str] = []
    for i, item in enumerate(items):
        after_auth = i > 0 and items[i - 1].lower() in SUBPROTOCOL_AUTH
        out.append(mask(item) if after_auth else free_text(item))
    return out


def query_value(name: str, value: str) -> str:
    if not _ON.get():
        return value
    return mask(value) if SECRET_PARAMS.match(name) else free_text(value)


def free_text(text: str) -> str:
    """Mask key-looking runs in text frames and log lines."""
    if not _ON.get():
        return text
    return _KEY_LIKE.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)
