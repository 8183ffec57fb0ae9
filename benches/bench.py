#!/usr/bin/env python3
"""saasql benchmark: each metric timed four ways on the same Parquet files.

    python3 benches/bench.py                # 100 M events, 1 M customers, 10 M surveys
    python3 benches/bench.py --quick        # a small smoke run (about 2 M events)

  (a) the saasql function (the release `saasql` binary),
  (b) the same metric in DataFusion plain SQL (same binary, no saasql function),
  (c) the same plain SQL in DuckDB (Python package, in a venv this script creates),
  (d) the floor: the same query over the same columns with count() in place of
      the metric, e.g. SELECT customer_id, count(event_name) FROM events GROUP BY
      customer_id for engagement_score: the cost of reading, joining and grouping
      that no metric implementation can avoid.

Each is run once to warm up and then --runs times (default 3); the table shows
medians, the ratios a/b, a/c, a/d, and the peak RSS of the saasql process. The
numbers of (a), (b) and (c) are compared and any difference fails the run. Data is
generated with `saasql gen` into bench-data/ (kept between runs). Finally the
saasql queries run again under --memory-limit 256M (or --memory-limit SIZE).
Not part of `cargo test` or CI.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = "login:1, report_created:5, teammate_invited:10, ticket_opened:-2"
CASE_WEIGHT = ("CASE event_name WHEN 'login' THEN 1 WHEN 'report_created' THEN 5 "
               "WHEN 'teammate_invited' THEN 10 WHEN 'ticket_opened' THEN -2 ELSE 0 END")
TIER_CASE = ("CASE WHEN score < 0 THEN 'churn_risk' WHEN score <= 40 THEN 'disengaged' "
             "WHEN score <= 70 THEN 'somewhat_engaged' WHEN score <= 100 THEN 'highly_engaged' "
             "ELSE 'power_user' END")
HEALTH_TIER_CASE = ("CASE WHEN h IS NULL THEN NULL WHEN h <= 40 THEN 'red' WHEN h <= 70 THEN 'yellow' "
                    "WHEN h <= 100 THEN 'green' ELSE 'power_user' END")

LIFETIMES = ("WITH l AS (SELECT customer_id, min(started_at) AS s, CASE WHEN count(*) FILTER "
             "(WHERE ended_at IS NULL) > 0 THEN NULL ELSE max(ended_at) END AS e FROM subscriptions "
             "GROUP BY customer_id), m AS (SELECT DISTINCT date_trunc('month', event_time) AS month FROM events) ")

ANOMALY_SERIES = ("WITH d AS (SELECT customer_id, date_trunc('day', event_time) AS day, count(*) AS n "
                  "FROM events GROUP BY 1, 2) ")
ANOMALY_PLAIN = ("SELECT count(*) FILTER (WHERE anomalous) AS anomalies, count(expected) AS judged, "
                 "round(sum(expected), 3) AS s FROM (SELECT CASE WHEN k >= 3 THEN e END AS expected, "
                 "CASE WHEN k < 3 THEN NULL WHEN sd > 0 THEN abs(n - e) / sd > 3.0001 ELSE n <> e END AS anomalous "
                 "FROM (SELECT n, avg(n) OVER w AS e, stddev_samp(n) OVER w AS sd, count(n) OVER w AS k FROM d "
                 "WINDOW w AS (PARTITION BY customer_id ORDER BY day ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING)))")

# The MRR ledger under ChartMogul's rules written out in SQL both DataFusion and
# DuckDB run: an item's MRR at each month's end from its first month to as_of (0
# once it has ended), converted with fx_rates, summed per customer and month; the
# movements from the previous month. Checksum: rows, MRR, churned MRR, new MRR.
_PER_MONTH = ("(CASE billing_interval WHEN 'day' THEN 12.0 / 365 WHEN 'week' THEN 12.0 / 52 "
              "WHEN 'month' THEN 1.0 WHEN 'quarter' THEN 3.0 ELSE 12.0 END * interval_count)")
LEDGER_PLAIN = (
    "WITH i AS (SELECT customer_id, currency, CAST(CASE WHEN trial_end > started_at THEN trial_end ELSE started_at END AS TIMESTAMP) AS paid_from, "
    "CAST(ended_at AS TIMESTAMP) AS paid_until, CAST(discount_end AS TIMESTAMP) AS discount_end, "
    f"amount * quantity / {_PER_MONTH} AS full_mrr, coalesce(discount_percent, 0) AS pct, coalesce(discount_amount, 0) / {_PER_MONTH} AS off "
    "FROM subscription_items WHERE NOT metered), "
    "b AS (SELECT CAST(date_trunc('month', max(greatest(CAST(started_at AS TIMESTAMP), coalesce(CAST(canceled_at AS TIMESTAMP), CAST(started_at AS TIMESTAMP)), "
    "CASE WHEN ended_at <= now() THEN CAST(ended_at AS TIMESTAMP) ELSE CAST(started_at AS TIMESTAMP) END))) AS DATE) AS as_of FROM subscription_items), "
    "s AS (SELECT i.*, CAST(date_trunc('month', paid_from) AS DATE) AS first_m, "
    "CASE WHEN paid_until IS NULL THEN b.as_of ELSE least(CAST(date_trunc('month', paid_until) AS DATE) - INTERVAL '1 month', b.as_of) END AS last_m, b.as_of "
    "FROM i CROSS JOIN b), "
    "m AS (SELECT customer_id, currency, month, CASE WHEN month <= last_m THEN CASE WHEN discount_end IS NULL OR discount_end >= CAST(month + INTERVAL '1 month' AS TIMESTAMP) "
    "THEN greatest(full_mrr * (1 - pct / 100) - off, 0) ELSE full_mrr END ELSE 0.0 END AS mrr "
    "FROM (SELECT *, unnest(generate_series(first_m, as_of, INTERVAL '1 month')) AS month FROM s WHERE first_m <= as_of)), "
    "c AS (SELECT m.customer_id, m.month, round(sum(CASE WHEN m.mrr = 0 THEN 0.0 WHEN m.currency = 'USD' THEN m.mrr ELSE m.mrr * r.rate END), 6) AS mrr "
    "FROM m LEFT JOIN fx_rates r ON r.currency = m.currency AND r.month = m.month GROUP BY 1, 2), "
    "w AS (SELECT customer_id, month, mrr, coalesce(lag(mrr) OVER (PARTITION BY customer_id ORDER BY month), 0) AS prev, "
    "max(CASE WHEN mrr > 0 THEN month END) OVER (PARTITION BY customer_id ORDER BY month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_paid, "
    "max(mrr) OVER (PARTITION BY customer_id ORDER BY month ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS paid_yet FROM c) "
    "SELECT count(*) AS n, round(sum(mrr), 2) AS mrr, round(sum(CASE WHEN prev > 0 AND mrr = 0 THEN prev ELSE 0 END), 2) AS churned, "
    "round(sum(CASE WHEN prev = 0 AND mrr > 0 AND last_paid IS NULL THEN mrr ELSE 0 END), 2) AS new FROM w WHERE paid_yet > 0"
)

# name -> (saasql, DataFusion plain SQL, DuckDB plain SQL); each returns a small
# checksum result so output cost does not dominate.
METRICS = {
    "engagement_score per customer": (
        f"SELECT count(*) AS n, sum(score) AS s FROM (SELECT customer_id, engagement_score(event_name, '{WEIGHTS}') AS score FROM events GROUP BY customer_id)",
        f"SELECT count(*) AS n, sum(score) AS s FROM (SELECT customer_id, SUM({CASE_WEIGHT}) AS score FROM events GROUP BY customer_id)",
        f"SELECT count(*) AS n, sum(score) AS s FROM (SELECT customer_id, SUM({CASE_WEIGHT}) AS score FROM events GROUP BY customer_id)",
    ),
    "engagement_tier of it": (
        f"SELECT engagement_tier(score) AS tier, count(*) AS n FROM (SELECT customer_id, engagement_score(event_name, '{WEIGHTS}') AS score FROM events GROUP BY customer_id) GROUP BY 1 ORDER BY 1",
        f"SELECT {TIER_CASE} AS tier, count(*) AS n FROM (SELECT customer_id, SUM({CASE_WEIGHT}) AS score FROM events GROUP BY customer_id) GROUP BY 1 ORDER BY 1",
        f"SELECT {TIER_CASE} AS tier, count(*) AS n FROM (SELECT customer_id, SUM({CASE_WEIGHT}) AS score FROM events GROUP BY customer_id) GROUP BY 1 ORDER BY 1",
    ),
    "nps by segment": (
        "SELECT c.segment, nps(s.score) AS nps FROM surveys_bench s JOIN customers c USING (customer_id) GROUP BY c.segment ORDER BY 1",
        "SELECT c.segment, 100.0 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) / count(score) AS nps FROM surveys_bench s JOIN customers c USING (customer_id) WHERE score IS NOT NULL GROUP BY c.segment ORDER BY 1",
        "SELECT c.segment, 100.0 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) / count(score) AS nps FROM surveys_bench s JOIN customers c USING (customer_id) WHERE score IS NOT NULL GROUP BY c.segment ORDER BY 1",
    ),
    "churn_rate by month (calendar cross join)": (
        LIFETIMES + "SELECT CAST(CAST(m.month AS DATE) AS VARCHAR) AS month, churn_rate(l.s, l.e, m.month, m.month + INTERVAL '1 month') AS churn FROM l CROSS JOIN m GROUP BY m.month ORDER BY 1",
        LIFETIMES + "SELECT CAST(CAST(m.month AS DATE) AS VARCHAR) AS month, 100.0 * count(*) FILTER (WHERE s < month AND (e IS NULL OR e >= month) AND e < month + INTERVAL '1 month') / nullif(count(*) FILTER (WHERE s < month AND (e IS NULL OR e >= month)), 0) AS churn FROM l CROSS JOIN m GROUP BY m.month ORDER BY 1",
        LIFETIMES + "SELECT CAST(CAST(m.month AS DATE) AS VARCHAR) AS month, 100.0 * count(*) FILTER (WHERE s < month AND (e IS NULL OR e >= month) AND e < month + INTERVAL '1 month') / nullif(count(*) FILTER (WHERE s < month AND (e IS NULL OR e >= month)), 0) AS churn FROM l CROSS JOIN m GROUP BY m.month ORDER BY 1",
    ),
    "stickiness by month": (
        "SELECT CAST(CAST(month AS DATE) AS VARCHAR) AS month, st FROM (SELECT date_trunc('month', event_time) AS month, stickiness(user_id, event_time) AS st FROM events GROUP BY 1) ORDER BY 1",
        "WITH d AS (SELECT DISTINCT date_trunc('month', event_time) AS month, user_id, date_trunc('day', event_time) AS day FROM events) "
        "SELECT CAST(CAST(month AS DATE) AS VARCHAR) AS month, 100.0 * (count(*) / ((date_part('epoch', max(day)) - date_part('epoch', min(day))) / 86400 + 1)) / count(DISTINCT user_id) AS st FROM d GROUP BY month ORDER BY 1",
        "WITH d AS (SELECT DISTINCT date_trunc('month', event_time) AS month, user_id, date_trunc('day', event_time) AS day FROM events) "
        "SELECT CAST(CAST(month AS DATE) AS VARCHAR) AS month, 100.0 * (count(*) / ((epoch(max(day)) - epoch(min(day))) / 86400 + 1)) / count(DISTINCT user_id) AS st FROM d GROUP BY month ORDER BY 1",
    ),
    # Cohorts by each user's first day, 14 days of retention; as_of far ahead so
    # every period counts (the plain SQL has no NULL rule to mirror).
    "retention by first-seen day (14 days)": (
        "WITH f AS (SELECT user_id, min(event_time) AS first FROM events GROUP BY user_id), "
        "r AS (SELECT CAST(CAST(date_trunc('day', f.first) AS DATE) AS VARCHAR) AS cohort, "
        "retention(e.user_id, f.first, e.event_time, 'day', 14, 'bounded', TIMESTAMP '2100-01-01 00:00:00') AS r "
        "FROM events e JOIN f USING (user_id) GROUP BY 1) "
        "SELECT cohort, g.value AS k, r[g.value + 1] AS v FROM r CROSS JOIN generate_series(0, 13) AS g ORDER BY 1, 2",
        "WITH f AS (SELECT user_id, date_trunc('day', min(event_time)) AS cday FROM events GROUP BY user_id), "
        "n AS (SELECT cday, count(*) AS n FROM f GROUP BY cday), "
        "a AS (SELECT DISTINCT e.user_id, f.cday, CAST((date_part('epoch', date_trunc('day', e.event_time)) - date_part('epoch', f.cday)) / 86400 AS BIGINT) AS k "
        "FROM events e JOIN f USING (user_id)), "
        "c AS (SELECT cday, k, count(*) AS m FROM a WHERE k BETWEEN 0 AND 13 GROUP BY cday, k) "
        "SELECT CAST(CAST(n.cday AS DATE) AS VARCHAR) AS cohort, g.value AS k, 100.0 * coalesce(c.m, 0) / n.n AS v "
        "FROM n CROSS JOIN generate_series(0, 13) AS g LEFT JOIN c ON c.cday = n.cday AND c.k = g.value ORDER BY 1, 2",
        "WITH f AS (SELECT user_id, date_trunc('day', min(event_time)) AS cday FROM events GROUP BY user_id), "
        "n AS (SELECT cday, count(*) AS n FROM f GROUP BY cday), "
        "a AS (SELECT DISTINCT e.user_id, f.cday, CAST((epoch(date_trunc('day', e.event_time)) - epoch(f.cday)) / 86400 AS BIGINT) AS k "
        "FROM events e JOIN f USING (user_id)), "
        "c AS (SELECT cday, k, count(*) AS m FROM a WHERE k BETWEEN 0 AND 13 GROUP BY cday, k) "
        "SELECT CAST(CAST(n.cday AS DATE) AS VARCHAR) AS cohort, g.value AS k, 100.0 * coalesce(c.m, 0) / n.n AS v "
        "FROM n CROSS JOIN (SELECT range AS value FROM range(0, 14)) AS g LEFT JOIN c ON c.cday = n.cday AND c.k = g.value ORDER BY 1, 2",
    ),
    # Each customer's daily event count judged against its previous 7 days
    # (14 M points in 1 M series); the plain SQL is the same formula with
    # window frames (the zero-stddev rule included). Sensitivity 3.0001, not
    # 3: integer counts often give a zscore of exactly 3, which each engine's
    # floating-point stddev puts on a different side of 3.
    "metric_anomaly per customer-day (7-day training)": (
        ANOMALY_SERIES + "SELECT count(*) FILTER (WHERE a['anomalous']) AS anomalies, count(a['expected']) AS judged, "
        "round(sum(a['expected']), 3) AS s FROM (SELECT metric_anomaly(n, day, 7, 3.0001) OVER (PARTITION BY customer_id ORDER BY day) AS a FROM d)",
        ANOMALY_SERIES + ANOMALY_PLAIN,
        ANOMALY_SERIES + ANOMALY_PLAIN,
    ),
    "mrr_ledger (chartmogul) over every subscription item": (
        "SELECT count(*) AS n, round(sum(mrr), 2) AS mrr, round(sum(churn_mrr), 2) AS churned, "
        "round(sum(new_mrr), 2) AS new FROM mrr_ledger('subscription_items')",
        LEDGER_PLAIN,
        LEDGER_PLAIN,
    ),
    "health_score + health_tier": (
        f"WITH u AS (SELECT customer_id, least(greatest(engagement_score(event_name, '{WEIGHTS}'), 0), 100) AS usage FROM events GROUP BY customer_id), "
        "n AS (SELECT customer_id, (nps(score) + 100) / 2 AS nc FROM surveys_bench GROUP BY customer_id) "
        "SELECT health_tier(health_score(u.usage, 40, n.nc, 10)) AS tier, count(*) AS k FROM customers c LEFT JOIN u ON u.customer_id = c.customer_id LEFT JOIN n ON n.customer_id = c.customer_id GROUP BY 1 ORDER BY 1 NULLS LAST",
        f"WITH u AS (SELECT customer_id, least(greatest(SUM({CASE_WEIGHT}), 0), 100) AS usage FROM events GROUP BY customer_id), "
        "n AS (SELECT customer_id, (100.0 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) / count(score) + 100) / 2 AS nc FROM surveys_bench WHERE score IS NOT NULL GROUP BY customer_id), "
        "x AS (SELECT (coalesce(u.usage * 40, 0) + coalesce(n.nc * 10, 0)) / nullif(CASE WHEN u.usage IS NULL THEN 0 ELSE 40 END + CASE WHEN n.nc IS NULL THEN 0 ELSE 10 END, 0) AS h FROM customers c LEFT JOIN u ON u.customer_id = c.customer_id LEFT JOIN n ON n.customer_id = c.customer_id) "
        f"SELECT {HEALTH_TIER_CASE} AS tier, count(*) AS k FROM x GROUP BY 1 ORDER BY 1 NULLS LAST",
        f"WITH u AS (SELECT customer_id, least(greatest(SUM({CASE_WEIGHT}), 0), 100) AS usage FROM events GROUP BY customer_id), "
        "n AS (SELECT customer_id, (100.0 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) / count(score) + 100) / 2 AS nc FROM surveys_bench WHERE score IS NOT NULL GROUP BY customer_id), "
        "x AS (SELECT (coalesce(u.usage * 40, 0) + coalesce(n.nc * 10, 0)) / nullif(CASE WHEN u.usage IS NULL THEN 0 ELSE 40 END + CASE WHEN n.nc IS NULL THEN 0 ELSE 10 END, 0) AS h FROM customers c LEFT JOIN u ON u.customer_id = c.customer_id LEFT JOIN n ON n.customer_id = c.customer_id) "
        f"SELECT {HEALTH_TIER_CASE} AS tier, count(*) AS k FROM x GROUP BY 1 ORDER BY 1 NULLS LAST",
    ),
}
ENGAGEMENT_FLOOR = "SELECT count(*) AS n, sum(c) AS s FROM (SELECT customer_id, count(event_name) AS c FROM events GROUP BY customer_id)"
# metric -> the floor: the same query over the same columns, count() in place of the metric
FLOORS = {
    "engagement_score per customer": ENGAGEMENT_FLOOR,
    "engagement_tier of it": ENGAGEMENT_FLOOR,
    "nps by segment": "SELECT c.segment, count(s.score) AS n FROM surveys_bench s JOIN customers c USING (customer_id) GROUP BY c.segment ORDER BY 1",
    "churn_rate by month (calendar cross join)":
        LIFETIMES + "SELECT CAST(CAST(m.month AS DATE) AS VARCHAR) AS month, count(l.s) + count(l.e) AS n FROM l CROSS JOIN m GROUP BY m.month ORDER BY 1",
    "stickiness by month": "SELECT CAST(CAST(month AS DATE) AS VARCHAR) AS month, n FROM (SELECT date_trunc('month', event_time) AS month, count(user_id) AS n FROM events GROUP BY 1) ORDER BY 1",
    "retention by first-seen day (14 days)":
        "WITH f AS (SELECT user_id, min(event_time) AS first FROM events GROUP BY user_id) "
        "SELECT CAST(CAST(date_trunc('day', f.first) AS DATE) AS VARCHAR) AS cohort, count(e.event_time) AS n "
        "FROM events e JOIN f USING (user_id) GROUP BY 1 ORDER BY 1",
    "metric_anomaly per customer-day (7-day training)":
        ANOMALY_SERIES + "SELECT count(x) AS n FROM (SELECT count(n) OVER (PARTITION BY customer_id ORDER BY day "
        "ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING) AS x FROM d)",
    "mrr_ledger (chartmogul) over every subscription item":
        "WITH b AS (SELECT CAST(date_trunc('month', max(CAST(started_at AS TIMESTAMP))) AS DATE) AS as_of FROM subscription_items) "
        "SELECT count(*) AS n FROM (SELECT customer_id, month FROM (SELECT customer_id, "
        "unnest(generate_series(CAST(date_trunc('month', CAST(started_at AS TIMESTAMP)) AS DATE), b.as_of, INTERVAL '1 month')) AS month "
        "FROM subscription_items CROSS JOIN b WHERE NOT metered) GROUP BY 1, 2)",
    "health_score + health_tier":
        "WITH u AS (SELECT customer_id, count(event_name) AS usage FROM events GROUP BY customer_id), "
        "n AS (SELECT customer_id, count(score) AS nc FROM surveys_bench GROUP BY customer_id) "
        "SELECT count(u.usage) + count(n.nc) AS k FROM customers c LEFT JOIN u ON u.customer_id = c.customer_id LEFT JOIN n ON n.customer_id = c.customer_id",
}


def ensure_duckdb():
    try:
        import duckdb  # noqa: F401
        return None
    except ImportError:
        pass
    env = os.path.join(ROOT, ".venv-bench")
    py = os.path.join(env, "bin", "python")
    if not os.path.exists(py):
        print("creating .venv-bench with duckdb …", flush=True)
        venv.create(env, with_pip=True)
        subprocess.check_call([py, "-m", "pip", "install", "-q", "duckdb"])
    return py


def run_saasql(args, sql, memory_limit=None, allow_failure=False):
    """Runs one query in a fresh saasql process: (seconds, peak RSS bytes, rows).

    Peak RSS comes from GNU time run as an intermediate process: a child
    forked straight from this Python process (which hosts DuckDB) would
    inherit its high-water mark in ru_maxrss.
    """
    cmd = [args.saasql, "--data", args.out, "--format", "ndjson"]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    cmd += ["run", "/dev/stdin"]
    timed = os.path.exists("/usr/bin/time")
    if timed:
        cmd = ["/usr/bin/time", "-f", "saasql-peak-rss-kib %M"] + cmd
    start = time.perf_counter()
    p = subprocess.run(cmd, input=sql + ";\n", capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    err_lines = p.stderr.strip().splitlines()
    rss = 0
    if timed and err_lines and err_lines[-1].startswith("saasql-peak-rss-kib "):
        rss = int(err_lines.pop().split()[1]) * 1024
    if p.returncode != 0:
        if allow_failure:
            return elapsed, rss, "exit %d: %s" % (p.returncode, err_lines[-1] if err_lines else "")
        sys.exit(f"saasql failed ({p.returncode}): {chr(10).join(err_lines)}\n{sql}")
    rows = [tuple(json.loads(l).values()) for l in p.stdout.splitlines() if l.strip()]
    return elapsed, rss, rows


def run_duckdb(con, sql):
    start = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - start, rows


def same(a, b):
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b):
        if len(ra) != len(rb):
            return False
        for x, y in zip(ra, rb):
            if x is None or y is None:
                if x is not y:
                    return False
            elif isinstance(x, (int, float)) and isinstance(y, (int, float)):
                if abs(float(x) - float(y)) > 1e-9 * max(1.0, abs(float(x))):
                    return False
            elif str(x) != str(y):
                return False
    return True


def median_time(f, runs):
    f()  # warm-up
    results = [f() for _ in range(runs)]
    return statistics.median(r[0] for r in results), results[-1]


def generate(args):
    marker = os.path.join(args.out, ".bench-params")
    # "items": the data set has subscription_items and fx_rates.
    params = f"{args.customers} {args.days} {args.surveys} {args.seed} items"
    if os.path.exists(marker) and open(marker).read() == params:
        print(f"using cached data in {args.out} ({params})")
        return
    print(f"generating {args.customers} customers × {args.days} days into {args.out} …", flush=True)
    subprocess.check_call([args.saasql, "gen", "--customers", str(args.customers), "--days", str(args.days),
                           "--seed", str(args.seed), "--out", args.out])
    # 10 M NPS answers spread over the customers, deterministic (an older copy
    # would be an input of the COPY: saasql refuses to overwrite it).
    stale = os.path.join(args.out, "surveys_bench.parquet")
    if os.path.exists(stale):
        os.remove(stale)
    sql = (f"COPY (SELECT (value * 7919) % {args.customers} + 1 AS customer_id, "
           f"CAST((value * 2654435761) % 11 AS BIGINT) AS score FROM generate_series(1, {args.surveys})) "
           f"TO '{args.out}/surveys_bench.parquet' STORED AS PARQUET")
    subprocess.run([args.saasql, "--data", args.out, "run", "/dev/stdin"], input=sql + ";", text=True, check=True,
                   stdout=subprocess.DEVNULL)
    open(marker, "w").write(params)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=14, help="days of events (14 gives about 100 M events for 1 M customers)")
    ap.add_argument("--surveys", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-data"))
    ap.add_argument("--saasql", default=None, help="saasql binary (default: build target/release/saasql)")
    ap.add_argument("--quick", action="store_true", help="small data for a smoke run")
    ap.add_argument("--only", default=None, help="run only metrics whose name contains this")
    ap.add_argument("--memory-limit", default="256M", help="the limit of the bounded-memory runs")
    args = ap.parse_args()
    if args.quick:
        args.customers, args.days, args.surveys, args.runs = 20_000, 14, 200_000, 1
        args.out = os.path.join(ROOT, "bench-data-quick")
    py = ensure_duckdb()
    if py:
        os.execv(py, [py] + sys.argv)
    import duckdb

    if args.saasql is None:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        print("building saasql (release) …", flush=True)
        subprocess.check_call(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
        args.saasql = os.path.join(target, "release", "saasql")
    generate(args)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for t in ["customers", "subscriptions", "surveys_bench", "subscription_items", "fx_rates"]:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{args.out}/{t}.parquet')")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{args.out}/events/*.parquet')")
    n_events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    print(f"{n_events:,} events, {args.customers:,} customers, {args.surveys:,} survey rows; "
          f"{os.cpu_count()} cores; median of {args.runs} after a warm-up\n", flush=True)

    rows = []
    results_a = {}
    failures = 0
    floor_times = {}
    for name, (ours, plain_df, plain_duck) in METRICS.items():
        if args.only and args.only not in name:
            continue
        floor_sql = FLOORS[name]
        if floor_sql not in floor_times:
            floor_times[floor_sql], _ = median_time(lambda: run_saasql(args, floor_sql), args.runs)
        floor_t = floor_times[floor_sql]
        ta, (_, rss, ra) = median_time(lambda: run_saasql(args, ours), args.runs)
        tb, (_, rss_b, rb) = median_time(lambda: run_saasql(args, plain_df), args.runs)
        tc, (_, rc) = median_time(lambda: run_duckdb(con, plain_duck), args.runs)
        ok = same(ra, rb) and same(ra, rc)
        failures += not ok
        rows.append((name, ta, tb, tc, floor_t, rss, rss_b, ok))
        results_a[name] = ra
        print(f"  {name}: a={ta:.2f}s b={tb:.2f}s c={tc:.2f}s d={floor_t:.2f}s "
              f"{'same numbers' if ok else 'DIFFERENT NUMBERS'}", flush=True)
        if not ok:
            print(f"    saasql {ra[:5]}\n    df     {rb[:5]}\n    duckdb {rc[:5]}")

    print("\n| metric | (a) saasql s | (b) DataFusion SQL s | (c) DuckDB s | (d) floor s | a/b | a/c | a/d | peak RSS (a) | peak RSS (b) | a=b=c |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, ta, tb, tc, td, rss, rss_b, ok in rows:
        print(f"| {name} | {ta:.2f} | {tb:.2f} | {tc:.2f} | {td:.2f} | {ta / tb:.2f} | {ta / tc:.2f} | {ta / td:.2f} "
              f"| {rss / 2**20:.0f} MiB | {rss_b / 2**20:.0f} MiB | {'yes' if ok else 'NO'} |")

    # Model fits have no plain-SQL counterpart: time saasql alone. rfm per
    # customer over the paid invoices, then one BG/NBD fit over all of them.
    if not args.only or args.only in "bgnbd_fit":
        history = ("WITH l AS (SELECT max(paid_at) AS end_at FROM invoices), "
                   "h AS (SELECT rfm(i.paid_at, i.amount, l.end_at) AS s FROM invoices i CROSS JOIN l "
                   "WHERE i.status = 'paid' GROUP BY i.customer_id, l.end_at) ")
        fit = history + ("SELECT m['customers'] AS customers, m['converged'] AS converged, round(m['r'], 4) AS r, "
                         "round(m['alpha'], 4) AS alpha, round(m['a'], 4) AS a, round(m['b'], 4) AS b FROM "
                         "(SELECT bgnbd_fit(s['frequency'], s['recency'], s['t']) FILTER (WHERE s['t'] > 0) AS m FROM h)")
        floor = history + "SELECT count(s['frequency']) AS customers FROM h"
        tf, (_, rss_f, rf) = median_time(lambda: run_saasql(args, fit), args.runs)
        th, (_, _, rh) = median_time(lambda: run_saasql(args, floor), args.runs)
        print(f"\nbgnbd_fit over the rfm of every paying customer: {tf:.2f}s (rfm alone {th:.2f}s, so the fit "
              f"{tf - th:.2f}s), peak RSS {rss_f / 2**20:.0f} MiB; {rf[0]}")

    # Every saasql query again under a tight memory limit: it finishes
    # (spilling where DataFusion can) or fails with the one-line resource
    # error; either way the row says which.
    print(f"\nbounded memory (--memory-limit {args.memory_limit}):")
    print(f"\n| metric | time s | peak RSS | outcome |\n| --- | ---: | ---: | --- |")
    for name, (ours, _, _) in METRICS.items():
        if args.only and args.only not in name:
            continue
        t, rss, r = run_saasql(args, ours, memory_limit=args.memory_limit, allow_failure=True)
        if isinstance(r, str):
            outcome = r
        elif name not in results_a:
            outcome = "finished"
        else:
            outcome = "finished, same numbers" if same(r, results_a[name]) else "finished, DIFFERENT NUMBERS"
            failures += not same(r, results_a[name])
        print(f"| {name} | {t:.2f} | {rss / 2**20:.0f} MiB | {outcome} |", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
