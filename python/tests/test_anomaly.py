"""metric_anomaly against the same formula in plain DuckDB SQL (a window of
the `training` previous rows of the same season: mean, sample standard
deviation, z-score), on a generated daily series with a weekly pattern,
noise and a few spikes."""

from __future__ import annotations

import datetime
import math
import random

import duckdb
import pyarrow as pa
import saasql
from datafusion import SessionContext


def series() -> pa.Table:
    rng = random.Random(7)
    start = datetime.date(2025, 1, 1)
    days, values = [], []
    for i in range(120):
        day = start + datetime.timedelta(days=i)
        weekly = 40.0 if day.weekday() >= 5 else 100.0
        value = weekly + rng.gauss(0, 5)
        if i in (50, 83, 111):
            value *= 2.5
        days.append(day)
        values.append(round(value, 3))
    return pa.table({"day": pa.array(days, pa.date32()), "v": pa.array(values, pa.float64())})


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_metric_anomaly_matches_duckdb():
    table = series()
    ctx = SessionContext()
    saasql.register(ctx)
    ctx.from_arrow(table, name="daily")
    con = duckdb.connect()
    con.register("daily", table)
    for training, sensitivity, seasonality, season in [
        (14, 3, "none", "0"),
        (8, 2.5, "day_of_week", "dayofweek(day)"),
        (5, 3, "day_of_month", "dayofmonth(day)"),
    ]:
        ours = ctx.sql(
            f"SELECT day, a['expected'] AS expected, a['stddev'] AS stddev, a['zscore'] AS zscore, "
            f"a['anomalous'] AS anomalous FROM (SELECT day, metric_anomaly(v, day, {training}, "
            f"{sensitivity}, '{seasonality}') OVER (ORDER BY day) AS a FROM daily) ORDER BY day"
        ).to_pylist()
        theirs = con.execute(
            f"""
            WITH w AS (
                SELECT day, v,
                       count(v) OVER h AS n, avg(v) OVER h AS expected, stddev_samp(v) OVER h AS stddev
                FROM daily
                WINDOW h AS (PARTITION BY {season} ORDER BY day
                             ROWS BETWEEN {training} PRECEDING AND 1 PRECEDING)
            )
            SELECT day,
                   CASE WHEN n >= 3 THEN expected END AS expected,
                   CASE WHEN n >= 3 THEN stddev END AS stddev,
                   CASE WHEN n >= 3 AND stddev > 0 THEN (v - expected) / stddev END AS zscore,
                   CASE WHEN n >= 3 THEN abs((v - expected) / stddev) > {sensitivity} END AS anomalous
            FROM w ORDER BY day
            """
        ).fetchall()
        assert len(ours) == len(theirs) == 120
        flagged = 0
        for mine, (day, expected, stddev, zscore, anomalous) in zip(ours, theirs):
            assert mine["day"] == day
            assert close(mine["expected"], expected), (seasonality, day, mine, expected)
            assert close(mine["stddev"], stddev), (seasonality, day, mine, stddev)
            assert close(mine["zscore"], zscore), (seasonality, day, mine, zscore)
            assert mine["anomalous"] == anomalous, (seasonality, day, mine, anomalous)
            flagged += bool(anomalous)
        # The spikes (and, without seasonality, some weekend days) are found.
        assert flagged >= 3, (seasonality, flagged)
