"""saasql.mrr_ledger in a Python session: the same ledger as the command's
mrr_ledger table function, the bundled reports on it through
expand_mrr_ledger, and the command's one-line errors."""

from __future__ import annotations

import datetime

import pytest
from conftest import REPO, assert_same_results, cli_results, context, python_results

import saasql

QUERY = (
    "SELECT customer_id, CAST(month AS VARCHAR) AS m, mrr, previous_mrr, movement, new_mrr, "
    "expansion_mrr, contraction_mrr, churn_mrr, reactivation_mrr FROM {ledger} ORDER BY 1, 2"
)


@pytest.mark.parametrize("convention", [None, "stripe", "dbt"])
def test_the_ledger_is_the_command_s(cli, convention):
    args = "'subscription_items'" + (f", '{convention}'" if convention else "")
    expected = cli_results(cli, "-c", QUERY.format(ledger=f"mrr_ledger({args})"))
    ctx = context()
    ctx.register_view("ledger", saasql.mrr_ledger(ctx, "subscription_items", convention))
    got = python_results(ctx, QUERY.format(ledger="ledger"))
    assert assert_same_results(expected, got) > 1000


def test_reports_on_the_ledger_run_through_expand(cli):
    for name in ["mrr_waterfall", "nrr_cohorts"]:
        text = (REPO / "sql" / f"{name}.sql").read_text()
        expected = cli_results(cli, "run", str(REPO / "sql" / f"{name}.sql"))
        ctx = context()
        got = python_results(ctx, saasql.expand_mrr_ledger(ctx, text))
        assert assert_same_results(expected, got) > 10, name


def test_as_of_and_errors():
    ctx = context()
    ledger = saasql.mrr_ledger(ctx, "subscription_items", as_of=datetime.date(2025, 3, 31))
    months = ctx.sql("SELECT max(month) AS m FROM ({})".format(
        saasql.mrr_ledger_sql(ctx, "subscription_items", as_of="2025-03-31"))).to_pylist()
    assert months == [{"m": datetime.date(2025, 3, 1)}]
    assert ledger.count() > 0
    with pytest.raises(ValueError, match="convention 'chargebee' is not one of"):
        saasql.mrr_ledger(ctx, "subscription_items", "chargebee")
    with pytest.raises(ValueError, match="table 'customers' has no column started_at"):
        saasql.mrr_ledger(ctx, "customers")
    ctx.sql("CREATE TABLE bad AS SELECT 1 AS customer_id, TIMESTAMP '2025-01-01 00:00:00' AS started_at, "
            "-5.0 AS amount, 'month' AS billing_interval").collect()
    with pytest.raises(Exception, match="mrr_ledger: bad subscription .* has amount -5"):
        saasql.mrr_ledger(ctx, "bad").collect()


def test_expansion_skips_comments_and_follows_the_currency_setting():
    ctx = context()
    sql = ("-- from mrr_ledger('subscription_items')\n"
           "SELECT 'mrr_ledger(''x'')' AS s, count(*) AS n FROM mrr_ledger ('subscription_items', 'dbt')")
    expanded = saasql.expand_mrr_ledger(ctx, sql)
    assert expanded.startswith("-- from mrr_ledger('subscription_items')\nSELECT 'mrr_ledger(''x'')' AS s")
    assert ctx.sql(expanded).to_pylist()[0]["n"] > 1000
    usd = ctx.sql(f"SELECT sum(mrr) AS m FROM ({saasql.mrr_ledger_sql(ctx, 'subscription_items')})").to_pylist()
    saasql.register(ctx, {"reporting_currency": "eur"})
    assert "'EUR'" in saasql.mrr_ledger_sql(ctx, "subscription_items")
    with pytest.raises(Exception, match="fx_rates has no rate above 0 for USD"):
        ctx.sql(f"SELECT sum(mrr) FROM ({saasql.mrr_ledger_sql(ctx, 'subscription_items')})").collect()
    assert usd[0]["m"] > 0
