// A JDBC client of `pslake serve`, as Tableau, Power BI-style tools and DBeaver connect: the
// PostgreSQL JDBC driver's DatabaseMetaData, then a query. Compiled and run by
// crates/pslake-cli/tests/it/serve.rs with Debian's libpostgresql-jdbc-java on the classpath.
//
//   java -cp /usr/share/java/postgresql.jar:DIR ServeJdbc PORT USER   (password in PGPASSWORD)
import java.sql.*;

public class ServeJdbc {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/pslake?sslmode=disable";
        try (Connection c = DriverManager.getConnection(url, args[1], System.getenv("PGPASSWORD"))) {
            DatabaseMetaData md = c.getMetaData();
            StringBuilder schemas = new StringBuilder();
            try (ResultSet rs = md.getSchemas()) {
                while (rs.next()) schemas.append(rs.getString("TABLE_SCHEM")).append(',');
            }
            System.out.println("schemas=" + schemas);
            StringBuilder tables = new StringBuilder();
            try (ResultSet rs = md.getTables(null, "canonical", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.append(rs.getString("TABLE_NAME")).append(',');
            }
            System.out.println("tables=" + tables);
            StringBuilder cols = new StringBuilder();
            try (ResultSet rs = md.getColumns(null, "canonical", "bookings", "%")) {
                while (rs.next()) cols.append(rs.getString("COLUMN_NAME")).append(':').append(rs.getString("TYPE_NAME"))
                    .append('(').append(rs.getInt("COLUMN_SIZE")).append(',').append(rs.getInt("DECIMAL_DIGITS")).append(')').append(',');
            }
            System.out.println("columns=" + cols);
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery(
                     "SELECT practice, count(*) AS n, sum(amount_usd) AS usd FROM canonical.bookings GROUP BY practice ORDER BY practice")) {
                ResultSetMetaData rmd = rs.getMetaData();
                System.out.println("usd_type=" + rmd.getColumnTypeName(3));
                while (rs.next()) {
                    System.out.println("row=" + rs.getString(1) + "|" + rs.getLong(2) + "|" + (rs.getBigDecimal(3) == null ? "null" : rs.getBigDecimal(3).toPlainString()));
                }
            }
        }
    }
}
