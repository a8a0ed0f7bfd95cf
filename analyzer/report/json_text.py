"""The report's JSON text: orjson, indented by two spaces, UTF-8 kept as it is.

`json.dumps(indent=2)` cannot use the standard library's C encoder once it indents, and
a report of 10,000 sessions (a hundred megabytes) took three seconds to write; orjson
writes it in a tenth of that. The layout is the one `json.dumps(value, indent=2,
ensure_ascii=False)` gives; numbers are written as orjson writes them (`0.000053` for
`5.3e-05`, `null` for a NaN, which JSON has no word for). What orjson refuses but
`json` writes (an integer past 64 bits, a string holding a lone surrogate) is written by
`json`; what neither can write is a TypeError. The text is UTF-8 bytes, as orjson makes
them and as they are written: a report is never decoded only to be encoded again (0.3 s
each way for 10,000 sessions).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def dumps(value: Any) -> bytes:
    """`value` as an indented JSON document in UTF-8, ending with a newline (written by
    orjson itself: appending it would copy the whole document)."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError:
        text = json.dumps(value, indent=2, ensure_ascii=False)
        # A lone surrogate, which UTF-8 cannot hold, becomes its JSON escape (`\\ud800`).
        return (text + "\n").encode("utf-8", "backslashreplace")
