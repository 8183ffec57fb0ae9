//! What BI tools read from the catalog beyond datafusion-pg-catalog's
//! `pg_catalog`, so that Metabase's field sync and JDBC's
//! `DatabaseMetaData` work:
//!
//! - `information_schema.columns` with Postgres' columns (`udt_name`,
//!   `udt_schema`, `is_identity`, `is_generated`), type names (`int8`,
//!   `bigint`) and 1-based `ordinal_position`, and the constraint tables `information_schema.
//!   table_constraints` and `key_column_usage` (empty: saasql tables have no
//!   keys). DataFusion's own `information_schema` cannot take tables, so
//!   these are views in the hidden schema [`SCHEMA`] and a statement's
//!   references to the three are pointed there.
//! - `format()`, `col_description()` and `obj_description()`.
//! - Empty answers, of the columns the client expects, to two queries
//!   DataFusion cannot plan and whose answer is known to be empty because
//!   saasql tables have no keys: pgjdbc's `getPrimaryKeys`
//!   (`information_schema._pg_expandarray`) and Metabase's foreign keys
//!   (`= ANY(pg_constraint.conkey)`).

use std::ops::ControlFlow;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::{Result as DFResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlDataType, Expr, Ident, ObjectName, ObjectNamePart, Statement, Value,
    visit_expressions_mut,
};

/// The hidden schema of the views (`pg_`-prefixed, so psql's `\dn` and
/// Metabase skip it).
pub const SCHEMA: &str = "pg_saasql";

/// The `information_schema` tables [`SCHEMA`] replaces.
const REPLACED: [&str; 3] = ["columns", "table_constraints", "key_column_usage"];

/// Registers the views and functions on the server's base session.
pub async fn setup(ctx: &SessionContext) -> DFResult<()> {
    let catalog_name = ctx
        .state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone();
    if let Some(catalog) = ctx.catalog(&catalog_name) {
        catalog.register_schema(SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    }
    ctx.register_udf(ScalarUDF::from(PgTypeName::new(
        "saasql_pg_udt_name",
        false,
    )));
    ctx.register_udf(ScalarUDF::from(PgTypeName::new(
        "saasql_pg_data_type",
        true,
    )));
    ctx.register_udf(ScalarUDF::from(Format::default()));
    for name in ["col_description", "obj_description"] {
        ctx.register_udf(ScalarUDF::from(NoDescription::new(name)));
    }
    let views = [
        format!(
            "CREATE VIEW {SCHEMA}.columns AS SELECT table_catalog, table_schema, table_name, \
             column_name, ordinal_position + 1 AS ordinal_position, column_default, is_nullable, \
             saasql_pg_data_type(data_type) AS data_type, character_maximum_length, \
             character_octet_length, numeric_precision, numeric_precision_radix, numeric_scale, \
             datetime_precision, table_catalog AS udt_catalog, 'pg_catalog' AS udt_schema, \
             saasql_pg_udt_name(data_type) AS udt_name, 'NO' AS is_identity, \
             'NEVER' AS is_generated, 'NO' AS is_updatable \
             FROM information_schema.columns"
        ),
        format!(
            "CREATE VIEW {SCHEMA}.table_constraints AS SELECT \
             CAST(NULL AS VARCHAR) AS constraint_catalog, CAST(NULL AS VARCHAR) AS constraint_schema, \
             CAST(NULL AS VARCHAR) AS constraint_name, CAST(NULL AS VARCHAR) AS table_catalog, \
             CAST(NULL AS VARCHAR) AS table_schema, CAST(NULL AS VARCHAR) AS table_name, \
             CAST(NULL AS VARCHAR) AS constraint_type, CAST(NULL AS VARCHAR) AS is_deferrable, \
             CAST(NULL AS VARCHAR) AS initially_deferred, CAST(NULL AS VARCHAR) AS enforced \
             WHERE false"
        ),
        format!(
            "CREATE VIEW {SCHEMA}.key_column_usage AS SELECT \
             CAST(NULL AS VARCHAR) AS constraint_catalog, CAST(NULL AS VARCHAR) AS constraint_schema, \
             CAST(NULL AS VARCHAR) AS constraint_name, CAST(NULL AS VARCHAR) AS table_catalog, \
             CAST(NULL AS VARCHAR) AS table_schema, CAST(NULL AS VARCHAR) AS table_name, \
             CAST(NULL AS VARCHAR) AS column_name, CAST(NULL AS INT) AS ordinal_position, \
             CAST(NULL AS INT) AS position_in_unique_constraint \
             WHERE false"
        ),
    ];
    for view in views {
        ctx.sql(&view).await?.collect().await?;
    }
    Ok(())
}

/// Points a statement's references to the replaced `information_schema`
/// tables at [`SCHEMA`], and makes `col_description(…)` and
/// `obj_description(…)` plain NULLs (saasql tables carry no comments), so
/// their arguments, such as Metabase's `CAST(format(…) AS REGCLASS)` of a
/// column, are not evaluated.
pub fn redirect(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Expr::Function(f) = expr
            && let Some(ObjectNamePart::Identifier(name)) = f.name.0.last()
            && matches!(
                name.value.to_ascii_lowercase().as_str(),
                "col_description" | "obj_description"
            )
        {
            *expr = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(Expr::Value(Value::Null.into())),
                data_type: SqlDataType::Text,
                array: false,
                format: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
    let _ =
        datafusion::sql::sqlparser::ast::visit_relations_mut(statement, |name: &mut ObjectName| {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| match p {
                    ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
                    _ => None,
                })
                .collect();
            if let [.., schema, table] = parts.as_slice()
                && schema == "information_schema"
                && REPLACED.contains(&table.as_str())
            {
                *name = ObjectName::from(vec![Ident::new(SCHEMA), Ident::new(table.clone())]);
            }
            ControlFlow::<()>::Continue(())
        });
}

/// The highest `$n` in `sql`.
fn parameter_count(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut max = 0;
    for (i, _) in sql.match_indices('$') {
        let digits: String = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        if let Ok(n) = digits.parse::<usize>() {
            max = max.max(n);
        }
    }
    max
}

/// An empty result with `columns` (`name TYPE`), taking the same `$n`
/// parameters as `sql`.
fn empty_answer(sql: &str, columns: &[&str]) -> String {
    let select: Vec<String> = columns
        .iter()
        .map(|c| {
            let (name, ty) = c.split_once(' ').expect("name TYPE");
            format!("CAST(NULL AS {ty}) AS \"{name}\"")
        })
        .collect();
    let params: String = (1..=parameter_count(sql))
        .map(|n| format!(" AND CAST(${n} AS VARCHAR) IS NULL"))
        .collect();
    format!("SELECT {} WHERE false{params}", select.join(", "))
}

/// The empty answer to a key query DataFusion cannot plan, if `sql` is one.
pub fn canned(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    if lower.contains("_pg_expandarray(i.indkey)") && lower.contains("indisprimary") {
        // pgjdbc's DatabaseMetaData.getPrimaryKeys.
        return Some(empty_answer(
            sql,
            &[
                "TABLE_CAT VARCHAR",
                "TABLE_SCHEM VARCHAR",
                "TABLE_NAME VARCHAR",
                "COLUMN_NAME VARCHAR",
                "KEY_SEQ SMALLINT",
                "PK_NAME VARCHAR",
            ],
        ));
    }
    if lower.contains("any(c.conkey)") && lower.contains("fk-table-schema") {
        // Metabase's foreign keys.
        return Some(empty_answer(
            sql,
            &[
                "fk-table-schema VARCHAR",
                "fk-table-name VARCHAR",
                "fk-column-name VARCHAR",
                "pk-table-schema VARCHAR",
                "pk-table-name VARCHAR",
                "pk-column-name VARCHAR",
            ],
        ));
    }
    None
}

/// Postgres' name of a column's type from DataFusion's `data_type` text
/// (`Int64` → `int8`, or with `sql_name` → `bigint`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeName {
    name: &'static str,
    sql_name: bool,
    signature: Signature,
}

impl PgTypeName {
    fn new(name: &'static str, sql_name: bool) -> Self {
        Self {
            name,
            sql_name,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

fn pg_type_name(arrow: &str, sql_name: bool) -> &'static str {
    let Ok(data_type) = DataType::from_str(arrow) else {
        return if sql_name { "USER-DEFINED" } else { "text" };
    };
    let udt = match arrow_pg::datatypes::into_pg_type(&data_type) {
        Ok(t) => match t.name() {
            "int2" => "int2",
            "int4" => "int4",
            "int8" => "int8",
            "float4" => "float4",
            "float8" => "float8",
            "bool" => "bool",
            "date" => "date",
            "time" => "time",
            "timestamp" => "timestamp",
            "timestamptz" => "timestamptz",
            "numeric" => "numeric",
            "bytea" => "bytea",
            "interval" => "interval",
            "char" => "char",
            "varchar" | "text" => "text",
            _ if matches!(data_type, DataType::List(_) | DataType::LargeList(_)) => "_text",
            _ => "text",
        },
        Err(_) => "text",
    };
    if !sql_name {
        return udt;
    }
    match udt {
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "bool" => "boolean",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        "time" => "time without time zone",
        "char" => "character",
        "_text" => "ARRAY",
        other => other,
    }
}

impl ScalarUDFImpl for PgTypeName {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DFResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = cast(&arrays[0], &DataType::Utf8)?;
        let texts = texts
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8");
        let out: StringArray = texts
            .iter()
            .map(|t| t.map(|t| pg_type_name(t, self.sql_name)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `col_description(oid, column)` and `obj_description(oid [, catalog])`:
/// NULL, as saasql tables carry no comments.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NoDescription {
    name: &'static str,
    signature: Signature,
}

impl NoDescription {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for NoDescription {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DFResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(
            datafusion::common::ScalarValue::Utf8(None),
        ))
    }
}

/// Postgres' `format(template, args…)`: `%s` (the value as text, NULL as
/// nothing), `%I` (a quoted identifier where it needs quotes), `%L` (a
/// quoted literal, NULL as `NULL`) and `%%`. A NULL template gives NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Format {
    signature: Signature,
}

impl Default for Format {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

fn format_one(template: &str, values: &[Option<&str>]) -> DFResult<String> {
    let mut out = String::with_capacity(template.len());
    let mut next = 0;
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = chars.next();
        if spec == Some('%') {
            out.push('%');
            continue;
        }
        let Some(value) = values.get(next) else {
            return exec_err!("format: too few arguments for the template '{template}'");
        };
        next += 1;
        match spec {
            Some('s') => out.push_str(value.unwrap_or("")),
            Some('I') => match value {
                Some(v) => out.push_str(&quote_ident(v)),
                None => {
                    return exec_err!("format: a NULL value cannot be an identifier (%I)");
                }
            },
            Some('L') => match value {
                Some(v) => out.push_str(&format!("'{}'", v.replace('\'', "''"))),
                None => out.push_str("NULL"),
            },
            other => {
                return exec_err!(
                    "format: '%{}' is not supported; use %s, %I, %L or %%",
                    other.map(String::from).unwrap_or_default()
                );
            }
        }
    }
    Ok(out)
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DFResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let scalars = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args)?
            .iter()
            .map(|a| cast(a, &DataType::Utf8))
            .collect::<Result<_, _>>()?;
        let texts: Vec<&StringArray> = arrays
            .iter()
            .map(|a| {
                a.as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8")
            })
            .collect();
        let Some((template, values)) = texts.split_first() else {
            return exec_err!("format: needs a template");
        };
        let mut out = StringBuilder::new();
        for row in 0..template.len() {
            if template.is_null(row) {
                out.append_null();
                continue;
            }
            let vals: Vec<Option<&str>> = values
                .iter()
                .map(|v| (!v.is_null(row)).then(|| v.value(row)))
                .collect();
            out.append_value(format_one(template.value(row), &vals)?);
        }
        let out: ArrayRef = Arc::new(out.finish());
        if scalars {
            return Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ));
        }
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_specifiers() {
        assert_eq!(
            format_one("%I.%I", &[Some("public"), Some("Customers")]).unwrap(),
            "public.\"Customers\""
        );
        assert_eq!(
            format_one(
                "\"%s\".\"%s\" %L %L 100%%",
                &[Some("a"), None, Some("it's"), None]
            )
            .unwrap(),
            "\"a\".\"\" 'it''s' NULL 100%"
        );
        assert!(format_one("%s %s", &[Some("a")]).is_err());
        assert!(format_one("%x", &[Some("a")]).is_err());
    }

    #[test]
    fn type_names() {
        assert_eq!(pg_type_name("Int64", false), "int8");
        assert_eq!(pg_type_name("Int64", true), "bigint");
        assert_eq!(pg_type_name("Utf8View", false), "text");
        assert_eq!(pg_type_name("Float64", true), "double precision");
        assert_eq!(pg_type_name("Date32", false), "date");
    }

    #[test]
    fn key_queries_get_empty_answers_with_their_parameters() {
        let pk = "SELECT x FROM (SELECT (information_schema._pg_expandarray(i.indkey)).n AS k \
                  FROM pg_catalog.pg_index i WHERE n.nspname = $1 AND ct.relname = $2 AND i.indisprimary) r";
        let answer = canned(pk).unwrap();
        assert!(answer.contains("AS \"KEY_SEQ\""), "{answer}");
        assert!(answer.ends_with(
            "WHERE false AND CAST($1 AS VARCHAR) IS NULL AND CAST($2 AS VARCHAR) IS NULL"
        ));
        assert_eq!(canned("SELECT 1"), None);
        assert_eq!(parameter_count("a $1 b $12 c $"), 12);
    }
}
