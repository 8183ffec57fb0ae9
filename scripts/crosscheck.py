"""Cross-checks saasql's functions against the same metrics in DuckDB plain SQL
over the bundled sample data (or --data DIR).

    python3 scripts/crosscheck.py [--data data] [--saasql target/debug/saasql]

Creates a venv under .venv-crosscheck with duckdb on first use. Exits non-zero
if any metric differs by more than 1e-9 (relative).
"""
import argparse, json, os, subprocess, sys, venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# metric name -> (saasql SQL, DuckDB plain SQL); both return one row: key, value
CHECKS = {
    "engagement_score per customer": (
        "SELECT customer_id AS k, engagement_score(event_name) AS v FROM events GROUP BY customer_id",
        "SELECT customer_id AS k, SUM(CASE event_name WHEN 'login' THEN 1 WHEN 'report_created' THEN 5 "
        "WHEN 'teammate_invited' THEN 10 WHEN 'ticket_opened' THEN -2 ELSE 0 END) AS v FROM events GROUP BY customer_id",
    ),
    "nps by segment": (
        "SELECT c.segment AS k, nps(s.score) AS v FROM surveys s JOIN customers c USING (customer_id) WHERE kind = 'nps' GROUP BY c.segment",
        "SELECT c.segment AS k, 100.0 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) / count(*) AS v "
        "FROM surveys s JOIN customers c USING (customer_id) WHERE kind = 'nps' GROUP BY c.segment",
    ),
    "csat by plan": (
        "SELECT c.plan AS k, csat(s.score) AS v FROM surveys s JOIN customers c USING (customer_id) WHERE kind = 'csat' GROUP BY c.plan",
        "SELECT c.plan AS k, 100.0 * sum(score) / (count(score) * 5) AS v FROM surveys s JOIN customers c USING (customer_id) WHERE kind = 'csat' GROUP BY c.plan",
    ),
    "customer effort": (
        "SELECT 'all' AS k, customer_effort_score(score) AS v FROM surveys WHERE kind = 'ces'",
        "SELECT 'all' AS k, avg(score) AS v FROM surveys WHERE kind = 'ces'",
    ),
    "churn_rate by month": (
        "WITH l AS (SELECT customer_id, min(started_at) AS s, CASE WHEN count(*) FILTER (WHERE ended_at IS NULL) > 0 THEN NULL ELSE max(ended_at) END AS e FROM subscriptions GROUP BY customer_id), "
        "m AS (SELECT DISTINCT date_trunc('month', event_time) AS month FROM events) "
        "SELECT CAST(CAST(m.month AS DATE) AS VARCHAR) AS k, churn_rate(l.s, l.e, m.month, m.month + INTERVAL '1 month') AS v FROM l CROSS JOIN m GROUP BY m.month",
        "WITH l AS (SELECT customer_id, min(started_at) AS s, CASE WHEN count(*) FILTER (WHERE ended_at IS NULL) > 0 THEN NULL ELSE max(ended_at) END AS e FROM subscriptions GROUP BY customer_id), "
        "m AS (SELECT DISTINCT date_trunc('month', event_time) AS month FROM events) "
        "SELECT CAST(CAST(m.month AS DATE) AS VARCHAR) AS k, 100.0 * count(*) FILTER (WHERE s < month AND (e IS NULL OR e >= month) AND e < month + INTERVAL '1 month') "
        "/ nullif(count(*) FILTER (WHERE s < month AND (e IS NULL OR e >= month)), 0) AS v FROM l CROSS JOIN m GROUP BY m.month",
    ),
    "stickiness by month": (
        "SELECT CAST(CAST(date_trunc('month', event_time) AS DATE) AS VARCHAR) AS k, stickiness(user_id, event_time) AS v FROM events GROUP BY 1",
        "SELECT CAST(CAST(date_trunc('month', event_time) AS DATE) AS VARCHAR) AS k, "
        "100.0 * (count(DISTINCT (user_id, CAST(event_time AS DATE))) / (date_diff('day', min(CAST(event_time AS DATE)), max(CAST(event_time AS DATE))) + 1.0)) "
        "/ count(DISTINCT user_id) AS v FROM events GROUP BY 1",
    ),
    "first_contact_resolution by channel": (
        "SELECT channel AS k, first_contact_resolution(resolved_on_first_contact) AS v FROM tickets GROUP BY channel",
        "SELECT channel AS k, 100.0 * count(*) FILTER (WHERE resolved_on_first_contact) / count(resolved_on_first_contact) AS v FROM tickets GROUP BY channel",
    ),
    "avg_resolution_time by channel": (
        "SELECT channel AS k, avg_resolution_time(opened_at, resolved_at) AS v FROM tickets GROUP BY channel",
        "SELECT channel AS k, avg(epoch_us(resolved_at) - epoch_us(opened_at)) / 60e6 AS v FROM tickets GROUP BY channel",
    ),
    "arpa of paid invoices by status": (
        "SELECT status AS k, arpa(amount, customer_id) AS v FROM invoices GROUP BY status",
        "SELECT status AS k, sum(amount) / count(DISTINCT customer_id) AS v FROM invoices GROUP BY status",
    ),
}

# retention: one check per mode; key "cohort|k", NULL where the month had not
# ended by 2025-06-30 (the as_of both sides use).
_RETENTION_OURS = (
    "WITH r AS (SELECT CAST(CAST(date_trunc('month', c.signed_up_at) AS DATE) AS VARCHAR) AS cohort, "
    "retention(c.customer_id, c.signed_up_at, e.event_time, 'month', 8, '{mode}', TIMESTAMP '2025-06-30 00:00:00') AS r "
    "FROM customers c LEFT JOIN events e USING (customer_id) GROUP BY 1) "
    "SELECT cohort || '|' || CAST(g.value AS VARCHAR) AS k, r[g.value + 1] AS v FROM r CROSS JOIN generate_series(0, 7) AS g"
)
_RETENTION_THEIRS = (
    "WITH c AS (SELECT customer_id, strftime(date_trunc('month', signed_up_at), '%Y-%m-%d') AS cohort, "
    "year(signed_up_at) * 12 + month(signed_up_at) - 1 AS cp FROM customers), "
    "a AS (SELECT DISTINCT customer_id, year(event_time) * 12 + month(event_time) - 1 AS ap FROM events), "
    "g AS (SELECT range AS k FROM range(0, 8)), "
    "n AS (SELECT cohort, max(cp) AS cp, count(*) AS n FROM c GROUP BY cohort) "
    "SELECT n.cohort || '|' || CAST(g.k AS VARCHAR) AS k, "
    "CASE WHEN n.cp + g.k + 1 <= 2025 * 12 + 5 THEN 100.0 * (SELECT count(DISTINCT c.customer_id) FROM c JOIN a "
    "ON a.customer_id = c.customer_id AND a.ap {op} c.cp + g.k WHERE c.cohort = n.cohort) / n.n END AS v "
    "FROM n CROSS JOIN g"
)
CHECKS["retention bounded by sign-up month"] = (
    _RETENTION_OURS.format(mode="bounded"),
    _RETENTION_THEIRS.format(op="="),
)
CHECKS["retention unbounded by sign-up month"] = (
    _RETENTION_OURS.format(mode="unbounded"),
    _RETENTION_THEIRS.format(op=">="),
)

# The MRR ledger (subscription_items, fx_rates). The items' month is a DuckDB
# month spine; money is converted with the month's rate; MRR per customer and
# month rounded to 6 decimals as mrr_ledger rounds it.
_PER_MONTH = ("(CASE billing_interval WHEN 'day' THEN 12.0 / 365 WHEN 'week' THEN 12.0 / 52 "
              "WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 ELSE 12 END * interval_count)")
_AS_OF = ("(SELECT date_trunc('month', max(greatest(started_at, coalesce(canceled_at, started_at), "
          "CASE WHEN ended_at <= now() THEN ended_at ELSE started_at END)))::DATE FROM subscription_items)")
_SPINE = (f"months AS (SELECT range::DATE AS date_month FROM range((SELECT date_trunc('month', min(started_at) - INTERVAL 1 MONTH) "
          f"FROM subscription_items), {_AS_OF} + INTERVAL 1 MONTH, INTERVAL 1 MONTH)), "
          "rates AS (SELECT currency, month, rate FROM fx_rates UNION ALL SELECT 'USD', date_month, 1.0 FROM months)")
# ChartMogul's rules written out: at each month's last instant, the items out
# of trial and not yet ended, metered ones left out, discounts while they last.
CHECKS["mrr_ledger chartmogul: MRR by month"] = (
    "SELECT CAST(month AS VARCHAR) AS k, sum(mrr) AS v FROM mrr_ledger('subscription_items') GROUP BY month",
    f"WITH {_SPINE}, "
    "cm AS (SELECT m.date_month, i.customer_id, round(sum(r.rate * CASE WHEN i.discount_end IS NULL OR i.discount_end > "
    "(m.date_month + INTERVAL 1 MONTH)::TIMESTAMPTZ - INTERVAL 1 MICROSECOND "
    f"THEN greatest(i.amount * i.quantity / {_PER_MONTH} * (1 - coalesce(i.discount_percent, 0) / 100) "
    f"- coalesce(i.discount_amount, 0) / {_PER_MONTH}, 0) ELSE i.amount * i.quantity / {_PER_MONTH} END), 6) AS mrr "
    "FROM months m JOIN subscription_items i ON greatest(i.started_at, coalesce(i.trial_end, i.started_at)) "
    "< (m.date_month + INTERVAL 1 MONTH)::TIMESTAMPTZ AND (i.ended_at IS NULL OR i.ended_at >= (m.date_month + INTERVAL 1 MONTH)::TIMESTAMPTZ) "
    "AND NOT i.metered JOIN rates r ON r.currency = i.currency AND r.month = m.date_month "
    f"WHERE m.date_month <= {_AS_OF} GROUP BY 1, 2) "
    "SELECT strftime(date_month, '%Y-%m-%d') AS k, sum(mrr) AS v FROM cm "
    "WHERE date_month >= (SELECT min(date_month) FROM cm WHERE mrr > 0) GROUP BY 1",
)
# The dbt mrr-playbook's models (customer_revenue_by_month, customer_churn_month,
# mrr) on the items as its subscription periods: monthly_amount is the item's
# normalised amount, converted with the month's rate; items of one customer that
# overlap in a month are summed (the playbook assumes they never overlap); the
# spine runs to the last month whose first day a period covers (the playbook
# ends it at the month of the last end date, which loses that month when a
# period ends after the 1st; its periods are whole months), or to as_of. Compared: MRR of every paid
# customer-month, and the number of each change category per month
# (upgrade/downgrade are expansion/contraction in saasql).
_PLAYBOOK = (
    f"WITH {_SPINE}, "
    f"periods AS (SELECT customer_id, started_at::DATE AS start_date, ended_at::DATE AS end_date, currency, amount * quantity / {_PER_MONTH} AS monthly_amount FROM subscription_items), "
    f"customers AS (SELECT customer_id, date_trunc('month', min(start_date)) AS date_month_start, "
    f"date_trunc('month', max(coalesce(end_date - 1, {_AS_OF}))) + INTERVAL 1 MONTH AS date_month_end FROM periods GROUP BY 1), "
    "customer_months AS (SELECT customers.customer_id, months.date_month FROM customers JOIN months "
    "ON months.date_month >= customers.date_month_start AND months.date_month < customers.date_month_end), "
    "joined AS (SELECT cm.date_month, cm.customer_id, round(coalesce(sum(p.monthly_amount * r.rate), 0), 6) AS mrr "
    "FROM customer_months cm LEFT JOIN periods p ON cm.customer_id = p.customer_id AND cm.date_month >= p.start_date "
    "AND (cm.date_month < p.end_date OR p.end_date IS NULL) LEFT JOIN rates r ON r.currency = p.currency AND r.month = cm.date_month "
    "GROUP BY 1, 2), "
    "final AS (SELECT *, mrr > 0 AS is_active, min(CASE WHEN mrr > 0 THEN date_month END) OVER (PARTITION BY customer_id) AS first_active_month, "
    "max(CASE WHEN mrr > 0 THEN date_month END) OVER (PARTITION BY customer_id) AS last_active_month FROM joined), "
    "churn AS (SELECT (date_month + INTERVAL 1 MONTH)::DATE AS date_month, customer_id, 0.0 AS mrr, false AS is_active, "
    "first_active_month, last_active_month FROM final WHERE date_month = last_active_month), "
    "unioned AS (SELECT * FROM final UNION ALL SELECT * FROM churn), "
    "changes AS (SELECT *, coalesce(lag(is_active) OVER w, false) AS previous_month_is_active, "
    "coalesce(lag(mrr) OVER w, 0) AS previous_month_mrr FROM unioned WINDOW w AS (PARTITION BY customer_id ORDER BY date_month)), "
    "playbook AS (SELECT *, CASE WHEN date_month = first_active_month THEN 'new' "
    "WHEN NOT is_active AND previous_month_is_active THEN 'churn' WHEN is_active AND NOT previous_month_is_active THEN 'reactivation' "
    "WHEN mrr - previous_month_mrr > 0 THEN 'expansion' WHEN mrr - previous_month_mrr < 0 THEN 'contraction' END AS change_category "
    f"FROM changes WHERE date_month <= {_AS_OF}) "
)
CHECKS["mrr_ledger dbt: MRR per customer-month vs the playbook"] = (
    "SELECT CAST(customer_id AS VARCHAR) || '|' || CAST(month AS VARCHAR) AS k, mrr AS v "
    "FROM mrr_ledger('subscription_items', 'dbt') WHERE mrr > 0",
    _PLAYBOOK + "SELECT customer_id::VARCHAR || '|' || strftime(date_month, '%Y-%m-%d') AS k, mrr AS v FROM playbook WHERE mrr > 0",
)
CHECKS["mrr_ledger dbt: change categories per month vs the playbook"] = (
    "SELECT CAST(month AS VARCHAR) || '|' || movement AS k, count(*) AS v "
    "FROM mrr_ledger('subscription_items', 'dbt') WHERE movement NOT IN ('retained') GROUP BY 1",
    _PLAYBOOK + "SELECT strftime(date_month, '%Y-%m-%d') || '|' || change_category AS k, count(*) AS v "
    "FROM playbook WHERE change_category IS NOT NULL GROUP BY 1",
)


def ensure_duckdb():
    try:
        import duckdb  # noqa: F401
        return None
    except ImportError:
        pass
    env = os.path.join(ROOT, ".venv-crosscheck")
    py = os.path.join(env, "bin", "python")
    if not os.path.exists(py):
        venv.create(env, with_pip=True)
        subprocess.check_call([py, "-m", "pip", "install", "-q", "duckdb"])
    return py


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "data"))
    ap.add_argument("--saasql", default=os.path.join(ROOT, "target", "debug", "saasql"))
    a = ap.parse_args()
    py = ensure_duckdb()
    if py:
        os.execv(py, [py] + sys.argv)
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for t in ["customers", "subscriptions", "invoices", "surveys", "tickets", "subscription_items", "fx_rates"]:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{a.data}/{t}.parquet')")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{a.data}/events/*.parquet')")

    failures = 0
    for name, (ours, theirs) in CHECKS.items():
        out = subprocess.run([a.saasql, "--data", a.data, "--format", "ndjson", "run", "/dev/stdin"],
                             input=ours + ";", capture_output=True, text=True)
        if out.returncode != 0:
            print(f"FAIL {name}: saasql exited {out.returncode}: {out.stderr.strip()}")
            failures += 1
            continue
        mine = {str(r["k"]): r.get("v") for r in (json.loads(l) for l in out.stdout.splitlines() if l.strip())} if out.stdout.strip() else {}
        ref = {str(k): v for k, v in con.execute(theirs).fetchall()}
        bad = [k for k in ref if k not in mine or (ref[k] is None) != (mine[k] is None)
               or (ref[k] is not None and abs(float(ref[k]) - mine[k]) > 1e-9 * max(1.0, abs(float(ref[k]))))]
        if bad or set(mine) != set(ref):
            failures += 1
            print(f"FAIL {name}: {len(bad)} of {len(ref)} groups differ, e.g. {[(k, mine.get(k), ref[k]) for k in bad[:3]]}")
        else:
            print(f"ok   {name}: {len(ref)} groups equal")
    print(f"{len(CHECKS) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
