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
//! - Empty answers, of the columns the client expects, to queries
//!   DataFusion cannot plan and whose answer is known to be empty because
//!   saasql tables have no keys or indexes: pgjdbc's `getPrimaryKeys`
//!   (`information_schema._pg_expandarray`), Metabase's foreign keys
//!   (`= ANY(pg_constraint.conkey)`) and SQLAlchemy's primary key, unique
//!   constraint and index queries (`unnest(pg_index.indkey)`).
//! - The saasql functions as `pg_proc` rows (psql's `\df nps`), with
//!   `pg_get_function_arguments`, `pg_get_function_result` and their
//!   descriptions from `obj_description`; views' SQL from `pg_get_viewdef`
//!   and a model's description (its leading comment) from `obj_description`.
//! - Functions psql and SQLAlchemy call that have a fixed answer here
//!   (`pg_function_is_visible`, `pg_get_serial_sequence`, …), a
//!   `pg_table_is_visible` that hides [`SCHEMA`], and rewrites of what
//!   DataFusion cannot plan in SQLAlchemy's `get_columns` (scalar subqueries
//!   on column defaults, identities and collations, which saasql tables do
//!   not have) and `get_schema_names` (`LIKE … ESCAPE '/'`).

use std::ops::ControlFlow;
use std::str::FromStr;
use std::sync::Arc;

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::{Result as DFResult, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlDataType, Expr, Ident, ObjectName, ObjectNamePart, Statement, Value,
    visit_expressions_mut,
};

/// The hidden schema of the views (`pg_`-prefixed, so psql's `\dn` and
/// Metabase skip it).
pub const SCHEMA: &str = "pg_saasql";

/// The `pg_catalog` tables [`SCHEMA`] extends (with saasql's functions and
/// descriptions).
const EXTENDED: [&str; 2] = ["pg_proc", "pg_description"];

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
    for name in [
        "pg_function_is_visible",
        "pg_type_is_visible",
        "pg_collation_is_visible",
        "pg_opclass_is_visible",
        "pg_opfamily_is_visible",
    ] {
        ctx.register_udf(ScalarUDF::from(Constant::new(
            name,
            ScalarValue::Boolean(Some(true)),
        )));
    }
    for name in [
        "pg_get_ruledef",
        "pg_get_indexdef",
        "pg_get_serial_sequence",
        "pg_get_function_sqlbody",
    ] {
        ctx.register_udf(ScalarUDF::from(Constant::new(
            name,
            ScalarValue::Utf8(None),
        )));
    }
    ctx.register_udf(ScalarUDF::from(SizePretty::default()));
    // Relations' sizes: unknown (files may be remote, or many).
    ctx.register_udf(ScalarUDF::from(Constant::new(
        "pg_table_size",
        ScalarValue::Int64(None),
    )));
    // The catalog queries below run here, also when queries go to a
    // cluster (whose plans cannot carry pg_catalog's in-memory tables); the
    // catalogs are the same.
    let state = ctx.state();
    let mut local = SessionContext::new_with_state(
        datafusion::execution::SessionStateBuilder::new()
            .with_config(state.config().clone())
            .with_runtime_env(Arc::clone(state.runtime_env()))
            .with_catalog_list(Arc::clone(state.catalog_list()))
            .with_default_features()
            .build(),
    );
    // information_schema.routines lists the session's functions.
    saasql::register_all(&mut local)?;
    setup_functions(ctx, &local).await?;
    setup_views(ctx, &local).await?;
    setup_descriptions(&local).await?;
    // Last, when every relation of the hidden schema exists.
    let hidden = oid_texts(
        &local,
        &format!(
            "SELECT c.oid, c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{SCHEMA}'"
        ),
    )
    .await?;
    ctx.register_udf(ScalarUDF::from(TableVisible {
        hidden: hidden.into_iter().map(|(oid, _, _)| oid).collect(),
        signature: Signature::variadic_any(Volatility::Stable),
    }));
    Ok(())
}

/// `pg_saasql.pg_description` (what `pg_catalog.pg_description` is pointed
/// at): its own rows and the views' and functions' descriptions, which
/// pgjdbc's `getTables` (`REMARKS`) and SQLAlchemy's `get_table_comment`
/// read.
async fn setup_descriptions(ctx: &SessionContext) -> DFResult<()> {
    let rows: Vec<String> = DESCRIPTIONS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(oid, text)| {
            let class = if *oid >= FIRST_FUNCTION_OID {
                PG_PROC_OID
            } else {
                PG_CLASS_OID
            };
            format!("({oid}, {class}, '{}')", text.replace('\'', "''"))
        })
        .collect();
    let schema = ctx
        .table("pg_catalog.pg_description")
        .await?
        .schema()
        .clone();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| {
            let value = match field.name().as_str() {
                "objoid" => "d.objoid",
                "classoid" => "d.classoid",
                "objsubid" => "0",
                "description" => "d.description",
                _ => "NULL",
            };
            format!(
                "arrow_cast({value}, '{}') AS \"{}\"",
                field.data_type(),
                field.name()
            )
        })
        .collect();
    let ours = if rows.is_empty() {
        String::new()
    } else {
        format!(
            " UNION ALL SELECT {} FROM (VALUES {}) AS d(objoid, classoid, description)",
            columns.join(", "),
            rows.join(", ")
        )
    };
    ctx.sql(&format!(
        "CREATE VIEW {SCHEMA}.pg_description AS SELECT * FROM pg_catalog.pg_description{ours}"
    ))
    .await?
    .collect()
    .await?;
    Ok(())
}

/// The first column of `sql`'s rows as `(oid, text)` pairs.
async fn oid_texts(
    ctx: &SessionContext,
    sql: &str,
) -> DFResult<Vec<(i64, String, Option<String>)>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut out = vec![];
    for batch in batches {
        let oids = cast(batch.column(0), &DataType::Int64)?;
        let oids = oids.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let names = cast(batch.column(1), &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let extra = if batch.num_columns() > 2 {
            Some(cast(batch.column(2), &DataType::Utf8)?)
        } else {
            None
        };
        for i in 0..batch.num_rows() {
            if oids.is_null(i) || names.is_null(i) {
                continue;
            }
            let third = extra
                .as_ref()
                .map(|e| e.as_string::<i32>())
                .filter(|e| !e.is_null(i))
                .map(|e| e.value(i).to_string());
            out.push((oids.value(i), names.value(i).to_string(), third));
        }
    }
    Ok(out)
}

/// `pg_table_is_visible`, `pg_get_viewdef` and the views' descriptions:
/// from `pg_class` (which fixes each relation's oid for the server's life)
/// and `information_schema.views`.
async fn setup_views(ctx: &SessionContext, local: &SessionContext) -> DFResult<()> {
    let views = oid_texts(
        local,
        "SELECT c.oid, v.definition FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN information_schema.views v ON v.table_name = c.relname AND v.table_schema = n.nspname \
         WHERE n.nspname <> 'information_schema'",
    )
    .await
    .unwrap_or_default();
    let mut definitions = HashMap::new();
    let mut descriptions = DESCRIPTIONS.write().unwrap_or_else(|e| e.into_inner());
    for (oid, definition, _) in views {
        if let Some(description) = saasql::models::description(&definition) {
            descriptions.insert(oid, description);
        }
        definitions.insert(oid, definition);
    }
    ctx.register_udf(ScalarUDF::from(OidText::new("pg_get_viewdef", definitions)));
    ctx.register_udf(ScalarUDF::from(Description::new("obj_description")));
    Ok(())
}

/// Descriptions by oid: views' (their leading comment) and the saasql
/// functions' (their documentation's first sentence).
static DESCRIPTIONS: std::sync::LazyLock<std::sync::RwLock<HashMap<i64, String>>> =
    std::sync::LazyLock::new(Default::default);

/// Postgres' oids of `pg_class` and `pg_proc`, the `classoid` of
/// descriptions of relations and functions.
const PG_CLASS_OID: i64 = 1259;
const PG_PROC_OID: i64 = 1255;

/// The first oid of the saasql functions' `pg_proc` rows.
const FIRST_FUNCTION_OID: i64 = 900_000;

/// `pg_saasql.pg_proc`: `pg_catalog.pg_proc` and a row per saasql function
/// (what `pg_catalog.pg_proc` is pointed at), with the functions' arguments,
/// results and descriptions for `\df`.
async fn setup_functions(ctx: &SessionContext, local: &SessionContext) -> DFResult<()> {
    let public = oid_texts(
        local,
        "SELECT oid, nspname FROM pg_catalog.pg_namespace WHERE nspname = 'public'",
    )
    .await?
    .first()
    .map(|(oid, _, _)| *oid)
    .unwrap_or(2200);
    let returns = oid_texts(
        local,
        "SELECT 0, routine_name, data_type FROM information_schema.routines \
         WHERE data_type IS NOT NULL",
    )
    .await?;
    let mut arguments = HashMap::new();
    let mut results = HashMap::new();
    let mut rows = vec![];
    let mut descriptions = HashMap::new();
    for (i, f) in saasql::functions::all_functions().iter().enumerate() {
        let oid = FIRST_FUNCTION_OID + i as i64;
        let syntax = &f.doc.syntax_example;
        let args = syntax
            .split_once('(')
            .map(|(_, rest)| rest.trim_end().trim_end_matches(')').to_string())
            .unwrap_or_default();
        let result = returns
            .iter()
            .find(|(_, name, _)| name == &f.name)
            .and_then(|(_, _, t)| t.clone())
            .map(|t| match t.as_str() {
                "String" | "Utf8" | "Utf8View" | "LargeUtf8" => "text".to_string(),
                other => pg_type_name(other, true).to_string(),
            })
            .unwrap_or_else(|| "text".into());
        let kind = match f.kind {
            saasql::hooks::FunctionKind::Aggregate => "a",
            saasql::hooks::FunctionKind::Window => "w",
            _ => "f",
        };
        let first_sentence = f
            .doc
            .description
            .split_inclusive(". ")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        descriptions.insert(oid, first_sentence);
        arguments.insert(oid, args);
        results.insert(oid, result);
        rows.push((oid, f.name.clone(), kind));
    }
    DESCRIPTIONS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .extend(descriptions);
    ctx.register_udf(ScalarUDF::from(OidText::new(
        "pg_get_function_arguments",
        arguments,
    )));
    ctx.register_udf(ScalarUDF::from(OidText::new(
        "pg_get_function_result",
        results,
    )));
    // The view: pg_proc's own rows, then the functions', column by column
    // in pg_proc's types.
    let schema = local.table("pg_catalog.pg_proc").await?.schema().clone();
    let values: Vec<String> = rows
        .iter()
        .map(|(oid, name, kind)| format!("({oid}, '{name}', '{kind}')"))
        .collect();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| {
            let value = match field.name().as_str() {
                "oid" => "f.oid".to_string(),
                "proname" => "f.proname".to_string(),
                "prokind" => "f.prokind".to_string(),
                "pronamespace" => public.to_string(),
                "prolang" => "12".to_string(),
                "provolatile" => "'i'".to_string(),
                "proparallel" => "'s'".to_string(),
                "prosecdef" | "proleakproof" | "proisstrict" | "proretset" => "false".to_string(),
                _ => "NULL".to_string(),
            };
            format!(
                "arrow_cast({value}, '{}') AS \"{}\"",
                field.data_type(),
                field.name()
            )
        })
        .collect();
    local
        .sql(&format!(
            "CREATE VIEW {SCHEMA}.pg_proc AS SELECT * FROM pg_catalog.pg_proc UNION ALL \
         SELECT {} FROM (VALUES {}) AS f(oid, proname, prokind)",
            columns.join(", "),
            values.join(", ")
        ))
        .await?
        .collect()
        .await?;
    Ok(())
}

/// Points a statement's references to the replaced `information_schema`
/// tables at [`SCHEMA`], and makes `col_description(…)` and
/// `obj_description(…)` plain NULLs (saasql tables carry no comments), so
/// their arguments, such as Metabase's `CAST(format(…) AS REGCLASS)` of a
/// column, are not evaluated.
pub fn redirect(statement: &mut Statement) {
    // The catalog rewrites below apply to catalog queries only: a
    // statement that reads a pg_catalog table.
    let catalog_query = reads_pg_catalog(statement);
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        if !catalog_query {
            return ControlFlow::<()>::Continue(());
        }
        if let Expr::Function(f) = expr
            && let Some(ObjectNamePart::Identifier(name)) = f.name.0.last()
        {
            let name = name.value.to_ascii_lowercase();
            // obj_description(c.oid [, 'pg_class']) answers from the oid;
            // other arguments (Metabase's `CAST(format(…) AS REGCLASS)`)
            // cannot be planned, and col_description has nothing to say:
            // a NULL, named after the call so that two in one SELECT list
            // stay distinct.
            let plain_oid = name == "obj_description" && first_arg_is_column(f);
            if (name == "col_description" || name == "obj_description") && !plain_oid {
                *expr = Expr::Function(datafusion::sql::sqlparser::ast::Function {
                    name: ObjectName::from(vec![Ident::new(name.as_str())]),
                    uses_odbc_syntax: false,
                    parameters: datafusion::sql::sqlparser::ast::FunctionArguments::None,
                    args: datafusion::sql::sqlparser::ast::FunctionArguments::List(
                        datafusion::sql::sqlparser::ast::FunctionArgumentList {
                            duplicate_treatment: None,
                            args: vec![],
                            clauses: vec![],
                        },
                    ),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                });
                return ControlFlow::<()>::Continue(());
            }
        }
        // `pg_catalog.pg_description.objoid`: the columns of a redirected
        // table, qualified with its full name, follow it.
        if let Expr::CompoundIdentifier(parts) = expr
            && let [schema, table, _column] = parts.as_mut_slice()
            && schema.value.eq_ignore_ascii_case("pg_catalog")
            && EXTENDED.iter().any(|t| table.value.eq_ignore_ascii_case(t))
        {
            *schema = Ident::new(SCHEMA);
            return ControlFlow::<()>::Continue(());
        }
        // pg_class.reloptions (SQLAlchemy's table options, psql's `\d+`):
        // saasql tables have no storage options.
        // `array_to_string` of an ACL column (`\df+`, `\dp`) or of
        // `reloptions || array(SELECT …)` (`\d+`): saasql has no privileges
        // or storage options, and those columns are text here.
        if let Expr::Function(f) = expr
            && f.name
                .to_string()
                .to_ascii_lowercase()
                .ends_with("array_to_string")
        {
            const ACLS: [&str; 8] = [
                "proacl", "relacl", "nspacl", "datacl", "typacl", "attacl", "spcacl", "lanacl",
            ];
            let acl = first_arg_name(f).is_some_and(|n| ACLS.contains(&n.as_str()));
            // psql's `\d+`: `c.reloptions || array(select 'toast.' || x from
            // pg_catalog.unnest(tc.reloptions) x)` (reloptions already NULL).
            let options = first_arg_text(f).is_some_and(|t| {
                let t = t.to_ascii_lowercase();
                t.contains("|| array(select 'toast.'")
            });
            if acl || options {
                *expr = null_text();
                return ControlFlow::<()>::Continue(());
            }
        }
        if let Expr::CompoundIdentifier(parts) = expr
            && parts
                .last()
                .is_some_and(|p| p.value.eq_ignore_ascii_case("reloptions"))
        {
            *expr = null_text();
            return ControlFlow::<()>::Continue(());
        }
        // SQLAlchemy's get_columns: scalar subqueries inside CASE (which
        // DataFusion cannot plan) on column defaults, identities and
        // collations: saasql tables have none.
        if let Expr::Case { .. } = expr {
            let _ = visit_expressions_mut(expr, |inner: &mut Expr| {
                if let Expr::Subquery(query) = inner
                    && reads_only(
                        query,
                        &[
                            "pg_attrdef",
                            "pg_sequence",
                            "pg_collation",
                            "pg_type",
                            "pg_namespace",
                        ],
                    )
                {
                    *inner = null_text();
                }
                ControlFlow::<()>::Continue(())
            });
            return ControlFlow::<()>::Continue(());
        }
        // `LIKE 'pg/_%' ESCAPE '/'` (SQLAlchemy's get_schema_names):
        // DataFusion escapes with a backslash only.
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = expr
            && let Some(escape) = escape_char
                .as_ref()
                .and_then(|e| e.value.clone().into_string())
            && let [escape] = escape.chars().collect::<Vec<_>>()[..]
            && escape != '\\'
            && let Some(text) = literal_text(pattern)
        {
            let mut out = String::new();
            let mut chars = text.chars();
            while let Some(c) = chars.next() {
                if c == escape {
                    out.push('\\');
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else if c == '\\' {
                    out.push_str("\\\\");
                } else {
                    out.push(c);
                }
            }
            **pattern = Expr::Value(Value::SingleQuotedString(out).into());
            *escape_char = None;
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
            // pg_proc with the saasql functions, pg_description with
            // their and the views' descriptions.
            for extended in EXTENDED {
                let matches = match parts.as_slice() {
                    [table] => table == extended,
                    [.., schema, table] => schema == "pg_catalog" && table == extended,
                    _ => false,
                };
                if matches {
                    *name = ObjectName::from(vec![Ident::new(SCHEMA), Ident::new(extended)]);
                }
            }
            ControlFlow::<()>::Continue(())
        });
}

/// Whether the first argument of `f` is a column (`c.oid`).
fn first_arg_is_column(f: &datafusion::sql::sqlparser::ast::Function) -> bool {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    match &f.args {
        FunctionArguments::List(list) => matches!(
            list.args.first(),
            Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(
                Expr::Identifier(_) | Expr::CompoundIdentifier(_)
            )))
        ),
        _ => false,
    }
}

/// `CAST(NULL AS TEXT)`: what a rewritten catalog expression becomes.
fn null_text() -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::Value(Value::Null.into())),
        data_type: SqlDataType::Text,
        array: false,
        format: None,
    }
}

/// Whether `statement` reads a table of `pg_catalog` (by that schema, or a
/// bare `pg_…` name).
fn reads_pg_catalog(statement: &Statement) -> bool {
    let mut found = false;
    let mut copy = statement.clone();
    let _ =
        datafusion::sql::sqlparser::ast::visit_relations_mut(&mut copy, |name: &mut ObjectName| {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| match p {
                    ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
                    _ => None,
                })
                .collect();
            if parts.iter().any(|p| p == "pg_catalog")
                || parts.last().is_some_and(|t| t.starts_with("pg_"))
            {
                found = true;
            }
            ControlFlow::<()>::Continue(())
        });
    found
}

/// The text of `f`'s first argument.
fn first_arg_text(f: &datafusion::sql::sqlparser::ast::Function) -> Option<String> {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.first()? {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.to_string()),
        _ => None,
    }
}

/// The (last part of the) name of `f`'s first argument, if it is a column.
fn first_arg_name(f: &datafusion::sql::sqlparser::ast::Function) -> Option<String> {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.first()? {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i))) => {
            Some(i.value.to_ascii_lowercase())
        }
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(parts))) => {
            parts.last().map(|i| i.value.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// Whether every table `query` reads is one of `tables` (in any schema).
fn reads_only(query: &datafusion::sql::sqlparser::ast::Query, tables: &[&str]) -> bool {
    let mut all = true;
    let mut any = false;
    let mut query = query.clone();
    let _ = datafusion::sql::sqlparser::ast::visit_relations_mut(
        &mut query,
        |name: &mut ObjectName| {
            any = true;
            let last = name.0.last().and_then(|p| match p {
                ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
                _ => None,
            });
            if !last.is_some_and(|t| tables.contains(&t.as_str())) {
                all = false;
            }
            ControlFlow::<()>::Continue(())
        },
    );
    any && all
}

/// The text of a string literal, or of `||` of string literals.
fn literal_text(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => v.value.clone().into_string(),
        Expr::Nested(inner) => literal_text(inner),
        Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::StringConcat,
            right,
        } => Some(literal_text(left)? + &literal_text(right)?),
        _ => None,
    }
}

/// The most `$n` parameters a canned answer takes.
const MAX_CANNED_PARAMETERS: usize = 64;

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
    // A client's own $n are few; text that claims more (`$200000` in a
    // literal) gets none.
    let count = parameter_count(sql);
    let count = if count > MAX_CANNED_PARAMETERS {
        0
    } else {
        count
    };
    let params: String = (1..=count)
        .map(|n| format!(" AND CAST(${n} AS VARCHAR) IS NULL"))
        .collect();
    format!("SELECT {} WHERE false{params}", select.join(", "))
}

/// `sql` with `'pg_class'::regclass` and `CAST('pg_catalog.pg_class' AS
/// REGCLASS)` (pgjdbc's and SQLAlchemy's `classoid` of a relation's
/// description; also `pg_proc`) as Postgres' fixed oids, which the
/// descriptions here carry (datafusion-pg-catalog resolves such casts to
/// oids of its own, or to nothing). `None` when there is none.
pub fn fixed_oids(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    let mut spans: Vec<(usize, usize, i64)> = vec![];
    for (table, oid) in [("pg_class", PG_CLASS_OID), ("pg_proc", PG_PROC_OID)] {
        for form in [
            format!("'{table}'::regclass"),
            format!("'pg_catalog.{table}'::regclass"),
            format!("'{table}'::pg_catalog.regclass"),
            format!("'pg_catalog.{table}'::pg_catalog.regclass"),
            format!("cast('{table}' as regclass)"),
            format!("cast('pg_catalog.{table}' as regclass)"),
        ] {
            let mut from = 0;
            while let Some(at) = lower[from..].find(&form) {
                let start = from + at;
                spans.push((start, start + form.len(), oid));
                from = start + form.len();
            }
        }
    }
    if spans.is_empty() {
        return None;
    }
    spans.sort();
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for (start, end, oid) in spans {
        if start < last {
            continue;
        }
        out.push_str(&sql[last..start]);
        out.push_str(&oid.to_string());
        last = end;
    }
    out.push_str(&sql[last..]);
    Some(out)
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
    if lower.contains("generate_subscripts(pg_catalog.pg_index.indkey")
        && lower.contains("pg_catalog.pg_constraint.contype")
    {
        // SQLAlchemy's get_pk_constraint and get_unique_constraints.
        return Some(empty_answer(
            sql,
            &[
                "conrelid INT",
                "cols VARCHAR",
                "conname VARCHAR",
                "description VARCHAR",
                "indnkeyatts SMALLINT",
                "indnullsnotdistinct BOOLEAN",
            ],
        ));
    }
    if lower.contains("unnest(pg_catalog.pg_index.indclass)") {
        // SQLAlchemy's get_indexes.
        return Some(empty_answer(
            sql,
            &[
                "indrelid INT",
                "relname VARCHAR",
                "indisunique BOOLEAN",
                "indisvalid BOOLEAN",
                "has_constraint BOOLEAN",
                "indoption VARCHAR",
                "reloptions VARCHAR",
                "relam INT",
                "filter_definition VARCHAR",
                "indnkeyatts SMALLINT",
                "indnullsnotdistinct BOOLEAN",
                "elements VARCHAR",
                "elements_is_expr VARCHAR",
                "elements_opclass VARCHAR",
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
            signature: any_or_no_arguments(),
        }
    }
}

/// Any arguments, or none (the rewritten `col_description()`).
fn any_or_no_arguments() -> Signature {
    Signature::one_of(
        vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
        Volatility::Stable,
    )
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

/// A function with a fixed answer (`pg_function_is_visible(oid)` → true).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: &'static str,
    value: ScalarValue,
    signature: Signature,
}

impl Constant {
    fn new(name: &'static str, value: ScalarValue) -> Self {
        Self {
            name,
            value,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DFResult<DataType> {
        Ok(self.value.data_type())
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
}

/// The oids of `args[0]` as i64 (NULL for what is not a number).
fn oids(args: &ScalarFunctionArgs) -> DFResult<Vec<Option<i64>>> {
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let Some(first) = arrays.first() else {
        return Ok(vec![None; args.number_rows]);
    };
    let ints = cast(first, &DataType::Int64)?;
    let ints = ints.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    Ok(ints.iter().collect())
}

/// A text per oid (`pg_get_viewdef(oid)`, `pg_get_function_result(oid)`),
/// NULL for other oids.
#[derive(Debug)]
struct OidText {
    name: &'static str,
    texts: HashMap<i64, String>,
    signature: Signature,
}

impl OidText {
    fn new(name: &'static str, texts: HashMap<i64, String>) -> Self {
        Self {
            name,
            texts,
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }
}

impl PartialEq for OidText {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for OidText {}
impl std::hash::Hash for OidText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for OidText {
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
        let out: StringArray = oids(&args)?
            .into_iter()
            .map(|oid| oid.and_then(|o| self.texts.get(&o).map(String::as_str)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `obj_description(oid [, catalog])`: a view's or saasql function's
/// description ([`DESCRIPTIONS`]); NULL for others, and for calls the
/// rewrite left without arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Description {
    name: &'static str,
    signature: Signature,
}

impl Description {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            signature: any_or_no_arguments(),
        }
    }
}

impl ScalarUDFImpl for Description {
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
        if args.args.is_empty() {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        }
        let descriptions = DESCRIPTIONS.read().unwrap_or_else(|e| e.into_inner());
        let out: StringArray = oids(&args)?
            .into_iter()
            .map(|oid| oid.and_then(|o| descriptions.get(&o).cloned()))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Postgres' `pg_size_pretty(bytes)`: `9999 bytes`, `10 kB`, `1234 MB`
/// (a unit up from 10 240 of the one below, rounded half up).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SizePretty {
    signature: Signature,
}

impl Default for SizePretty {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

/// [`SizePretty`] of one size.
fn size_pretty(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes;
    let mut unit = 0;
    while value.abs() >= 10 * 1024 && unit < UNITS.len() - 1 {
        value = (value + if value >= 0 { 512 } else { -512 }) / 1024;
        unit += 1;
    }
    format!("{value} {}", UNITS[unit])
}

impl ScalarUDFImpl for SizePretty {
    fn name(&self) -> &str {
        "pg_size_pretty"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DFResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let out: StringArray = oids(&args)?
            .into_iter()
            .map(|size| size.map(size_pretty))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `pg_table_is_visible(oid)`: true except for [`SCHEMA`]'s relations.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TableVisible {
    hidden: std::collections::BTreeSet<i64>,
    signature: Signature,
}

impl ScalarUDFImpl for TableVisible {
    fn name(&self) -> &str {
        "pg_table_is_visible"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DFResult<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let out: datafusion::arrow::array::BooleanArray = oids(&args)?
            .into_iter()
            .map(|oid| oid.map(|o| !self.hidden.contains(&o)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
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
    fn sizes_are_pretty_as_in_postgres() {
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(12_345_678), "12 MB");
        assert_eq!(size_pretty(-20480), "-20 kB");
    }

    #[test]
    fn user_queries_are_not_rewritten() {
        let parse = |sql: &str| {
            let mut s = datafusion::sql::sqlparser::parser::Parser::parse_sql(
                &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
                sql,
            )
            .unwrap()
            .remove(0);
            redirect(&mut s);
            s.to_string()
        };
        // No catalog table: untouched.
        let user = "SELECT array_to_string(string_to_array('a,b', ','), ';'), t.reloptions FROM t";
        assert_eq!(parse(user), user);
        let subquery = "SELECT (SELECT count(*) FROM pg_type) AS n";
        assert_eq!(parse(subquery), subquery, "a subquery outside CASE stays");
        // psql's \\d+ shape is.
        let psql = "SELECT pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ') FROM pg_catalog.pg_class c";
        assert!(
            parse(psql).starts_with("SELECT CAST(NULL AS TEXT) FROM"),
            "{}",
            parse(psql)
        );
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
