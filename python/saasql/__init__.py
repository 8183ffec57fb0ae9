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
- ``information_schema`` and ``SHOW FUNCTIONS`` list the functions without
  their documentation (FFI does not carry it); :func:`documentation` has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

import datafusion
from datafusion import AggregateUDF, ScalarUDF, SessionContext, WindowUDF, udaf, udf, udwf

from . import _saasql

__all__ = [
    "Function",
    "documentation",
    "functions",
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


def register(ctx: SessionContext, settings: Mapping[str, object] | None = None) -> list[str]:
    """Register every saasql function on ``ctx``; returns their names.

    ``settings`` are the ``saasql.*`` settings the functions use (see
    :func:`functions`); calling ``register`` again replaces the functions with
    ones using the new settings.
    """
    if not isinstance(ctx, SessionContext):
        raise TypeError(
            f"saasql.register: ctx must be a datafusion.SessionContext, not {type(ctx).__name__}"
        )
    registered = functions(settings)
    for f in registered.values():
        if isinstance(f, ScalarUDF):
            ctx.register_udf(f)
        elif isinstance(f, AggregateUDF):
            ctx.register_udaf(f)
        else:
            ctx.register_udwf(f)
    return sorted(registered)


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
