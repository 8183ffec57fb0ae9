// The PostgreSQL JDBC driver (pgjdbc, what DBeaver, DataGrip, Tableau and
// Metabase use) against `saasql serve`: DatabaseMetaData lists the tables,
// the project's models as views with their descriptions, their columns and
// the saasql functions; a report gives the numbers of `saasql run`.
//
//   java -cp /usr/share/java/postgresql.jar tests/java/JdbcClient.java PORT EXPECTED_CSV
//
// The password comes from SAASQL_SERVE_PASSWORD. Prints "ok …" per check and
// exits 1 at the first failure.
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class JdbcClient {
    static void check(String name, Object got, Object expected) {
        if (!got.equals(expected)) {
            System.out.println("FAIL " + name + ": got " + got + ", expected " + expected);
            System.exit(1);
        }
        System.out.println("ok " + name);
    }

    static List<String> column(ResultSet rs, String name) throws Exception {
        List<String> out = new ArrayList<>();
        while (rs.next()) {
            out.add(rs.getString(name));
        }
        rs.close();
        return out;
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/saasql";
        Properties props = new Properties();
        props.setProperty("user", "saasql");
        String password = System.getenv("SAASQL_SERVE_PASSWORD");
        if (password != null) {
            props.setProperty("password", password);
        }
        List<String> expected = Files.readAllLines(Path.of(args[1]));
        try (Connection conn = DriverManager.getConnection(url, props)) {
            DatabaseMetaData meta = conn.getMetaData();
            check("jdbc tables",
                column(meta.getTables(null, "public", "%", new String[] {"TABLE"}), "TABLE_NAME"),
                List.of("customers", "events", "fx_rates", "invoices", "subscription_items",
                    "subscriptions", "surveys", "tickets"));
            ResultSet views = meta.getTables(null, "public", "%", new String[] {"VIEW"});
            List<String> names = new ArrayList<>();
            String remarks = null;
            while (views.next()) {
                names.add(views.getString("TABLE_NAME"));
                if (views.getString("TABLE_NAME").equals("report_months")) {
                    remarks = views.getString("REMARKS");
                }
            }
            views.close();
            check("jdbc views (the models)", names,
                List.of("customer_lifetimes", "mrr_by_month", "report_months"));
            check("jdbc view description",
                remarks != null && remarks.startsWith("The reporting window: every calendar month"), true);
            check("jdbc view columns",
                column(meta.getColumns(null, "public", "mrr_by_month", "%"), "COLUMN_NAME"),
                List.of("month", "customer_id", "mrr"));
            check("jdbc primary keys",
                column(meta.getPrimaryKeys(null, "public", "customers"), "COLUMN_NAME"), List.of());
            // getFunctions lists functions, not aggregates (as on Postgres).
            check("jdbc functions",
                column(meta.getFunctions(null, "public", "engagement%"), "FUNCTION_NAME"),
                List.of("engagement_tier", "engagement_weight"));
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery(Files.readString(Path.of("sql/overview.sql")))) {
                List<String> rows = new ArrayList<>();
                while (rs.next()) {
                    rows.add(rs.getString(1) + "," + rs.getString(2));
                }
                check("jdbc overview", rows, expected.subList(1, expected.size()));
            }
        }
        System.out.println("all ok");
    }
}
