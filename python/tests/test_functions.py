"""The saasql functions in a Python `datafusion` session: all of them are
there, settings given to `register` act as `SET saasql.*` does in the CLI,
errors carry the CLI's messages, and nothing crashes the interpreter."""

from __future__ import annotations

import datafusion
import pyarrow as pa
import pytest
from conftest import assert_same_results, cli_error, cli_results, context, python_results
from datafusion import SessionContext, col

import saasql


def test_every_function_is_registered_with_its_kind(cli):
    listed = cli_results(cli, "functions")[0]
    header, rows = listed[0], listed[1:]
    # Table functions (mrr_ledger) are planned by saasql's own sessions only.
    expected = {
        (r[header.index("function")], r[header.index("kind")])
        for r in rows
        if r[header.index("kind")] != "table"
    }
    ctx = context()
    routines = ctx.sql(
        "SELECT routine_name, lower(function_type) AS kind FROM information_schema.routines"
    ).to_pylist()
    found = {(r["routine_name"], r["kind"]) for r in routines}
    assert expected <= found, f"missing: {sorted(expected - found)}"
    assert set(saasql.register(SessionContext())) == {name for name, _ in expected}
    assert len(expected) >= 36


def test_settings_and_defaults_are_the_cli_s(cli):
    shown = cli_results(
        cli,
        "-c",
        "SELECT name, value FROM information_schema.df_settings "
        "WHERE name LIKE 'saasql.%' ORDER BY name",
    )[0]
    expected = {name.removeprefix("saasql."): value for name, value in shown[1:]}
    assert saasql.settings() == expected


# Each case: the settings, then a query; the CLI runs it after the matching
# `SET saasql.*` statements.
EVENTS = "(VALUES (1, 'a', 'login'), (2, 'a', 'x'), (3, 'b', 'report_created'), (4, 'b', 'login')) AS t(i, g, e)"
SETTING_CASES = [
    ({}, "SELECT ltv(100, 0) AS v, ltv(100, 0, 50) AS m, ltv(100, 0.5) AS low"),
    ({"ltv_churn_floor": 1}, "SELECT ltv(100, 0) AS v, ltv(100, 0, 50) AS m, ltv(100, 0.5) AS low"),
    ({"ltv_churn_floor": 1}, "SELECT ltv(100, 0, 50, 2) AS explicit_floor"),
    ({}, f"SELECT engagement_score(e) AS s FROM {EVENTS}"),
    (
        {"engagement_weights": "x:3, login:0.5", "engagement_default_weight": 2},
        f"SELECT g, engagement_score(e) AS s, engagement_score(e, 'login:4') AS w "
        f"FROM {EVENTS} GROUP BY g ORDER BY g",
    ),
    (
        {"saasql.engagement_weights": "login:7"},
        f"SELECT i, engagement_score(e) OVER (ORDER BY i) AS running FROM {EVENTS} ORDER BY i",
    ),
    ({}, "SELECT health_score(CAST(NULL AS DOUBLE), 1, 50, 1) AS h"),
    ({"health_missing": "zero"}, "SELECT health_score(CAST(NULL AS DOUBLE), 1, 50, 1) AS h"),
    ({"health_missing": "null"}, "SELECT health_score(CAST(NULL AS DOUBLE), 1, 50, 1) AS h"),
    (
        {"health_missing": "zero"},
        "SELECT health_score(CAST(NULL AS DOUBLE), 1, 50, 1, 'renormalize') AS explicit",
    ),
]


@pytest.mark.parametrize(("settings", "sql"), SETTING_CASES)
def test_settings_act_as_the_cli_s_set(cli, settings, sql):
    sets = [f"SET saasql.{k.removeprefix('saasql.')} = '{v}'" for k, v in settings.items()]
    args = [a for s in [*sets, sql] for a in ("-c", s)]
    shown = cli_results(cli, *args)
    computed = python_results(context(settings), sql)
    assert_same_results(shown, computed)


def test_settings_change_the_numbers():
    # Not only equal to the CLI: the settings must have an effect at all.
    sql = f"SELECT engagement_score(e) AS s FROM {EVENTS}"
    default = context().sql(sql).to_pylist()[0]["s"]
    weighted = context({"engagement_weights": "x:3"}).sql(sql).to_pylist()[0]["s"]
    assert (default, weighted) == (7.0, 3.0)
    floor = context({"ltv_churn_floor": 1}).sql("SELECT ltv(100, 0) AS v").to_pylist()
    assert floor == [{"v": 10000.0}]


def test_registering_again_replaces_the_settings():
    ctx = context({"ltv_churn_floor": 1})
    saasql.register(ctx)
    assert ctx.sql("SELECT ltv(100, 0) AS v").to_pylist() == [{"v": None}]


@pytest.mark.parametrize(
    ("settings", "set_sql"),
    [
        ({"nope": "1"}, "SET saasql.nope = 1"),
        ({"ltv_churn_floor": 150}, "SET saasql.ltv_churn_floor = 150"),
        ({"engagement_weights": "login=1"}, "SET saasql.engagement_weights = 'login=1'"),
        ({"health_missing": "drop"}, "SET saasql.health_missing = 'drop'"),
    ],
)
def test_bad_settings_are_value_errors_with_the_cli_s_message(cli, settings, set_sql):
    message = cli_error(cli, "-c", set_sql)
    with pytest.raises(ValueError) as e:
        saasql.register(SessionContext(), settings)
    assert str(e.value) == message


def test_settings_must_be_text_or_numbers():
    with pytest.raises(TypeError, match="saasql setting ltv_churn_floor: True is a bool"):
        saasql.functions({"ltv_churn_floor": True})
    with pytest.raises(TypeError, match="must be a mapping"):
        saasql.functions([("ltv_churn_floor", 1)])
    with pytest.raises(TypeError, match="ctx must be a datafusion.SessionContext, not str"):
        saasql.register("ctx")


SURVEYS = "(VALUES (1, 5), (2, 3), (3, 4)) AS t(i, s)"


@pytest.mark.parametrize(
    "sql",
    [
        # Constant checks (planning errors in the CLI, raised when the query runs here).
        f"SELECT csat(s, 1) FROM {SURVEYS}",
        f"SELECT csat(s, i) FROM {SURVEYS}",
        f"SELECT engagement_score(CAST(s AS VARCHAR), 'login') FROM {SURVEYS}",
        f"SELECT rfm(DATE '2025-01-01' + i, s, DATE '2025-02-01', 'fortnight') FROM {SURVEYS}",
        f"SELECT rfm(DATE '2025-01-01' + i, s, DATE '2025-02-01', CAST(i AS VARCHAR)) FROM {SURVEYS}",
        # DISTINCT where the aggregate sees it (with another aggregate beside it).
        f"SELECT nps(DISTINCT s), count(*) FROM {SURVEYS}",
        # Execution errors.
        "SELECT ltv(-1, 5)",
        f"SELECT csat(s + 10, 5) FROM {SURVEYS}",
    ],
)
def test_errors_carry_the_cli_s_message(cli, sql):
    message = cli_error(cli, "-c", sql)
    with pytest.raises(Exception) as e:
        context().sql(sql).collect()
    assert message in str(e.value)


def test_a_lone_distinct_aggregate_is_computed_over_the_distinct_values():
    # DataFusion's optimizer turns it into a GROUP BY below the aggregate,
    # which then never sees DISTINCT (the CLI refuses it while planning).
    ctx = context()
    lone = ctx.sql(f"SELECT nps(DISTINCT s) AS v FROM {SURVEYS}").to_pylist()
    sub = ctx.sql(f"SELECT nps(s) AS v FROM (SELECT DISTINCT s FROM {SURVEYS})").to_pylist()
    assert lone == sub == [{"v": -100.0}]


def test_a_window_function_works_with_over_and_fails_without(cli):
    sql = (
        "SELECT m, mrr_movement(mrr, m) OVER (ORDER BY m) AS movement "
        "FROM (VALUES (DATE '2025-01-01', 0.0), (DATE '2025-02-01', 10.0), "
        "(DATE '2025-03-01', 12.0), (DATE '2025-04-01', 0.0)) AS t(m, mrr) ORDER BY m"
    )
    computed = python_results(context(), sql)
    assert_same_results(cli_results(cli, "-c", sql), computed)
    assert computed[0].column("movement").to_pylist() == [None, "new", "expansion", "churn"]
    with pytest.raises(Exception, match="mrr_movement"):
        context().sql("SELECT mrr_movement(1.0)").collect()


def test_functions_work_in_the_dataframe_api():
    fns = saasql.functions()
    ctx = SessionContext()
    df = ctx.from_pydict({"score": [10, 9, 3, 7]})
    out = df.aggregate([], [fns["nps"](col("score")).alias("nps")]).to_pylist()
    assert out == [{"nps": 25.0}]
    tiers = df.select(fns["nps_category"](col("score")).alias("c")).to_pylist()
    assert [t["c"] for t in tiers] == ["promoter", "promoter", "detractor", "passive"]


def test_many_groups_and_partitions_agree_with_one():
    # Grouped (GroupsAccumulator) and ungrouped results over the same rows.
    ctx = context()
    n = 20_000
    batch = pa.record_batch(
        {
            "g": pa.array([i % 997 for i in range(n)]),
            "s": pa.array([i % 11 for i in range(n)]),
            "e": pa.array(["login" if i % 3 else "report_created" for i in range(n)]),
        }
    )
    ctx.register_record_batches("t", [[batch.slice(0, n // 2)], [batch.slice(n // 2)]])
    grouped = ctx.sql(
        "SELECT sum(p) AS p, sum(e) AS e FROM ("
        "SELECT g, nps(s) * count(*) AS p, engagement_score(e) AS e FROM t GROUP BY g)"
    ).to_pylist()[0]
    whole = ctx.sql("SELECT engagement_score(e) AS e FROM t").to_pylist()[0]
    assert grouped["e"] == whole["e"] == 6667 * 5 + 13333 * 1
    assert grouped["p"] is not None


def test_documentation():
    assert "nps(" in saasql.documentation("nps")
    with pytest.raises(KeyError, match="'avg' is not a saasql function"):
        saasql.documentation("avg")


def test_statements_are_split_by_the_sql_parser():
    sql = (
        "-- a report\nSET saasql.ltv_churn_floor = 1;\n\n-- the query\n"
        "SELECT ';' AS s, 'it''s; é' AS t -- c;\nFROM (VALUES (1)) v(x);;\n"
    )
    assert saasql.statements(sql) == [
        "SET saasql.ltv_churn_floor = 1",
        "SELECT ';' AS s, 'it''s; é' AS t -- c;\nFROM (VALUES (1)) v(x)",
    ]
    assert saasql.statements("  -- nothing\n") == []
    with pytest.raises(ValueError, match="expected ';' after the statement on line 1"):
        saasql.statements("SELECT 1\nSELECT 2")
    with pytest.raises(ValueError, match="SQL error"):
        saasql.statements("SELECT 'unterminated")


def test_the_datafusion_version_is_checked():
    assert datafusion.__version__.split(".")[0] == str(saasql.DATAFUSION_MAJOR) == "55"
    saasql.check_datafusion_version("55.3.1")
    with pytest.raises(ImportError, match=r"needs datafusion 55\.x .* but datafusion 54\.0\.0"):
        saasql.check_datafusion_version("54.0.0")


def test_the_module_example_runs():
    ctx = SessionContext()
    names = saasql.register(ctx)
    assert "nps" in names
    out = ctx.sql("SELECT nps(s) AS nps FROM (VALUES (10), (9), (3)) AS t(s)").to_pylist()
    assert out == [{"nps": pytest.approx(100 / 3)}]
