"""Python clients against a running `saasql serve`: psycopg over the Postgres
wire protocol and the ADBC Flight SQL driver over Arrow Flight SQL.

Run by `cargo test` (tests/cli.rs, `serve::python_clients_get_the_numbers_of_saasql_run`)
in a venv it makes from tests/python/requirements.txt:

    clients.py check PG_PORT FLIGHT_PORT EXPECTED_CSV   (password in $SAASQL_SERVE_PASSWORD)
    clients.py hang FLIGHT_PORT                         (starts a long query, never returns)

`check` runs sql/overview.sql through both clients and compares every row with
EXPECTED_CSV (the output of `saasql --format csv run sql/overview.sql`); then
checks types, settings per session, the read-only refusal and wrong
passwords. Prints one line per check; exits 1 at the first difference.
"""
import csv
import datetime
import decimal
import os
import sys
import warnings

import adbc_driver_flightsql.dbapi as flight_sql
import psycopg

warnings.simplefilter("ignore")  # ADBC: "Cannot disable autocommit"


def fail(message):
    print(f"FAIL {message}")
    sys.exit(1)


def check(name, got, expected):
    if got != expected:
        fail(f"{name}: got {got!r}, expected {expected!r}")
    print(f"ok {name}")


def flight(port, password):
    kwargs = {"username": "analyst", "password": password} if password else {}
    return flight_sql.connect(f"grpc://127.0.0.1:{port}", db_kwargs=kwargs)


def pg(port, password):
    return psycopg.connect(
        host="127.0.0.1", port=port, user="saasql", dbname="saasql",
        password=password, connect_timeout=20,
    )


def refused(what, run, needle):
    try:
        run()
    except Exception as e:  # each driver has its own error classes
        if needle not in str(e):
            fail(f"{what}: error {e!r} lacks {needle!r}")
        print(f"ok {what} refused")
        return
    fail(f"{what}: was not refused")


def main_check(pg_port, flight_port, expected_csv):
    password = os.environ.get("SAASQL_SERVE_PASSWORD")
    with open(expected_csv, newline="") as f:
        rows = list(csv.reader(f))
    header, expected = rows[0], [tuple(r) for r in rows[1:]]
    overview = open("sql/overview.sql").read()

    # psycopg: the server-side (extended) protocol with a parameter too.
    with pg(pg_port, password) as conn:
        cur = conn.execute(overview)
        check("psycopg columns", [d.name for d in cur.description], header)
        check("psycopg overview", [tuple(r) for r in cur.fetchall()], expected)
        row = conn.execute(
            "SELECT TIMESTAMP '2025-03-01 12:34:56' AS ts, DATE '2025-03-31' AS d, "
            "CAST(1234.5 AS DECIMAL(10, 2)) AS amount, CAST(0.25 AS DOUBLE) AS share, "
            "CAST(NULL AS BIGINT) AS nothing, nps(score) AS nps "
            "FROM (VALUES (10), (9), (3)) AS t(score) WHERE score > %s", (0,)
        ).fetchone()
        check("psycopg types", row, (
            datetime.datetime(2025, 3, 1, 12, 34, 56), datetime.date(2025, 3, 31),
            decimal.Decimal("1234.50"), 0.25, None, 33.333333333333336,
        ))
        conn.execute("SET saasql.ltv_churn_floor = 0.25")
        check("psycopg SET", conn.execute("SHOW saasql.ltv_churn_floor").fetchone()[1], "0.25")
        refused("psycopg COPY … TO", lambda: conn.execute("COPY (SELECT 1) TO '/tmp/saasql-no.csv'"),
                "read-only")

    # ADBC Flight SQL: prepared statements, Arrow types.
    with flight(flight_port, password) as conn:
        cur = conn.cursor()
        cur.execute(overview)
        table = cur.fetch_arrow_table()
        check("adbc columns", table.column_names, header)
        check("adbc overview", [tuple(r.values()) for r in table.to_pylist()], expected)
        cur.execute(
            "SELECT TIMESTAMP '2025-03-01 12:34:56' AS ts, DATE '2025-03-31' AS d, "
            "CAST(1234.5 AS DECIMAL(10, 2)) AS amount, CAST(NULL AS BIGINT) AS nothing, "
            "nps_breakdown(score) AS b FROM (VALUES (10), (9), (3)) AS t(score) WHERE score > $1",
            (0,),
        )
        table = cur.fetch_arrow_table()
        check("adbc types", [str(t) for t in table.schema.types], [
            "timestamp[ns]", "date32[day]", "decimal128(10, 2)", "int64",
            "struct<responses: int64 not null, promoters: int64 not null, passives: int64 not null, "
            "detractors: int64 not null, nps: double>",
        ])
        check("adbc values", table.to_pylist(), [{
            "ts": datetime.datetime(2025, 3, 1, 12, 34, 56), "d": datetime.date(2025, 3, 31),
            "amount": decimal.Decimal("1234.50"), "nothing": None,
            "b": {"responses": 3, "promoters": 2, "passives": 0, "detractors": 1,
                  "nps": 33.333333333333336},
        }])
        cur.execute("SET saasql.ltv_churn_floor = 0.25")
        cur.execute("SHOW saasql.ltv_churn_floor")
        check("adbc SET", cur.fetchall(), [("saasql.ltv_churn_floor", "0.25")])
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        tables = sorted(
            t["table_name"]
            for c in objects for s in c["catalog_db_schemas"] if s["db_schema_name"] == "public"
            for t in s["db_schema_tables"]
        )
        check("adbc tables", tables,
              ["customers", "events", "invoices", "subscriptions", "surveys", "tickets"])
        refused("adbc COPY … TO",
                lambda: cur.execute("COPY (SELECT 1) TO '/tmp/saasql-no.csv'"), "read-only")
        refused("adbc unknown function", lambda: cur.execute("SELECT no_such_function(1)"),
                "no_such_function")
        cur.execute("SELECT 42 AS answer")
        check("adbc after errors", cur.fetchall(), [(42,)])
        # Another login has its own settings.
        with flight(flight_port, password) as other:
            cur2 = other.cursor()
            cur2.execute("SHOW saasql.ltv_churn_floor")
            value = cur2.fetchall()[0][1]
            if value == "0.25":
                fail("adbc: a SET leaked into another session")
            print("ok adbc sessions are separate")

    if password:
        refused("psycopg wrong password", lambda: pg(pg_port, "wrong"),
                "Password authentication failed")
        refused("adbc wrong password",
                lambda: flight(flight_port, "wrong").cursor().execute("SELECT 1"),
                "wrong user name or password")
        refused("adbc without a password",
                lambda: flight(flight_port, None).cursor().execute("SELECT 1"),
                "log in")
    print("all ok")


def main_hang(flight_port):
    """Starts a query that runs for hours and waits to be killed."""
    conn = flight(flight_port, os.environ.get("SAASQL_SERVE_PASSWORD"))
    cur = conn.cursor()
    cur.execute("SELECT sum(value % 7) FROM range(1, 1000000000000)")
    print("started", flush=True)
    cur.fetchall()


if __name__ == "__main__":
    if sys.argv[1] == "check":
        main_check(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "hang":
        main_hang(int(sys.argv[2]))
    else:
        fail(f"unknown mode {sys.argv[1]}")
