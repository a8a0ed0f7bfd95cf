"""Secret redaction for everything a capture, a HAR or a log says about credentials.

Deepgram credentials travel as `Authorization: Token <key>` / `Bearer <jwt>`, as the
second Sec-WebSocket-Protocol entry (`token, <key>`), in query strings, and in cookies;
other services use headers such as X-Goog-Api-Key or X-Amz-Security-Token, clients echo
keys in JSON messages (`{"api_key": ...}`) and servers in close reasons. Redaction keeps
the scheme and the first characters so two sessions can still be told apart
("Token 3f2a…") without the value being usable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import polars as pl

REDACTED = "…redacted"
KEEP = 4

# A header, query parameter or JSON member is secret when its name ends with one of these
# words (X-Goog-Api-Key, X-Amz-Security-Token, client_secret, apiKey): a rule on the name
# rather than a list, because every service invents its own header. "Ends with" keeps
# `keywords`, `keyterm` and `token_type` readable.
SECRET_WORDS = (
    r"key|token|secret|passw(?:or)?d|pwd|credentials?|signature|authorization|auth|jwt|cookie"
)
_SECRET_NAME = re.compile(rf"(?i)(?:{SECRET_WORDS})$")
# Secret headers whose names do not say so.
SECRET_HEADERS = frozenset({"set-cookie", "x-goog-iap-jwt-assertion", "x-amzn-oidc-data"})
# Named like a secret but public by design: the handshake nonce is needed to check the
# accept key, and the subprotocol list is redacted entry by entry (`subprotocols`).
PUBLIC_HEADERS = frozenset({"sec-websocket-key", "sec-websocket-protocol"})
SECRET_PARAMS = re.compile(
    r"(?i)^(token|access_token|api_key|apikey|key|auth|authorization|password|secret|"
    r"signature|sig|jwt|x-amz-security-token|x-amz-signature)$"
)
SUBPROTOCOL_AUTH = frozenset({"token", "bearer"})

# Secrets inside free text (text frames, HAR messages, log lines, bodies, close reasons).
# Every alternative is (kept prefix)(first <= 4 characters of the value)(rest, dropped):
#   - a JSON member named like a secret, also inside escaped JSON (`\"token\": \"…`);
#   - `name=value` / `name: value` (query strings, logfmt, headers quoted in logs), with
#     an optional auth scheme (`Authorization: Bearer …`);
#   - a scheme or credential word followed by a long value (`Bearer <jwt>`, `key <key>`);
#     12+ characters so prose ("token expired") stays;
#   - a JWT; a key-looking run of 32+ word characters (Deepgram keys are 40 hex; UUIDs
#     such as request ids have hyphens every <= 12 characters and survive).
# The kept part never includes "…", so redacting twice changes nothing. The pattern is
# valid for both Python's re and polars' Rust regex, so whole columns (polars) and single
# values (Python) are redacted by the same definition.
# Bounds on the runs before a fixed part (a name before its secret word, a JWT header
# before its dot) keep Python's backtracking linear on hostile text such as "a-a-a-…":
# unbounded, each word start would rescan the whole run.
NAME_MAX = 48
JWT_HEADER_MAX = 400
_NAME = rf"[A-Za-z0-9_.-]{{0,{NAME_MAX}}}(?i:{SECRET_WORDS})"
_VALUE_CHAR = r"[A-Za-z0-9._~+/=-]"
KEY_PATTERN = "|".join(
    [
        rf'(\\?"{_NAME}\\?"\s*:\s*\\?")((?:[^"\\…]|\\[^"]){{1,4}})(?:[^"\\]|\\[^"])*',
        rf"(\b{_NAME}\s*[=:]\s*(?:(?i:bearer|basic|token|digest)\s+)?)"
        r"([^\s\"'&;,…]{1,4})[^\s\"'&;,]*",
        rf"(\b(?i:bearer|basic|token|key|apikey|secret|password)\s+)({_VALUE_CHAR}{{4}})"
        rf"{_VALUE_CHAR}{{8,}}",
        rf"()\b(eyJ[A-Za-z0-9_-])[A-Za-z0-9_-]{{0,{JWT_HEADER_MAX}}}"
        r"\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
        r"()\b([A-Za-z0-9_]{4})[A-Za-z0-9_]{28,}\b",
    ]
)
_KEY_LIKE = re.compile(KEY_PATTERN)
# polars has no replacement callback: every group is referenced, unmatched ones are empty.
KEY_REPLACEMENT_POLARS = "".join(f"${{{i}}}" for i in range(1, _KEY_LIKE.groups + 1)) + REDACTED
# A close reason is a short sentence a server writes; a random-looking word in it (a
# digit pair among letters, or lower case running into capitals: `abcdLEAK…`, `3f2a9b…`)
# is far more likely an echoed credential than prose, while CamelCase error names
# (ConnectionClosedError) and UUID pieces stay.
_WORD = re.compile(r"\b[A-Za-z0-9_]{16,}\b")
_MIXED_CASE = re.compile(r"[a-z][A-Z]{2}")
PYTHON_MAX = 4096
# Room around a preview's cut: a secret straddling it is redacted before the cut.
PREVIEW_SLACK = 256
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


def mask(value: str) -> str:
    return value[:KEEP] + REDACTED if value else value


def secret_name(name: str) -> bool:
    """Whether a header, parameter or member name says its value is a credential."""
    lname = name.strip().lower()
    if lname in PUBLIC_HEADERS:
        return False
    return lname in SECRET_HEADERS or _SECRET_NAME.search(lname) is not None


def header_value(name: str, value: str) -> str:
    """Redact a header value if the header carries credentials."""
    if not _ON.get():
        return value
    lname = name.strip().lower()
    if secret_name(lname):
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
    secret = SECRET_PARAMS.match(name) or secret_name(name)
    return mask(value) if secret else free_text(value)


def free_text(text: str) -> str:
    """Mask secrets in text frames, HAR messages, bodies and log lines (`KEY_PATTERN`).

    Long text goes through polars' regex engine, which is linear whatever the input;
    Python's backtracking is faster on short values but slows down on hostile runs.
    """
    if not _ON.get():
        return text
    if len(text) > PYTHON_MAX:
        return pl.Series([text]).str.replace_all(KEY_PATTERN, KEY_REPLACEMENT_POLARS).item()
    return _KEY_LIKE.sub(lambda m: "".join(g for g in m.groups() if g) + REDACTED, text)


def text_expr(expr: pl.Expr) -> pl.Expr:
    """The polars form of `free_text`, for whole columns of text frames and log lines."""
    return expr.str.replace_all(KEY_PATTERN, KEY_REPLACEMENT_POLARS) if _ON.get() else expr


def preview(text: str, chars: int) -> str:
    """The first `chars` characters of redacted text: redact, then cut, so a key the cut
    would split is still recognised whole."""
    return free_text(text[: chars + PREVIEW_SLACK])[:chars]


def preview_expr(expr: pl.Expr, chars: int) -> pl.Expr:
    """The polars form of `preview`."""
    return text_expr(expr.str.slice(0, chars + PREVIEW_SLACK)).str.slice(0, chars)


def close_reason(text: str) -> str:
    """`free_text`, plus random-looking words masked (see `_WORD`)."""
    if not _ON.get():
        return text
    return _WORD.sub(_mask_random, free_text(text))


def close_reason_expr(expr: pl.Expr) -> pl.Expr:
    """`close_reason` over a column; close frames are few, so a Python pass is cheap."""
    if not _ON.get():
        return expr
    return expr.map_elements(close_reason, return_dtype=pl.String, skip_nulls=True)


def log_hits(hits: pl.DataFrame) -> pl.DataFrame:
    """Log events with `text` (the redacted raw line, uncut) and a redacted
    `close_reason`; the line's own copy of the close reason is redacted the same way, so
    a word only the close-reason rule catches does not survive in `text`."""
    if not _ON.get():
        return hits.with_columns(text=pl.col("raw"))
    if "close_reason" not in hits.columns:
        return hits.with_columns(text=text_expr(pl.col("raw")))
    line = pl.struct("raw", "close_reason").map_elements(
        _line_with_reason, return_dtype=pl.String, skip_nulls=False
    )
    return hits.with_columns(
        text=pl.when(pl.col("close_reason").is_null())
        .then(text_expr(pl.col("raw")))
        .otherwise(line),
        close_reason=close_reason_expr(pl.col("close_reason")),
    )


def _line_with_reason(row: dict[str, str | None]) -> str | None:
    raw, reason = row["raw"], row["close_reason"]
    if raw is None or not reason:
        return free_text(raw) if raw is not None else None
    return free_text(raw.replace(reason, close_reason(reason)))


def _mask_random(match: re.Match[str]) -> str:
    word = match.group(0)
    digits = sum(c.isdigit() for c in word)
    random_looking = (digits >= 2 and len(word) - digits >= 2) or _MIXED_CASE.search(word)
    return mask(word) if random_looking else word
