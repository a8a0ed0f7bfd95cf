"""The report's JSON text: orjson, indented by two spaces, UTF-8 kept as it is.

`json.dumps(indent=2)` cannot use the standard library's C encoder once it indents, and
a report of 10,000 sessions (a hundred megabytes) took three seconds to write; orjson
writes it in a tenth of that. The layout is the one `json.dumps(value, indent=2,
ensure_ascii=False)` gives; numbers are written as orjson writes them (`0.000053` for
`5.3e-05`, `null` for a NaN, which JSON has no word for). What orjson refuses but
`json` writes (an integer past 64 bits, a string holding a lone surrogate) is written by
`json`; what neither can write is a TypeError.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """`value` as indented JSON text."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, indent=2, ensure_ascii=False)
