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
    for t in ["customers", "subscriptions", "invoices", "surveys", "tickets"]:
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
