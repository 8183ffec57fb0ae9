"""saasql's SaaS metric SQL functions for the ``datafusion`` Python package.

>>> from datafusion import SessionContext
>>> import saasql
>>> ctx = SessionContext()
>>> names = saasql.register(ctx)
>>> ctx.sql("SELECT nps(s) AS nps FROM (VALUES (10), (9), (3)) AS t(s)").to_pylist()
[{'nps': 33.333333333333336}]

The functions are saasql's own compiled code, handed to ``datafusion`` over
``datafusion-ffi`` 55, so only a ``datafusion`` 55.x session can take them.

What differs from the ``saasql`` command:

- ``saasql.*`` settings are arguments of :func:`register` (or
  :func:`functions`), fixed when the functions are registered: a Python
  session has no ``saasql`` settings, so ``SET saasql.ltv_churn_floor = 1``
  fails there. Register again to change them. A function's own argument (the
  weights of ``engagement_score(e, 'login:1')``) still wins over a setting.
- A bad constant argument (``csat(score, 1)``) or ``DISTINCT`` is reported
  when the query runs, with the same message, instead of while it is planned
  (``EXPLAIN`` does not report it). A query whose only aggregate call is one
  ``DISTINCT`` call is grouped by DataFusion first and computed over the
  distinct values.
- A window function called without ``OVER`` (``mrr_movement``) gets
  DataFusion's "Invalid function" error, not saasql's hint.
- ``date_trunc`` is DataFusion's own: the same results, without the
  ``saasql`` command's faster path for UTC timestamps.
- :func:`register` removes DataFusion 55's ``eliminate_join`` and
  ``eliminate_duplicated_expr`` optimizer rules from ``ctx``: the first drops
  rows of some joins over a ``GROUP BY`` (wrong counts), the second ORDER BY
  keys after such joins (wrong order), and the ``saasql`` command uses
  neither.
- ``information_schema`` and ``SHOW FUNCTIONS`` list the functions without
  their documentation (FFI does not carry it); :func:`documentation` has it.
"""

from __future__ import annotations

import datetime
import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Union

import datafusion
from datafusion import AggregateUDF, ScalarUDF, SessionContext, SQLOptions, WindowUDF, udaf, udf, udwf

from . import _saasql

__all__ = [
    "Function",
    "documentation",
    "bind",
    "functions",
    "expand_mrr_ledger",
    "mrr_ledger",
    "mrr_ledger_sql",
    "param_defaults",
    "register",
    "settings",
    "statements",
]

__version__: str = _saasql.__version__

#: A registered saasql function as the ``datafusion`` package holds it.
Function = Union[ScalarUDF, AggregateUDF, WindowUDF]

#: The ``datafusion`` major version (and ``datafusion-ffi`` ABI) the
#: functions were built for.
DATAFUSION_MAJOR: int = _saasql.DATAFUSION_FFI_MAJOR


def check_datafusion_version(version: str) -> None:
    """Raise ``ImportError`` unless ``version`` is a ``datafusion`` release
    whose FFI this build can talk to (the same major version)."""
    major = version.split(".", 1)[0]
    if major != str(DATAFUSION_MAJOR):
        raise ImportError(
            f"saasql {__version__} needs datafusion {DATAFUSION_MAJOR}.x "
            f"(its functions cross datafusion-ffi {DATAFUSION_MAJOR}), but datafusion "
            f"{version} is installed: pip install 'datafusion=={DATAFUSION_MAJOR}.*'"
        )


check_datafusion_version(datafusion.__version__)


def _setting_text(key: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(
            f"saasql setting {key}: {value!r} is a {type(value).__name__}; "
            "expected a str, int or float"
        )
    return value if isinstance(value, str) else repr(value)


def functions(settings: Mapping[str, object] | None = None) -> dict[str, Function]:
    """Every saasql function by name, as ``datafusion`` UDF objects.

    ``settings`` maps ``saasql.*`` setting keys (with or without the
    ``saasql.`` prefix) to values, e.g. ``{"ltv_churn_floor": 1.67}``; the
    others keep their defaults (see :func:`settings`). An unknown key or a bad
    value raises ``ValueError`` naming it.

    Use the objects in the DataFrame API (``fns["nps"](col("score"))``) or
    register them yourself; :func:`register` does both steps.
    """
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise TypeError(
            f"saasql settings must be a mapping of setting to value, not {type(settings).__name__}"
        )
    texts = {str(k): _setting_text(str(k), v) for k, v in settings.items()}
    out: dict[str, Function] = {}
    for f in _saasql.functions(texts):
        if f.kind == "scalar":
            out[f.name] = udf(f)
        elif f.kind == "aggregate":
            out[f.name] = udaf(f)
        else:
            out[f.name] = udwf(f)
    return out


def register(
    ctx: SessionContext,
    settings: Mapping[str, object] | None = None,
    project: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Register every saasql function on ``ctx``; returns their names.

    ``settings`` are the ``saasql.*`` settings the functions use (see
    :func:`functions`); calling ``register`` again replaces the functions with
    ones using the new settings.

    ``project`` is a saasql project folder (or its ``saasql.toml``): its
    ``[settings]`` apply (``settings`` wins over them), the tables of its
    data folder and ``[tables]`` that ``ctx`` does not have yet are
    registered (Parquet, CSV and JSON files and folders), and its models
    (``models/**/*.sql``) become views, in dependency order, as in every
    ``saasql`` command. See :func:`param_defaults` for its ``[params]``.
    """
    if not isinstance(ctx, SessionContext):
        raise TypeError(
            f"saasql.register: ctx must be a datafusion.SessionContext, not {type(ctx).__name__}"
        )
    loaded = _Project.load(project) if project is not None else None
    if loaded is not None:
        settings = {**loaded.settings, **(settings or {})}
    registered = functions(settings)
    currency = {str(k).removeprefix("saasql."): v for k, v in (settings or {}).items()}.get(
        "reporting_currency"
    )
    _REPORTING_CURRENCY[id(ctx)] = str(currency).strip().upper() if currency else "USD"
    for f in registered.values():
        if isinstance(f, ScalarUDF):
            ctx.register_udf(f)
        elif isinstance(f, AggregateUDF):
            ctx.register_udaf(f)
        else:
            ctx.register_udwf(f)
    # The internal functions of mrr_ledger's query: the one it reports bad
    # rows with, and its movement columns.
    ctx.register_udf(udf(_saasql.ledger_error_function()))
    ctx.register_udwf(udwf(_saasql.ledger_moves_function()))
    # DataFusion 55's eliminate_join drops rows of some joins over a GROUP BY
    # (a join on part of the grouping keys counts one row where there are
    # many), and eliminate_duplicated_expr drops ORDER BY keys on the same
    # wrong grounds: the saasql command replaces both, so a Python session
    # gives the same numbers and order. Only plan-size optimisations are lost.
    ctx.remove_optimizer_rule("eliminate_join")
    ctx.remove_optimizer_rule("eliminate_duplicated_expr")
    if loaded is not None:
        loaded.register(ctx)
    return sorted(registered)


def mrr_ledger_sql(
    ctx: SessionContext,
    table: str,
    convention: str | None = None,
    as_of: str | datetime.date | None = None,
    reporting_currency: str | None = None,
) -> str:
    """The SQL query that ``mrr_ledger(table, convention, as_of)`` stands for
    in the ``saasql`` command, over ``ctx``'s ``table`` (and its ``fx_rates``
    table when it has one). See :func:`mrr_ledger`."""
    columns = ctx.table(table).schema().names
    if isinstance(as_of, datetime.date):
        as_of = as_of.isoformat()[:10]
    return _saasql.ledger_sql(
        table,
        columns,
        convention,
        as_of,
        _reporting_currency(ctx, reporting_currency),
        ctx.table_exist("fx_rates"),
    )


_LEDGER_CALL = re.compile(
    r"\bmrr_ledger\s*\(\s*'((?:[^']|'')*)'\s*"
    r"(?:,\s*'((?:[^']|'')*)'\s*)?"
    r"(?:,\s*(?:DATE|TIMESTAMP)?\s*'((?:[^']|'')*)'\s*)?\)",
    re.IGNORECASE,
)
# Comments and string literals, which a call inside is not a call.
_SKIPPED = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", re.DOTALL)

# The reporting currency each context's functions were registered with
# (saasql.reporting_currency), by id(ctx).
_REPORTING_CURRENCY: dict[int, str] = {}


def _reporting_currency(ctx: SessionContext, given: str | None) -> str:
    return given or _REPORTING_CURRENCY.get(id(ctx), "USD")


def expand_mrr_ledger(ctx: SessionContext, sql: str, reporting_currency: str | None = None) -> str:
    """``sql`` with every ``mrr_ledger('table' [, 'convention' [, 'as_of']])``
    call (string arguments) replaced by the query it stands for, as a
    subquery, so that a Python session can run a report written for the
    ``saasql`` command. :func:`register` does this for a project's models.
    Calls inside comments and string literals are left alone.
    ``reporting_currency`` defaults to the ``reporting_currency`` setting
    given to :func:`register` (else USD)."""
    # Comments and strings blanked out (same length), so that matches are
    # found only in code, at the positions they have in ``sql``.
    code = _SKIPPED.sub(lambda m: m.group(0) if m.group(0).startswith("'") else " " * len(m.group(0)), sql)
    out, last = [], 0
    for m in _LEDGER_CALL.finditer(code):
        table, convention, as_of = (g.replace("''", "'") if g is not None else None for g in m.groups())
        out.append(sql[last : m.start()])
        out.append("(" + mrr_ledger_sql(ctx, table, convention, as_of, reporting_currency) + ")")
        last = m.end()
    out.append(sql[last:])
    return "".join(out)


def mrr_ledger(
    ctx: SessionContext,
    table: str,
    convention: str | None = None,
    as_of: str | datetime.date | None = None,
    reporting_currency: str | None = None,
) -> datafusion.DataFrame:
    """The MRR ledger of ``ctx``'s subscription-items ``table``: one row per
    customer and month with its MRR and movement, as the ``saasql`` command's
    ``SELECT * FROM mrr_ledger(table, convention, as_of)`` (a Python session
    cannot take table functions over FFI, so it is a function here).

    ``convention`` is ``"chartmogul"`` (default), ``"profitwell"``,
    ``"stripe"``, ``"baremetrics"`` or ``"dbt"``; ``as_of`` the last month (a
    date or ``"YYYY-MM-DD"``); ``reporting_currency`` the currency MRR is
    converted to with ``ctx``'s ``fx_rates`` table (default: the
    ``reporting_currency`` setting given to :func:`register`, else USD). ``ctx`` needs
    :func:`register` first. Bad rows fail when the DataFrame runs, with the
    command's messages; a bad argument raises ``ValueError``.

    >>> ledger = saasql.mrr_ledger(ctx, "subscription_items", "stripe")  # doctest: +SKIP
    >>> ctx.register_view("ledger", ledger)  # doctest: +SKIP
    """
    return ctx.sql(mrr_ledger_sql(ctx, table, convention, as_of, reporting_currency))


def param_defaults(ctx: SessionContext, project: str | os.PathLike[str]) -> dict[str, str]:
    """The defaults of the project's ``$parameters`` (``[params]`` in its
    ``saasql.toml``) as SQL literals (``DATE '2025-06-30'``, ``12``,
    ``'text'``), typed as the ``saasql`` command types them (text that looks
    like an integer, decimal, boolean or ``YYYY-MM-DD`` date is one; text in
    single quotes stays text). A ``{ sql = "…" }`` default is computed on
    ``ctx`` (register the project first). :func:`bind` puts them into a
    report's text before ``ctx.sql``."""
    return _Project.load(project).param_literals(ctx)


#: A dollar-quoted or escape string, a string literal, a quoted name, a
#: comment, or a ``$name``.
_TOKEN = re.compile(
    r"\$(\w*)\$.*?\$\1\$|[eE]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\""
    r"|--[^\n]*|/\*.*?\*/|\$([A-Za-z_]\w*)",
    re.S,
)


def bind(sql: str, literals: Mapping[str, str]) -> str:
    """``sql`` with each ``$name`` that ``literals`` names replaced by its
    literal (from :func:`param_defaults`); ``$name`` inside strings, quoted
    names and comments is left alone, and a literal is never rescanned."""

    def replace(m: re.Match[str]) -> str:
        name = m.group(2)
        if name is not None and name in literals:
            return literals[name]
        return m.group(0)

    return _TOKEN.sub(replace, sql)


class _Project:
    """A saasql project: ``saasql.toml``, its data folder and ``models/``."""

    def __init__(self, file: Path, config: dict) -> None:
        self.file = file
        self.root = file.parent
        self.config = config
        # saasql.* settings go to the functions; others (datafusion.*) to SET.
        self.settings: dict[str, str] = {}
        self.session_settings: dict[str, str] = {}
        for key, value in config.get("settings", {}).items():
            text = _toml_text(value)
            if key.startswith("saasql."):
                self.settings[key[len("saasql.") :]] = text
            elif "." in key:
                self.session_settings[key] = text
            else:
                self.settings[key] = text

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> _Project:
        path = Path(path)
        file = path / "saasql.toml" if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"saasql project {path}: no saasql.toml there")
        with open(file, "rb") as f:
            try:
                config = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise ValueError(f"{file}: {e}") from None
        return cls(file, config)

    def _location(self, key: str, text: str) -> Path:
        if "://" in text or any(c in text for c in "*?["):
            raise ValueError(
                f"{self.file}: {key} = {text!r}: the Python package reads local files and "
                "folders only; register URLs and globs on the context yourself"
            )
        return self.root / text

    def register(self, ctx: SessionContext) -> None:
        for key, value in self.session_settings.items():
            if not re.fullmatch(r"[A-Za-z0-9_.]+", key):
                raise ValueError(f"{self.file}: settings: {key!r} is not a setting name")
            ctx.sql(f"SET {key} = {_quote(value)}").collect()
        # [tables] first: they win over the data folder, as in the command.
        for name, location in self.config.get("tables", {}).items():
            if not ctx.table_exist(name):
                _register_location(ctx, name, self._location(f"tables.{name}", location))
        data = self.config.get("data")
        folder = self._location("data", data) if data is not None else self.root / "data"
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                name = entry.name.split(".", 1)[0]
                if not entry.name.startswith(".") and not ctx.table_exist(name):
                    _register_location(ctx, name, entry)
        models = self.root / "models"
        if models.is_dir():
            for name, _file, sql, _description, _deps in _saasql.models(str(models)):
                sql = expand_mrr_ledger(ctx, sql)
                ctx.sql(f"CREATE OR REPLACE VIEW {name} AS {sql}").collect()

    def param_literals(self, ctx: SessionContext) -> dict[str, str]:
        out = {}
        for name, value in self.config.get("params", {}).items():
            where = f"{self.file}: params.{name}"
            if isinstance(value, dict) and set(value) == {"sql"}:
                # A query, nothing else (no DDL, DML or SET), as in the command.
                read_only = (
                    SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
                )
                rows = ctx.sql_with_options(value["sql"], read_only).to_pylist()
                if len(rows) != 1 or len(rows[0]) != 1:
                    raise ValueError(f"{where}: the query must return one row with one column")
                value = next(iter(rows[0].values()))
                if value is None:
                    raise ValueError(f"{where}: the query returned NULL")
                out[name] = _value_literal(value, where)
            elif isinstance(value, str):
                out[name] = _typed_literal(value, where)
            else:
                out[name] = _value_literal(value, where)
        return out


def _toml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _register_location(ctx: SessionContext, name: str, path: Path) -> None:
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    suffixes = {s for f in files if f.is_file() for s in f.suffixes}
    if ".parquet" in suffixes:
        ctx.register_parquet(name, str(path))
    elif ".csv" in suffixes:
        ctx.register_csv(name, str(path))
    else:
        for ext in (".json", ".jsonl", ".ndjson"):
            if ext in suffixes:
                ctx.register_json(name, str(path), file_extension=ext)
                return


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed_literal(text: str, where: str) -> str:
    """A ``[params]`` text typed as ``--param`` types it."""
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return _quote(text[1:-1])
    if re.fullmatch(r"-?(0|[1-9]\d*)", text):
        value = int(text)
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{where}: {text} is outside the integer (BIGINT) range")
        return _value_literal(value, where)
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text) and not re.fullmatch(r"[-+]?0\d+", text):
        return _value_literal(float(text), where)
    if text in ("true", "TRUE", "True"):
        return "true"
    if text in ("false", "FALSE", "False"):
        return "false"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            datetime.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{where}: {text} is not a valid date (YYYY-MM-DD)") from None
        return f"DATE '{text}'"
    return _quote(text)


def _value_literal(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"({value})" if value < 0 else str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{where}: {value} is not a finite number")
        return f"CAST('{value!r}' AS DOUBLE)"
    if isinstance(value, Decimal):
        sign, digits, exponent = value.as_tuple()
        scale = max(0, -int(exponent))
        precision = max(len(digits), scale, 1)
        return f"CAST('{value}' AS DECIMAL({precision}, {scale}))"
    if isinstance(value, datetime.datetime):
        return f"TIMESTAMP '{value.isoformat()}'"
    if isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return _quote(value)
    raise ValueError(f"{where}: cannot use a {type(value).__name__} value as a parameter")


def settings() -> dict[str, str]:
    """The ``saasql.*`` settings (keys without the prefix) and their defaults."""
    return {key: default for key, default, _description in _saasql.settings()}


def documentation(name: str) -> str:
    """The documentation of saasql function ``name`` (Markdown), as
    ``saasql functions NAME`` prints it. ``KeyError`` for other names."""
    doc = _saasql.documentation(name)
    if doc is None:
        raise KeyError(f"{name!r} is not a saasql function")
    return doc


def statements(sql: str) -> list[str]:
    """The statements of a ``.sql`` file's text, split by DataFusion's parser
    (comments before a statement and the ``;`` between them left out), to run
    one by one with ``ctx.sql``. A syntax error raises ``ValueError``."""
    return _saasql.statements(sql)
