"""Mutants of real logs, HAR files and rule packs, drawn by hypothesis.

- logs: lines spliced from other tools' logs, duplicated, dropped, swapped; timestamps set
  to extremes (year 1 / 9999, 1970, 2038, month 13, second 60, 20-digit fractions, odd
  zones); other encodings (UTF-16, Latin-1, invalid UTF-8, BOM, CR / CRLF endings), control
  and bidi characters, very long lines, huge numbers, hostile text (markup, Markdown links,
  backticks), a cut at the end;
- HAR: JSON type swaps at a path (null, strings, NaN, Infinity, 1e400, 10**30, lists, maps),
  deleted keys, deep nesting, huge strings, timestamps to extremes, many entries or
  messages, BOM / UTF-16 / a cut;
- rule packs: one built-in rule copied as `fuzz-rule` into a pack of its own, with YAML
  anchors and aliases (nested up to a billion laughs), recursive aliases, tags (python/*,
  unknown, binary), wrong types, huge numbers, Jinja constructs in its templates (sandbox
  escapes, includes, huge ranges and products, recursion), raw HTML and links in its fix.

Every mutant plants marker secrets (`LEAK` after the first 4 characters) in the places the
README promises to redact; the oracle checks them only while they survived intact.
"""

from __future__ import annotations

import copy
import json
import re

import yaml
from hypothesis import strategies as st

from . import seeds
from .oracle import Case

small = st.integers(0, 2**16)
ANALYZE = ["analyze", "{D}/INPUT", "--format", "html,md,json", "-o", "{O}/report"]

# ---------------------------------------------------------------- logs

LOG_SECRETS = [
    ("dg_test_0123456789abcdef", "dg_tLEAKLOGAUTH0123abcde"),
    ("/v1/listen?", "/v1/listen?token=abcdLEAKLOGQRY&"),
    ("/v1/listen ", "/v1/listen?access_token=abcdLEAKLOGQRY2 "),
]
TS = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
    r"|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d|\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}"
)
TS_EXTREMES = [
    "0001-01-01T00:00:00.000Z",
    "9999-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "2038-01-19T03:14:08Z",
    "2026-13-45T25:61:61Z",
    "2026-11-21T23:59:60Z",
    "2026-11-21T21:21:30.12345678901234567890Z",
    "2026-11-21T21:21:30+14:00",
    "2026-11-21T21:21:30-99:99",
    "0000-00-00 00:00:00",
    "2026/02/30 12:00:00",
    "31/Dec/9999:23:59:59 +0000",
    "1900-01-01T00:00:00Z",
    "-001-01-01T00:00:00Z",
]
INSERTS = [
    "\x00",
    "\x1b[2J\x1b]0;pwned\x07",
    "\x1b]8;;https://evil.example/\x07x\x1b]8;;\x07",
    "\u202e",
    "\u2028",
    "\ufeff",
    "\x85",
    "\r",
    "\udcff",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](https://evil.example/a) ![i](http://127.0.0.1:9/x)",
    "`" * 50,
    "{{ 7*7 }}{% raw %}",
    "javascript:alert(1)",
    "&lt;&#x3C;",
    "|---|---|",
    " CLOSE 1008 (policy violation) [81 bytes]",
    " < CLOSE 99999999999999999999 x [5 bytes]",
    " 1006 ",
    " 4000 ",
    " 1011 ",
]
LONG = [1000, 70_000, 1_100_000]

log_ops = st.one_of(
    st.tuples(st.just("splice"), small, small),
    st.tuples(st.just("dup"), small, st.integers(1, 200)),
    st.tuples(st.just("delete"), small, st.integers(1, 20)),
    st.tuples(st.just("swap"), small, small),
    st.tuples(st.just("timestamp"), small, st.sampled_from(TS_EXTREMES)),
    st.tuples(st.just("insert"), small, st.sampled_from(INSERTS)),
    st.tuples(st.just("long"), small, st.sampled_from(LONG)),
    st.tuples(
        st.just("number"),
        small,
        st.sampled_from(["99999999999999999999999", "-1", "65536", "0", "1e400", "NaN"]),
    ),
)
encodings = st.sampled_from(
    ["utf-8", "utf-8", "utf-8", "utf-16", "latin-1", "bom", "crlf", "cr", "invalid", "cut"]
)


def _lines_of(path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="surrogateescape").split("\n")


def apply_log_op(lines: list[str], op: tuple, pool: list[list[str]]) -> None:
    what, a, b = op
    if not lines:
        lines.append("")
    i = a % len(lines)
    if what == "splice":
        src = pool[b % len(pool)]
        lines.insert(i, src[(a * 7 + b) % len(src)])
    elif what == "dup":
        lines[i + 1 : i + 1] = [lines[i]] * b
    elif what == "delete":
        del lines[i : i + b]
    elif what == "swap":
        j = b % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif what == "timestamp":
        cands = [k for k, ln in enumerate(lines) if TS.search(ln)] or [i]
        k = cands[a % len(cands)]
        lines[k] = TS.sub(lambda _: b, lines[k], count=1) if TS.search(lines[k]) else b
    elif what == "insert":
        ln = lines[i]
        pos = (a * 13) % (len(ln) + 1)
        lines[i] = ln[:pos] + b + ln[pos:]
    elif what == "long":
        lines[i] = lines[i] + ("x" * 9 + " ") * (b // 10)
    elif what == "number":
        nums = list(re.finditer(r"\d+", lines[i]))
        if nums:
            m = nums[a % len(nums)]
            lines[i] = lines[i][: m.start()] + b + lines[i][m.end() :]


def encode_log(text: str, how: str, a: int) -> bytes:
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    if how == "latin-1":
        return text.encode("latin-1", "replace")
    raw = text.encode("utf-8", "surrogateescape")
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "crlf":
        return raw.replace(b"\n", b"\r\n")
    if how == "cr":
        return raw.replace(b"\n", b"\r")
    if how == "invalid":
        i = a % (len(raw) + 1)
        return raw[:i] + b"\xff\xfe\xc3\x28\xed\xa0\x80" + raw[i:]
    if how == "cut":
        return raw[: len(raw) * (500 + a % 500) // 1000]
    return raw


@st.composite
def log_cases(draw) -> Case:
    paths = seeds.logs()
    seed = draw(st.sampled_from(paths))
    pool = [_lines_of(p) for p in paths]
    lines = _lines_of(seed)
    for old, new in LOG_SECRETS:
        lines = [ln.replace(old, new) for ln in lines]
    planted = [ln for ln in lines if "LEAK" in ln]
    ops = draw(st.lists(log_ops, max_size=5))
    for op in ops:
        apply_log_op(lines, op, pool)
    how = draw(encodings)
    a = draw(small)
    data = encode_log("\n".join(lines), how, a)
    ops = [*ops, ("encoding", how, a)]
    # the markers count as checked only where a planted line survived whole, in UTF-8
    intact = (
        how in ("utf-8", "crlf", "bom")
        and all(ln in planted for ln in lines if "LEAK" in ln)
        and any("LEAK" in ln for ln in lines)
    )
    tz = draw(st.sampled_from([None, None, None, "Europe/Berlin", "Pacific/Kiritimati"]))
    argv = [a.replace("INPUT", "input.log") for a in ANALYZE]
    if tz:
        argv += ["--log-tz", tz]
    return Case(
        "log",
        {"input.log": data},
        [argv],
        "input.log",
        seeds.display(seed),
        ops,
        secrets_intact=intact,
    )


# ---------------------------------------------------------------- HAR

HAR_SECRETS = [
    {"name": "Authorization", "value": "Token abcdLEAKHARAUTH"},
    {"name": "Cookie", "value": "sid=abcdLEAKHARCOOKIE"},
    {"name": "X-Api-Key", "value": "abcdLEAKHARAPIKEY"},
]
HUGE = 10**30
VALUES = [
    None,
    "",
    "str",
    0,
    -1,
    HUGE,
    -HUGE,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    True,
    [],
    {},
    [None],
    {"": None},
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2026-13-45T99:99:99Z",
    2**63,
    -(2**63) - 1,
    0.5,
    "ws://h:99999/",
    "ws://[::1",
    "x" * 100_000,
    "\x00\ud800",
    "<script>alert(1)</script>",
    "[x](https://evil.example/h)",
]

har_ops = st.one_of(
    st.tuples(
        st.just("set"), st.lists(small, min_size=1, max_size=6), st.sampled_from(range(len(VALUES)))
    ),
    st.tuples(st.just("delete"), st.lists(small, min_size=1, max_size=6), st.just(0)),
    st.tuples(
        st.just("nest"),
        st.lists(small, min_size=0, max_size=4),
        st.sampled_from([100, 1000, 100_000]),
    ),
    st.tuples(
        st.just("multiply"),
        st.lists(small, min_size=1, max_size=5),
        st.sampled_from([2, 100, 5000]),
    ),
)


def _walk(doc, path: list[int]):
    """(container, key) reached by following `path`, each step an index mod the keys."""
    parent, key, node = None, None, doc
    for step in path:
        if isinstance(node, dict) and node:
            k = list(node)[step % len(node)]
        elif isinstance(node, list) and node:
            k = step % len(node)
        else:
            break
        parent, key, node = node, k, node[k]
    return parent, key


def _start(doc) -> list:
    """Most paths start at an entry holding WebSocket messages, where the parser works."""
    log = doc.get("log") if isinstance(doc, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    # an earlier op may have replaced `log` or `entries` by any value
    return entries if isinstance(entries, list) else [doc]


def apply_har_op(doc, op: tuple, nests: dict) -> None:
    what, path, b = op
    entries = _start(doc)
    root = entries[path[0] % len(entries)] if entries and path and path[0] % 3 else doc
    parent, key = _walk(root, path[1:] if root is not doc else path)
    if parent is None:
        return
    if what == "set":
        parent[key] = copy.deepcopy(VALUES[b])  # shared, a later op could nest it in itself
    elif what == "delete":
        del parent[key]
    elif what == "nest":
        marker = f"@@NEST{len(nests)}@@"
        nests[marker] = (b, json.dumps(parent[key], allow_nan=True))
        parent[key] = marker
    elif what == "multiply" and isinstance(parent[key], list):
        parent[key] = parent[key] * b if len(parent[key]) * b < 200_000 else parent[key]


@st.composite
def har_cases(draw) -> Case:
    seed = draw(st.sampled_from(seeds.hars()))
    doc = json.loads(seed.read_text())
    planted: list[str] = []
    for entry in doc["log"]["entries"]:
        req = entry.get("request", {})
        if req.get("url", "").startswith("ws"):
            req["headers"] = req.get("headers", []) + [dict(h) for h in HAR_SECRETS]
            sep = "&" if "?" in req["url"] else "?"
            req["url"] += f"{sep}token=abcdLEAKHARQRY"
            planted = [json.dumps(h) for h in HAR_SECRETS] + [json.dumps(req["url"])]
            break
    ops = draw(st.lists(har_ops, max_size=3))
    nests: dict = {}
    for op in ops:
        apply_har_op(doc, op, nests)
    text = json.dumps(doc, allow_nan=True)
    for marker, (depth, inner) in nests.items():
        text = text.replace(json.dumps(marker), "[" * depth + inner + "]" * depth)
    how = draw(st.sampled_from(["utf-8"] * 6 + ["bom", "utf-16", "cut", "array"]))
    if how == "array":
        text = "[" + text + "]"
    data = {
        "bom": b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass"),
        "utf-16": text.encode("utf-16", "surrogatepass"),
    }.get(how, text.encode("utf-8", "surrogatepass"))
    if how == "cut":
        data = data[: len(data) * 3 // 4]
    ops = [*ops, ("encoding", how)]
    kept = [p for p in planted if p in text]
    intact = (
        how in ("utf-8", "bom")
        and bool(kept)
        and text.count("LEAK") == sum(text.count(p) * p.count("LEAK") for p in kept)
    )
    argv = [a.replace("INPUT", "input.har") for a in ANALYZE]
    return Case(
        "har",
        {"input.har": data},
        [argv],
        "input.har",
        seeds.display(seed),
        ops,
        secrets_intact=intact,
    )


# ---------------------------------------------------------------- rule packs

JINJA = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch /tmp/wsdoctor-fuzz-PWNED').read() }}",
    "{{ self.__init__.__globals__ }}",
    "{% include 'x' %}",
    "{% import 'os' as os %}",
    "{{ range(100000000) | list | length }}",
    "{{ 'A' * 30000000 }}",
    "{{ 10 ** 10 ** 10 }}",
    "{{ 9 ** 999999 }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% for i in range(3000) %}{% for j in range(3000) %}x{% endfor %}{% endfor %}",
    "{{ lipsum(100000) }}",
    "{{ undefined_name.attr.deeper }}",
    "{{ 1 / 0 }}",
    "{{ close_server_reason | safe }}",
    "{{ '<script>alert(1)</script>' }}",
    "{{ x",
    "{% if %}",
    "{{ 1e309 }}",
    "{{ '%s' % 1 | int(2**70) }}",
]
FIX_TEXT = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[t](https://evil.example/t)",
    "![i](http://127.0.0.1:9/i)",
    "<a href='https://evil.example/'>x</a>",
    "`" * 2000,
    "<!-- x --><style>body{background:url(http://evil.example/)}</style>",
]
YAML_SNIPPETS = {
    "laughs": None,  # generated: levels x width
    "recursive": "loop: &a [*a]\n",
    "recursive_map": "loop: &m {k: *m}\n",
    "python_name": "boom: !!python/name:os.system\n",
    "python_apply": "boom: !!python/object/apply:os.system ['touch /tmp/wsdoctor-fuzz-PWNED']\n",
    "unknown_tag": "boom: !wsdoctor/unknown {a: 1}\n",
    "binary": "boom: !!binary AAAA\n",
    "merge": "base: &b {severity: low}\nmerged: {<<: *b}\n",
    "dup_key": "id: fuzz-rule\n",
    "tab": "\tbad: indentation\n",
    "doc2": "---\nid: second-doc\n",
}
SCALARS = [
    None,
    "",
    0,
    -1,
    10**100,
    1e309,
    float("nan"),
    True,
    [],
    {},
    "x" * 100_000,
    [1, [2, [3]]],
    {"a": {"b": {"c": None}}},
    "0x7fffffffffffffffffff",
    ".inf",
]
FIELDS = [
    "id",
    "title",
    "category",
    "severity",
    "confidence",
    "rationale",
    "params",
    "when",
    "summary",
    "evidence",
    "fix",
    "references",
    "tests",
    "sources",
    "status",
    "tags",
]

rule_ops = st.one_of(
    st.tuples(
        st.just("jinja"),
        st.sampled_from(["summary", "fix", "evidence"]),
        st.sampled_from(range(len(JINJA))),
    ),
    st.tuples(st.just("fix_text"), st.just("fix"), st.sampled_from(range(len(FIX_TEXT)))),
    st.tuples(st.just("type"), st.sampled_from(FIELDS), st.sampled_from(range(len(SCALARS)))),
    st.tuples(st.just("param"), small, st.sampled_from(range(len(SCALARS)))),
    st.tuples(
        st.just("yaml"),
        st.sampled_from(sorted(YAML_SNIPPETS)),
        st.sampled_from([(3, 3), (5, 5), (9, 9)]),
    ),
    st.tuples(st.just("deep_when"), st.sampled_from([50, 1000, 20_000]), st.just(0)),
)


def _laughs(levels: int, width: int) -> str:
    out = ["l0: &l0 ha"]
    for i in range(1, levels):
        out.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(out) + "\n"


def _hit_sample(rule: dict) -> tuple[list[str], str] | None:
    """Inputs of the rule's first must-hit test: where its templates get rendered."""
    for t in rule.get("tests") or []:
        if isinstance(t, dict) and t.get("hit") and t.get("sample"):
            folder = seeds.SAMPLES / t["sample"]
            if t.get("input"):
                files = [folder / t["input"]]
            else:
                files = sorted(folder.glob("capture.pcap*"))[:1]
            if files and all(f.is_file() and f.stat().st_size < 400_000 for f in files):
                return [str(f.relative_to(seeds.REPO)) for f in files], t["sample"]
    return None


def apply_rule_op(rule: dict, text_extra: list[str], op: tuple) -> None:
    what, a, b = op
    if what == "jinja":
        if a == "evidence":
            ev = rule.get("evidence") if isinstance(rule.get("evidence"), list) else []
            rule["evidence"] = [*ev, {"text": JINJA[b]}]
        else:
            rule[a] = f"{rule.get(a) if isinstance(rule.get(a), str) else ''} {JINJA[b]}"
    elif what == "fix_text":
        rule["fix"] = (
            f"{rule.get('fix') if isinstance(rule.get('fix'), str) else ''}\n\n" + (FIX_TEXT[b])
        )
    elif what == "type":
        rule[a] = SCALARS[b]
    elif what == "param":
        params = rule.get("params")
        if isinstance(params, dict) and params:
            params[list(params)[a % len(params)]] = SCALARS[b]
        else:
            rule["params"] = {"fuzz_param": SCALARS[b]}
    elif what == "yaml":
        text_extra.append(_laughs(*b) if a == "laughs" else YAML_SNIPPETS[a])
    elif what == "deep_when":  # nested in the text: too deep for the YAML dumper
        rule["when"] = f"@@DEEP{len(text_extra)}@@"
        inner = json.dumps(rule.get("when_orig"))
        text_extra.append(("@@deep", rule["when"], '{"not": ' * a + inner + "}" * a))


@st.composite
def rule_cases(draw) -> Case:
    candidates = [p for p in seeds.rule_files()]
    path = draw(st.sampled_from(candidates))
    rule = yaml.safe_load(path.read_text())
    hit = _hit_sample(rule)
    rule["id"] = "fuzz-rule"
    ops = draw(st.lists(rule_ops, min_size=1, max_size=3))
    extra: list = []
    for op in ops:
        if op[0] == "deep_when":
            rule["when_orig"] = rule.get("when")
        apply_rule_op(rule, extra, op)
        rule.pop("when_orig", None)
    text = yaml.safe_dump(rule, sort_keys=False, allow_unicode=True, width=100)
    snippets = "".join(x for x in extra if isinstance(x, str))
    for _, marker, nested in (x for x in extra if not isinstance(x, str)):
        text = text.replace(f"'{marker}'", nested).replace(marker, nested)
    text = snippets + text if draw(st.booleans()) else text + snippets
    rel = "pack/fuzz/fuzz-rule.yaml"
    inputs, sample = hit if hit else (["sample_captures/idle-1011/capture.pcap"], "idle-1011")
    analyze = [
        "analyze",
        *inputs,
        "--rules",
        "{D}/pack",
        "--select",
        "fuzz-rule",
        "--format",
        "html,md,json",
        "-o",
        "{O}/report",
    ]
    commands = [["rules", "validate", "{D}/pack"], analyze]
    # links a rule's author wrote are the rule's references; an image is never fine
    urls = set(re.findall(r"https?://[^\s'\"<>)\]`]+", text)) - {"http://127.0.0.1:9/i"}
    return Case(
        "rules",
        {rel: text.encode("utf-8", "surrogatepass")},
        commands,
        rel,
        f"{path.relative_to(seeds.REPO)} (hit sample {sample})",
        ops,
        extra_urls=urls,
    )
