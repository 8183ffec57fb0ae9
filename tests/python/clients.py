"""Python clients against a running `saasql serve`: psycopg over the Postgres
wire protocol and the ADBC Flight SQL driver over Arrow Flight SQL.

Run by `cargo test` (tests/cli.rs, `serve::python_clients_get_the_numbers_of_saasql_run`)
in a venv it makes from tests/python/requirements.txt:

    clients.py check PG_PORT FLIGHT_PORT EXPECTED_CSV   (password in $SAASQL_SERVE_PASSWORD)
    clients.py hang FLIGHT_PORT                         (starts a long query, never returns)
    clients.py tls PG_PORT FLIGHT_PORT CERT_PEM         (against serve --tls-cert CERT_PEM)

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


# What Metabase (0.5x) and pgjdbc send to sync a Postgres database's fields
# and keys (psycopg placeholders; `%%` is a literal `%`).
METABASE_FIELDS = """
SELECT "c"."column_name" AS "name",
  CASE WHEN "c"."udt_schema" IN ('public', 'pg_catalog') THEN FORMAT('%%s', "c"."udt_name")
       ELSE FORMAT('"%%s"."%%s"', "c"."udt_schema", "c"."udt_name") END AS "database-type",
  "c"."ordinal_position" - 1 AS "database-position", "c"."table_schema" AS "table-schema",
  "c"."table_name" AS "table-name", "pk"."column_name" IS NOT NULL AS "pk?",
  COL_DESCRIPTION(CAST(CAST(FORMAT('%%I.%%I', CAST("c"."table_schema" AS TEXT), CAST("c"."table_name" AS TEXT)) AS REGCLASS) AS OID),
                  "c"."ordinal_position") AS "field-comment",
  (("column_default" IS NULL) OR (LOWER("column_default") = 'null')) AND ("is_nullable" = 'NO')
    AND NOT ((("column_default" IS NOT NULL) AND ("column_default" LIKE '%%nextval(%%')) OR ("is_identity" <> 'NO')) AS "database-required",
  "column_default" AS "database-default",
  (("column_default" IS NOT NULL) AND ("column_default" LIKE '%%nextval(%%')) OR ("is_identity" <> 'NO') AS "database-is-auto-increment",
  "is_generated" = %s AS "database-is-generated", "is_nullable" = 'YES' AS "database-is-nullable"
FROM "information_schema"."columns" AS "c"
LEFT JOIN (SELECT "tc"."table_schema", "tc"."table_name", "kc"."column_name"
           FROM "information_schema"."table_constraints" AS "tc"
           INNER JOIN "information_schema"."key_column_usage" AS "kc"
             ON ("tc"."constraint_name" = "kc"."constraint_name") AND ("tc"."table_schema" = "kc"."table_schema")
            AND ("tc"."table_name" = "kc"."table_name")
           WHERE "tc"."constraint_type" = 'PRIMARY KEY') AS "pk"
  ON ("c"."table_schema" = "pk"."table_schema") AND ("c"."table_name" = "pk"."table_name")
 AND ("c"."column_name" = "pk"."column_name")
WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND ("c"."table_schema" IN (%s))
UNION ALL
SELECT "pa"."attname" AS "name",
  CASE WHEN "ptn"."nspname" IN ('public', 'pg_catalog') THEN FORMAT('%%s', "pt"."typname")
       ELSE FORMAT('"%%s"."%%s"', "ptn"."nspname", "pt"."typname") END AS "database-type",
  "pa"."attnum" - 1 AS "database-position", "pn"."nspname" AS "table-schema", "pc"."relname" AS "table-name",
  FALSE AS "pk?", NULL AS "field-comment", FALSE AS "database-required", NULL AS "database-default",
  FALSE AS "database-is-auto-increment", FALSE AS "database-is-generated", FALSE AS "database-is-nullable"
FROM "pg_catalog"."pg_class" AS "pc"
INNER JOIN "pg_catalog"."pg_namespace" AS "pn" ON "pn"."oid" = "pc"."relnamespace"
INNER JOIN "pg_catalog"."pg_attribute" AS "pa" ON "pa"."attrelid" = "pc"."oid"
INNER JOIN "pg_catalog"."pg_type" AS "pt" ON "pt"."oid" = "pa"."atttypid"
INNER JOIN "pg_catalog"."pg_namespace" AS "ptn" ON "ptn"."oid" = "pt"."typnamespace"
WHERE ("pc"."relkind" = 'm') AND ("pa"."attnum" >= 1) AND ("pn"."nspname" IN (%s))
ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC
"""
PGJDBC_PRIMARY_KEYS = """
SELECT result.TABLE_CAT AS "TABLE_CAT", result.TABLE_SCHEM AS "TABLE_SCHEM", result.TABLE_NAME AS "TABLE_NAME",
       result.COLUMN_NAME AS "COLUMN_NAME", result.KEY_SEQ AS "KEY_SEQ", result.PK_NAME AS "PK_NAME"
FROM (SELECT current_database() AS TABLE_CAT, n.nspname AS TABLE_SCHEM, ct.relname AS TABLE_NAME,
             a.attname AS COLUMN_NAME, (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ,
             ci.relname AS PK_NAME, information_schema._pg_expandarray(i.indkey) AS KEYS,
             a.attnum AS A_ATTNUM, i.indnkeyatts as KEY_COUNT
      FROM pg_catalog.pg_class ct JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)
      JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)
      JOIN pg_catalog.pg_index i ON (a.attrelid = i.indrelid)
      JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid)
      WHERE true AND n.nspname = %s AND ct.relname = %s AND i.indisprimary) result
WHERE result.A_ATTNUM = (result.KEYS).x AND result.KEY_SEQ <= KEY_COUNT
ORDER BY result.table_name, result.pk_name, result.key_seq
"""
METABASE_FOREIGN_KEYS = """
SELECT "fk_ns"."nspname" AS "fk-table-schema", "fk_table"."relname" AS "fk-table-name",
       "fk_column"."attname" AS "fk-column-name", "pk_ns"."nspname" AS "pk-table-schema",
       "pk_table"."relname" AS "pk-table-name", "pk_column"."attname" AS "pk-column-name"
FROM "pg_constraint" AS "c"
INNER JOIN "pg_class" AS "fk_table" ON "c"."conrelid" = "fk_table"."oid"
INNER JOIN "pg_namespace" AS "fk_ns" ON "c"."connamespace" = "fk_ns"."oid"
INNER JOIN "pg_attribute" AS "fk_column" ON "c"."conrelid" = "fk_column"."attrelid"
INNER JOIN "pg_class" AS "pk_table" ON "c"."confrelid" = "pk_table"."oid"
INNER JOIN "pg_namespace" AS "pk_ns" ON "pk_table"."relnamespace" = "pk_ns"."oid"
INNER JOIN "pg_attribute" AS "pk_column" ON "c"."confrelid" = "pk_column"."attrelid"
WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND ("c"."contype" = 'f'::char)
  AND ("fk_column"."attnum" = ANY(c.conkey)) AND ("pk_column"."attnum" = ANY(c.confkey))
  AND ("fk_ns"."nspname" IN (%s))
ORDER BY "fk-table-schema" ASC, "fk-table-name" ASC
"""


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
        # Metabase's field sync, as Metabase sends it (server-side parameters):
        # information_schema.columns with Postgres' columns and key tables,
        # format(), col_description(); pgjdbc's getPrimaryKeys; foreign keys.
        fields = conn.execute(METABASE_FIELDS, ("ALWAYS", "public", "public")).fetchall()
        customers = [(f[0], f[1], f[2]) for f in fields if f[4] == "customers"]
        check("metabase fields", customers, [
            ("customer_id", "int8", 0), ("name", "text", 1), ("segment", "text", 2),
            ("plan", "text", 3), ("country", "text", 4), ("signed_up_at", "timestamptz", 5),
        ])
        # The tables, and the repository project's models (views).
        check("metabase field tables", sorted({f[4] for f in fields}),
              ["customer_lifetimes", "customers", "events", "fx_rates", "invoices", "mrr_by_month",
               "report_months", "subscription_items", "subscriptions", "surveys", "tickets"])
        check("pgjdbc primary keys", conn.execute(PGJDBC_PRIMARY_KEYS, ("public", "customers")).fetchall(), [])
        check("metabase foreign keys", conn.execute(METABASE_FOREIGN_KEYS, ("public",)).fetchall(), [])
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
        # The tables and the repository project's models (views).
        check("adbc tables", tables,
              ["customer_lifetimes", "customers", "events", "fx_rates", "invoices", "mrr_by_month",
               "report_months", "subscription_items", "subscriptions", "surveys", "tickets"])
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

    # SQLAlchemy 2 (Superset's and notebooks' dialect) over psycopg2: the
    # inspector's catalog queries, and pandas on top.
    import pandas
    import sqlalchemy

    url = f"postgresql+psycopg2://saasql:{password or ''}@127.0.0.1:{pg_port}/saasql"
    engine = sqlalchemy.create_engine(url)
    inspector = sqlalchemy.inspect(engine)
    check("sqlalchemy schemas", inspector.get_schema_names(), ["public"])
    check("sqlalchemy tables", sorted(inspector.get_table_names()),
          ["customers", "events", "fx_rates", "invoices", "subscription_items", "subscriptions",
           "surveys", "tickets"])
    check("sqlalchemy views (the models)", sorted(inspector.get_view_names()),
          ["customer_lifetimes", "mrr_by_month", "report_months"])
    columns = inspector.get_columns("customers")
    check("sqlalchemy columns", [(c["name"], str(c["type"]), c["nullable"]) for c in columns], [
        ("customer_id", "BIGINT", False), ("name", "TEXT", False), ("segment", "TEXT", False),
        ("plan", "TEXT", False), ("country", "TEXT", False),
        ("signed_up_at", "TIMESTAMP", False),
    ])
    check("sqlalchemy view columns", [c["name"] for c in inspector.get_columns("mrr_by_month")],
          ["month", "customer_id", "mrr"])
    check("sqlalchemy primary key", inspector.get_pk_constraint("customers")["constrained_columns"], [])
    check("sqlalchemy foreign keys", inspector.get_foreign_keys("customers"), [])
    check("sqlalchemy indexes", inspector.get_indexes("customers"), [])
    definition = inspector.get_view_definition("mrr_by_month")
    if "to_mrr(" not in definition:
        fail(f"sqlalchemy view definition: {definition!r}")
    print("ok sqlalchemy view definition")
    frame = pandas.read_sql(sqlalchemy.text(overview), engine)
    check("pandas read_sql", [tuple(str(v) for v in r) for r in frame.itertuples(index=False)], expected)
    frame = pandas.read_sql_table("mrr_by_month", engine)
    check("pandas read_sql_table (a model)", list(frame.columns), ["month", "customer_id", "mrr"])
    engine.dispose()

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


def main_tls(pg_port, flight_port, cert):
    """Against `serve --tls-cert CERT`: both clients verify the server's
    certificate; plain connections are refused; psycopg binds SCRAM to the
    TLS channel (channel_binding=require)."""
    password = os.environ["SAASQL_SERVE_PASSWORD"]
    with open(cert) as f:
        roots = f.read()
    tls = {"username": "analyst", "password": password,
           "adbc.flight.sql.client_option.tls_root_certs": roots}
    with flight_sql.connect(f"grpc+tls://127.0.0.1:{flight_port}", db_kwargs=tls) as conn:
        cur = conn.cursor()
        cur.execute("SELECT 40 + 2 AS x")
        check("flight over TLS", cur.fetchall(), [(42,)])
        cur.close()
    refused("flight without TLS",
            lambda: flight(flight_port, password).cursor().execute("SELECT 1"),
            "")
    secure = dict(host="127.0.0.1", port=pg_port, user="saasql", dbname="saasql",
                  password=password, connect_timeout=20, sslrootcert=cert)
    with psycopg.connect(sslmode="verify-full", channel_binding="require", **secure) as conn:
        check("psycopg over TLS", conn.execute("SELECT 40 + 2").fetchall(), [(42,)])
        check("psycopg TLS in use", conn.pgconn.ssl_in_use, True)
    refused("psycopg without TLS",
            lambda: psycopg.connect(sslmode="disable", **secure),
            "TLS connections only")
    refused("psycopg over TLS, wrong password",
            lambda: psycopg.connect(sslmode="verify-full",
                                    **{**secure, "password": password + "x"}),
            "Password authentication failed")
    print("all ok")


if __name__ == "__main__":
    if sys.argv[1] == "check":
        main_check(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "hang":
        main_hang(int(sys.argv[2]))
    elif sys.argv[1] == "tls":
        main_tls(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        fail(f"unknown mode {sys.argv[1]}")
