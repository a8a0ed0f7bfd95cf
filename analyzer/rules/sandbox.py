"""Jinja's sandbox plus a budget: what one rule template may cost to render.

Jinja's `SandboxedEnvironment` stops escapes (`''.__class__`), but not work: `'A' * 3e9`,
two nested loops of 10^5 steps, `'%9999999999s' % x` or `2 ** 2 ** 40` each run for
minutes or take gigabytes, and Jinja's optimizer even evaluates constant expressions while
compiling. Rule packs are data anyone can write, so a template also gets:

- a closed language: no `include`/`import`/`extends` (there is no loader), no macros,
  `call`, `set` or `filter` blocks, recursive loops (each an unbounded amount of work
  that the checks below cannot see), no filters or methods that multiply text
  (`center`, `replace`, `join` methods ...), no `namespace`/`cycler`/`lipsum`;
- a size bound on every value it builds (`*`, `+`, `~`, `**`, `%`, `{% set %}`,
  `join`) and on its output;
- a step and wall-clock budget per render, checked at every loop step, sandboxed call
  and output chunk.

Time is enforced cooperatively, not with SIGALRM: a signal handler only runs in the main
thread and cannot interrupt one long C-level operation anyway (the `'A' * 3e9` case);
with every single operation bounded in size, the checks are never far apart. Budgets
live in a ContextVar, so concurrent renders (threads) do not share one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_TEXT = 100_000  # characters (or items) in any one value, and in one render's output
MAX_STEPS = 10_000  # loop iterations of one render, all loops together
MAX_SECONDS = 0.5  # wall clock of one render; a typical one takes well under 1 ms
MAX_INT_BITS = 4_096  # integers a template computes (2**4096 has 1,234 digits)
MAX_WIDTH = 1_000  # a %-format or str.format field width or precision

# Jinja's filters whose work is linear in their input (`join`, `format`, `sum` guarded
# below); the rest (center, indent, wordwrap, replace, batch, slice, ...) can multiply text.
SAFE_FILTERS = frozenset(
    {
        *("abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape"),
        *("filesizeformat", "first", "float", "forceescape", "format", "groupby", "int"),
        *("items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject"),
        *("rejectattr", "reverse", "round", "safe", "select", "selectattr", "sort", "string"),
        *("striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper"),
        *("urlencode", "wordcount"),
    }
)
# Methods that build text of a size given by an argument (width, count, repetition).
BLOCKED_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "translate"}
    | {"format_map"}
)
FORBIDDEN_TAGS = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
    nodes.Extends: "extends",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.AssignBlock: "set ... endset",
    nodes.FilterBlock: "filter",
}
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")
_BRACE_FIELD = re.compile(r"\{[^{}]*\}")


class BudgetExceeded(SecurityError):
    """A template asked for more than a finding's text can need."""


class NotAllowed(TemplateError):
    """A template outside the rule template language (see `policy`)."""


class RenderError(Exception):
    """A template failed while rendering: the message names the cause, for file:line;
    `data_dependent` when only the values can be blamed (a missing key, an empty list)."""

    def __init__(self, message: str, data_dependent: bool = False) -> None:
        super().__init__(message)
        self.data_dependent = data_dependent


@dataclass
class Budget:
    """What is left of one render's allowance; sizes of containers seen, by identity."""

    deadline: float
    steps: int = MAX_STEPS
    weights: dict[int, tuple[Any, int]] = field(default_factory=dict)

    def tick(self, steps: int = 0) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise BudgetExceeded(f"more than {MAX_STEPS:,} loop steps")
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"rendering took longer than {MAX_SECONDS} s")


_BUDGET: ContextVar[Budget | None] = ContextVar("wsdoctor_template_budget", default=None)


def _budget() -> Budget:
    """The running render's budget; outside `render` (no budget set) a fresh one, so the
    size checks still hold."""
    return _BUDGET.get() or Budget(time.monotonic() + MAX_SECONDS)


def weight(value: Any, memo: dict[int, tuple[Any, int]] | None = None) -> int:
    """Characters plus items of a value, containers counted once per appearance: a list
    holding itself twice at each of 40 levels weighs 2**40 and is refused, in linear time
    (each container's weight is remembered; the memo keeps it alive so ids stay unique)."""
    if isinstance(value, str | bytes):
        return len(value)
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 1
    memo = _budget().weights if memo is None else memo
    if id(value) in memo:
        return memo[id(value)][1]
    memo[id(value)] = (value, 1)  # a container inside itself counts once
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1
    for item in items:
        total += weight(item, memo)
        if total > MAX_TEXT:
            raise BudgetExceeded(f"a value of more than {MAX_TEXT:,} characters or items")
    memo[id(value)] = (value, total)
    return total


def _bounded(value: Any) -> Any:
    weight(value)
    return value


def _check_repeat(seq: Any, times: Any) -> None:
    """`seq * n` for text and lists; `a * b` for integers (their digits add up)."""
    if not isinstance(times, int):
        return
    if isinstance(seq, str | bytes | list | tuple) and weight(seq) * max(times, 0) > MAX_TEXT:
        raise BudgetExceeded(f"repeating a value to more than {MAX_TEXT:,} characters")
    if isinstance(seq, int) and seq.bit_length() + times.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded(f"an integer of more than {MAX_INT_BITS} bits")


def _check_power(base: Any, exponent: Any) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int)) or abs(base) < 2:
        return
    if exponent > 0 and exponent * base.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded(f"an integer of more than {MAX_INT_BITS} bits")


def _check_printf(fmt: str) -> None:
    """`'%9999999999s' % x` (and `|format`) would pad to that width before anyone looks."""
    for match in _PRINTF.finditer(fmt):
        for spec in match.groups():
            if spec == "*" or (spec and int(spec) > MAX_WIDTH):
                raise BudgetExceeded(f"a %-format width or precision over {MAX_WIDTH}")


def _check_brace_format(fmt: str) -> None:
    """`'{:>9999999999}'.format(x)`, and nested `{:{w}}` widths that no check can see."""
    plain = fmt.replace("{{", "").replace("}}", "")
    if re.search(r"\{[^}]*\{", plain):
        raise BudgetExceeded("nested format fields")
    for spec in _BRACE_FIELD.findall(plain):
        if any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", spec.partition(":")[2])):
            raise BudgetExceeded(f"a format width or precision over {MAX_WIDTH}")


def _loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every `{% for %}` iterates through this: one step of the render's budget each."""
    budget = _budget()
    for item in iterable:
        budget.tick(1)
        yield item


def _concat(*parts: Any) -> str:
    """`a ~ b`, with its size checked before the text is built."""
    texts = [str(p) for p in parts]
    if sum(map(len, texts)) > MAX_TEXT:
        raise BudgetExceeded(f"joining text to more than {MAX_TEXT:,} characters")
    return "".join(texts)


def _range(*args: int) -> range:
    out = range(*args)
    if len(out) > MAX_STEPS:
        raise BudgetExceeded(f"range() of more than {MAX_STEPS:,} numbers")
    return out


def _guarded_filters() -> dict[str, Callable[..., Any]]:
    """`join` (separator x items), `format` (widths) and `sum` (of lists: quadratic)."""
    join, fmt, total = FILTERS["join"], FILTERS["format"], FILTERS["sum"]

    @wraps(join)
    def do_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        items = list(value)
        if weight(items) + len(str(d)) * len(items) > MAX_TEXT:
            raise BudgetExceeded(f"joining text to more than {MAX_TEXT:,} characters")
        return join(eval_ctx, items, d, attribute)

    @wraps(fmt)
    def do_format(value: str, *args: Any, **kwargs: Any) -> str:
        _check_printf(str(value))
        return fmt(value, *args, **kwargs)

    @wraps(total)
    def do_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        if not isinstance(start, int | float):
            raise BudgetExceeded("sum() of anything but numbers")
        return total(environment, iterable, attribute, start)

    return {"join": do_join, "format": do_format, "sum": do_sum}


GUARDS = {"_wsd_loop": _loop, "_wsd_concat": _concat, "_wsd_bound": _bounded}


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox every rule template runs in (see the module docstring)."""

    # Intercepted operators are also never constant-folded by Jinja's optimizer.
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**{"optimized": False, **options})  # no evaluation while compiling
        for name in set(FILTERS) - SAFE_FILTERS:
            del self.filters[name]
        self.filters.update(_guarded_filters())
        for name in ("lipsum", "cycler", "namespace"):
            del self.globals[name]
        self.globals.update(range=_range, **GUARDS)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return attr not in BLOCKED_METHODS and super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_brace_format(value.__self__)
        return wrapped

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget().tick()
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        elif operator == "+" and weight(left) + weight(right) > MAX_TEXT:
            raise BudgetExceeded(f"adding up to more than {MAX_TEXT:,} characters or items")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        return _bounded(super().call(__context, __obj, *args, **kwargs))


class _Guards(NodeTransformer):
    """Route loops, `~` and assignments through the budget (GUARDS)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call("_wsd_loop", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("_wsd_concat", *node.nodes)

    def visit_Assign(self, node: nodes.Assign) -> nodes.Node:
        self.generic_visit(node)
        node.node = _call("_wsd_bound", node.node)
        return node

    def visit_With(self, node: nodes.With) -> nodes.Node:
        self.generic_visit(node)
        node.values = [_call("_wsd_bound", v) for v in node.values]
        return node


def _call(name: str, *args: nodes.Expr) -> nodes.Call:
    line = args[0].lineno if args else 1
    return nodes.Call(
        nodes.Name(name, "load", lineno=line), list(args), [], None, None, lineno=line
    )


def guarded(template: nodes.Template, env: BoundedSandbox) -> nodes.Template:
    """The parsed template with its loops, `~` and assignments budgeted (in place), or
    NotAllowed when it is outside the language."""
    if problem := policy(template):
        raise NotAllowed(problem)
    out = _Guards().visit(template)
    out.set_environment(env)
    return out


def policy(template: nodes.Template) -> str | None:
    """Why a parsed template is outside the rule template language, or None. Checked
    statically, so a branch the representative session does not take is covered too."""
    for node in template.find_all(nodes.Node):
        tag = next((t for kind, t in FORBIDDEN_TAGS.items() if isinstance(node, kind)), None)
        if tag:
            return f"`{{% {tag} %}}` is not allowed in rule templates"
        if isinstance(node, nodes.For) and node.recursive:
            return "recursive loops are not allowed in rule templates"
        name = _attribute_name(node)
        if name is not None and (name.startswith("_") or name in BLOCKED_METHODS):
            return f"attribute {name!r} is not allowed in rule templates"
    return None


def _attribute_name(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value if isinstance(node.arg.value, str) else None
    return None


def render(chunks: Callable[[], Iterable[str]]) -> str:
    """The text of one render within the budget. Any exception the template raises becomes
    a RenderError: template code is data, so the kinds of failure are open-ended
    (TypeError, ZeroDivisionError, SecurityError, RecursionError, ...)."""
    token = _BUDGET.set(budget := Budget(time.monotonic() + MAX_SECONDS))
    try:
        out, size = [], 0
        for chunk in chunks():
            size += len(chunk)
            if size > MAX_TEXT:
                raise BudgetExceeded(f"more than {MAX_TEXT:,} characters of text")
            budget.tick()
            out.append(chunk)
        return "".join(out)
    except Exception as exc:
        missing = isinstance(exc, UndefinedError) and not isinstance(exc, SecurityError)
        raise RenderError(f"{type(exc).__name__}: {_first_line(exc)}", missing) from None
    finally:
        _BUDGET.reset(token)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else "(no message)"
