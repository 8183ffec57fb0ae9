"""``saasql.register(ctx, project=…)``, ``param_defaults`` and ``bind``: a
project's tables, settings, models and parameter defaults in a Python
session, as the ``saasql`` command sees them."""

from __future__ import annotations

from pathlib import Path

import pytest
import saasql
from datafusion import SessionContext


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(
        tmp_path / "saasql.toml",
        "[tables]\nanswers = \"exports/answers.csv\"\n"
        "[settings]\nengagement_weights = \"page_view:2\"\n"
        "\"datafusion.execution.batch_size\" = 1024\n"
        "[params]\nn = \"12\"\nt = \"'12'\"\nd = \"2025-06-30\"\nneg = -5\n"
        "top = { sql = \"SELECT max(score) FROM surveys\" }\n",
    )
    write(tmp_path / "data" / "surveys.csv", "cust,rating\n1,9\n2,3\n3,10\n")
    # A [tables] entry wins over a data-folder file of the same name.
    write(tmp_path / "data" / "answers.csv", "x\n1\n")
    write(tmp_path / "exports" / "answers.csv", "customer_id,event\n1,page_view\n2,login\n")
    write(
        tmp_path / "models" / "surveys.sql",
        "-- Renamed columns.\nSELECT cust AS customer_id, rating AS score FROM surveys\n",
    )
    write(tmp_path / "models" / "deep" / "promoters.sql", "SELECT customer_id FROM surveys WHERE score >= 9")
    return tmp_path


def test_register_with_a_project(project: Path):
    ctx = SessionContext()
    saasql.register(ctx, project=project)
    rows = ctx.sql("SELECT count(*) AS n FROM promoters").to_pylist()
    assert rows == [{"n": 2}]
    # The model replaced the table, reading it.
    assert ctx.sql("SELECT nps(score) AS v FROM surveys").to_pylist() == [{"v": 33.333333333333336}]
    # [tables] won; the project's settings reached the functions and the session.
    scores = ctx.sql("SELECT engagement_score(event) AS s FROM answers").to_pylist()
    assert scores == [{"s": 2.0}]
    size = ctx.sql("SHOW datafusion.execution.batch_size").to_pylist()
    assert size[0]["value"] == "1024"


def test_param_defaults_are_typed_like_the_command(project: Path):
    ctx = SessionContext()
    saasql.register(ctx, project=project)
    literals = saasql.param_defaults(ctx, project)
    assert literals == {
        "n": "12",
        "t": "'12'",
        "d": "DATE '2025-06-30'",
        "neg": "(-5)",
        "top": "10",
    }
    sql = saasql.bind("SELECT 10-$neg AS a, $d AS d, '$n' AS s, $t AS t -- $n\n", literals)
    assert sql == "SELECT 10-(-5) AS a, DATE '2025-06-30' AS d, '$n' AS s, '12' AS t -- $n\n"
    row = ctx.sql(sql).to_pylist()[0]
    assert row["a"] == 15 and row["t"] == "12" and row["s"] == "$n"


def test_bind_never_rescans_a_literal():
    assert saasql.bind("SELECT $a, $b", {"a": "'$b'", "b": "1"}) == "SELECT '$b', 1"
    # Nor does it look inside dollar-quoted or escape strings.
    assert saasql.bind("SELECT $$ $a $$, E'it''s $a', $a", {"a": "1"}) == "SELECT $$ $a $$, E'it''s $a', 1"


def test_a_query_default_cannot_write(tmp_path: Path):
    write(tmp_path / "saasql.toml", "[params]\nx = { sql = \"CREATE TABLE t AS SELECT 1\" }\n")
    ctx = SessionContext()
    saasql.register(ctx, project=tmp_path)
    with pytest.raises(Exception, match="DDL"):
        saasql.param_defaults(ctx, tmp_path)
    assert not ctx.table_exist("t")


def test_a_missing_project_and_urls_are_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no saasql.toml there"):
        saasql.register(SessionContext(), project=tmp_path)
    write(tmp_path / "saasql.toml", "data = \"s3://bucket/exports\"\n")
    with pytest.raises(ValueError, match="local files and folders only"):
        saasql.register(SessionContext(), project=tmp_path)
