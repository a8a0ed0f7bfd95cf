"""The table layout of analyzer/report/tables.py on small hand-made rows: how a table
gives way when the terminal is narrower than its natural width."""

from __future__ import annotations

from analyzer.report.tables import Column, fmt

COLUMNS = (
    Column("ID"),
    Column("NOTE", keep=10, free=True, least=6),
    Column("PATH", keep=20, free=True, least=6),
    Column("HTTP", keep=5),
)
ROWS = [["s1", "short", "/a/very/long/request/path/that/goes/on", "101"]]


def test_without_a_width_every_column_stays() -> None:
    header, row = fmt(COLUMNS, ROWS, None).splitlines()
    assert header.split() == ["ID", "NOTE", "PATH", "HTTP"]
    assert row.split() == ROWS[0]


def test_the_widest_free_column_is_cut_first() -> None:
    header, row = fmt(COLUMNS, ROWS, 40).splitlines()
    assert len(row) <= 40 and len(header) == 40  # the cut column takes all the room left
    cells = row.split()
    assert cells[0] == "s1" and cells[1] == "short" and cells[3] == "101"
    assert cells[2].endswith("…") and "/a/very/long/request/path".startswith(cells[2][:-1])


def test_columns_go_least_useful_first_when_cutting_is_not_enough() -> None:
    header, row = fmt(COLUMNS, ROWS, 20).splitlines()
    assert header.split() == ["ID", "NOTE", "PATH"]  # HTTP (keep=5) went first
    assert len(row) <= 20 and row.split()[0] == "s1"


def test_ids_are_never_cut_even_when_nothing_else_can_go() -> None:
    fixed = (Column("ID"), Column("SERVER"))
    rows = [["s1000", "[2001:db8::1]:8080"]]
    _, row = fmt(fixed, rows, 10).splitlines()
    assert row.startswith("s1000") and len(row) <= 10


def test_wide_characters_count_twice() -> None:
    text = fmt((Column("ID"), Column("TEXT", free=True, least=4)), [["s1", "日本語のテキスト"]], 12)
    row = text.splitlines()[1]
    assert row.startswith("s1  ") and row.endswith("…")
    assert sum(2 if "\u3000" <= c <= "\u9fff" else 1 for c in row) <= 12
