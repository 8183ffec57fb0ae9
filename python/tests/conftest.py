"""Shared helpers: the repository's sample data in a Python session, and the
`saasql` command to compare with."""

from __future__ import annotations

import csv
import datetime
import io
import math
import os
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from datafusion import SessionConfig, SessionContext

import saasql

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
SQL = REPO / "sql"


def saasql_binary() -> Path:
    """The `saasql` binary: $SAASQL_BIN, else the one `cargo build` makes."""
    candidates = []
    if os.environ.get("SAASQL_BIN"):
        candidates.append(Path(os.environ["SAASQL_BIN"]))
    else:
        if os.environ.get("CARGO_TARGET_DIR"):
            candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "debug" / "saasql")
        candidates.append(REPO / "target" / "debug" / "saasql")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    pytest.fail(
        "no saasql binary at "
        + ", ".join(str(c) for c in candidates)
        + ": run `cargo build` first, or set SAASQL_BIN"
    )


@pytest.fixture(scope="session")
def cli() -> Path:
    return saasql_binary()


def run_cli(cli: Path, *args: str) -> subprocess.CompletedProcess:
    """`saasql --data data --format csv ARGS…` from the repository root."""
    return subprocess.run(
        [str(cli), "--data", str(DATA), "--format", "csv", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def cli_results(cli: Path, *args: str) -> list[list[list[str]]]:
    """The CSV results the CLI prints (header row first), one per query."""
    done = run_cli(cli, *args)
    assert done.returncode == 0, f"saasql {' '.join(args)} failed:\n{done.stderr}"
    blocks = [b for b in re.split(r"\n\s*\n", done.stdout) if b.strip()]
    return [list(csv.reader(io.StringIO(b))) for b in blocks]


def cli_error(cli: Path, *args: str) -> str:
    """The message of the error the CLI reports (its first stderr line,
    without the location and DataFusion's phase prefix)."""
    done = run_cli(cli, *args)
    assert done.returncode != 0, f"saasql {' '.join(args)} did not fail:\n{done.stdout}"
    first = done.stderr.strip().splitlines()[0]
    message = first.split("error: ", 1)[1]
    for prefix in ("Error during planning: ", "Execution error: "):
        message = message.removeprefix(prefix)
    return message


def context(settings: dict | None = None) -> SessionContext:
    """A `datafusion` session with every data file of `data/` as a table
    (named as the CLI names it) and the saasql functions."""
    ctx = SessionContext(SessionConfig().with_information_schema(True))
    for entry in sorted(DATA.iterdir()):
        if entry.is_dir() or entry.suffix == ".parquet":
            name = entry.name.removesuffix(".parquet")
            ctx.register_parquet(name, str(entry))
    # The repository is a saasql project: its models are views here too.
    saasql.register(ctx, settings, project=REPO)
    return ctx


def python_results(ctx: SessionContext, sql: str) -> list[pa.Table]:
    """Runs every statement of `sql`; `SET saasql.x = v` registers the
    functions again with that setting. Returns each query's result."""
    settings: dict[str, str] = {}
    results = []
    # The project's $parameter defaults, as the CLI binds them.
    params = saasql.param_defaults(ctx, REPO)
    sql = saasql.bind(sql, params)
    for statement in saasql.statements(sql):
        setting = re.fullmatch(r"(?is)SET\s+saasql\.(\w+)\s*(?:=|TO)\s*(.*)", statement)
        if setting:
            settings[setting[1]] = setting[2].strip().strip("'")
            saasql.register(ctx, settings)
            continue
        # mrr_ledger('…') is a table function in the command only.
        df = ctx.sql(saasql.expand_mrr_ledger(ctx, statement))
        if re.match(r"(?i)\s*(SET|CREATE|DROP)\b", statement):
            continue
        batches = df.collect()
        # The batches' own schema: the plan's may differ in nullability or
        # string_view versus string.
        results.append(pa.Table.from_batches(batches) if batches else df.schema().empty_table())
    return results


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def same_cell(text: str, value: object) -> bool:
    """Whether the CLI's CSV text `text` shows the Python value `value`:
    numbers within 1e-9 (relative), numbers inside text within 1e-6 (the
    same model fits printed rounded), the rest exactly."""
    if value is None:
        return text == ""
    if isinstance(value, bool):
        return text == ("true" if value else "false")
    if isinstance(value, (int, float, Decimal)):
        try:
            return close(float(text), float(value), 1e-9)
        except ValueError:
            return False
    if isinstance(value, datetime.datetime):
        try:
            shown = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return False
        if value.tzinfo is None:
            shown = shown.replace(tzinfo=None)
        return shown == value
    if isinstance(value, datetime.date):
        return text == value.isoformat()
    if isinstance(value, str):
        if NUMBER.split(text) != NUMBER.split(value):
            return False
        return all(
            close(float(a), float(b), 1e-6)
            for a, b in zip(NUMBER.findall(text), NUMBER.findall(value))
        )
    return text == str(value)


def assert_same_results(cli_tables: list[list[list[str]]], py_tables: list[pa.Table]) -> int:
    """Asserts the CLI's and Python's results agree cell by cell; returns the
    number of cells compared."""
    assert len(py_tables) == len(cli_tables), "a different number of results"
    cells = 0
    for n, (shown, table) in enumerate(zip(cli_tables, py_tables)):
        header, rows = shown[0], shown[1:]
        assert table.column_names == header, f"result {n + 1}: columns differ"
        py_rows = table.to_pylist()
        assert len(py_rows) == len(rows), f"result {n + 1}: {len(py_rows)} rows, CLI {len(rows)}"
        for i, (cli_row, py_row) in enumerate(zip(rows, py_rows)):
            for column, text in zip(header, cli_row):
                value = py_row[column]
                assert same_cell(text, value), (
                    f"result {n + 1}, row {i + 1}, {column}: Python {value!r}, CLI {text!r}"
                )
                cells += 1
    return cells
