//! Models: views defined by SQL files.
//!
//! A project's `models/` folder (any depth) holds one `SELECT` per `.sql`
//! file. The file's stem is the view's name (`models/revenue/mrr_by_month.sql`
//! is the view `mrr_by_month`); the `--` comment lines before the statement
//! are its description. Models may read tables and other models; they are
//! registered in dependency order, and a cycle is an error that names it.
//!
//! A model named like a table replaces that table, and may read it: inside
//! the model, its own name is the table it replaces (`models/events.sql`
//! holding `SELECT … FROM events` reshapes the `events` export).
//!
//! [`find_models`] reads the folder, [`dependencies`] finds which other models
//! a parsed model reads, and [`order`] sorts them; [`register_models`] does all
//! three and creates the views on a session (the Python package uses it; the
//! `saasql` command does the same steps with its own error reporting).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// One model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// The view's name: the file's stem.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub sql: String,
    /// The `--` comment lines before the statement, joined by spaces.
    pub description: Option<String>,
}

/// Reads every `.sql` file under `dir` (sub-folders included; names starting
/// with `.` are skipped), in path order. A name that is not a plain SQL
/// identifier (lowercase letters, digits and `_`, not starting with a digit)
/// or that two files share is an error.
pub fn find_models(dir: &Path) -> Result<Vec<ModelFile>> {
    let mut paths = vec![];
    collect_sql_files(dir, &mut paths)?;
    paths.sort();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut models = vec![];
    for path in paths {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !is_plain_name(&stem) {
            return Err(DataFusionError::Plan(format!(
                "model {}: the file's name is the view's name, so it must be a plain SQL name: \
                 lowercase letters, digits and _, not starting with a digit (e.g. mrr_by_month.sql)",
                path.display()
            )));
        }
        if let Some(first) = seen.get(&stem) {
            return Err(DataFusionError::Plan(format!(
                "models {} and {} both define the view {stem}: rename one",
                first.display(),
                path.display()
            )));
        }
        let sql = std::fs::read_to_string(&path).map_err(|e| {
            DataFusionError::Execution(format!("cannot read model {}: {e}", path.display()))
        })?;
        seen.insert(stem.clone(), path.clone());
        models.push(ModelFile {
            name: stem,
            description: description(&sql),
            path,
            sql,
        });
    }
    Ok(models)
}

fn collect_sql_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        DataFusionError::Execution(format!("cannot list models in {}: {e}", dir.display()))
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            DataFusionError::Execution(format!("cannot list models in {}: {e}", dir.display()))
        })?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_sql_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

/// Lowercase ASCII letters, digits and `_`, not starting with a digit: a
/// name SQL does not change (unquoted names are folded to lowercase).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The `--` comment lines at the start of `sql` (blank lines allowed between
/// them), joined by spaces; `None` when there are none.
pub fn description(sql: &str) -> Option<String> {
    let mut parts = vec![];
    for line in sql.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.strip_prefix("--") {
            Some(text) => {
                let text = text.trim();
                if !text.is_empty() {
                    parts.push(text.to_string());
                }
            }
            None => break,
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The models among `models` that `statement` (the model `name`) reads.
/// Its own name is the table it replaces, not a dependency.
pub fn dependencies(
    statement: &DFStatement,
    name: &str,
    models: &HashSet<String>,
) -> Result<Vec<String>> {
    let (relations, _ctes) = resolve_table_references(statement, true)?;
    let mut deps = BTreeSet::new();
    // `mrr_ledger('items')` reads the table its string names (and fx_rates).
    for table in crate::functions::revenue::mrr_ledger::tables_read(&statement.to_string()) {
        if table != name && models.contains(&table) {
            deps.insert(table);
        }
    }
    for relation in relations {
        let table = relation.table();
        let in_default_schema = relation
            .schema()
            .is_none_or(|s| s == "public" && relation.catalog().is_none_or(|c| c == "datafusion"));
        if in_default_schema && table != name && models.contains(table) {
            deps.insert(table.to_string());
        }
    }
    Ok(deps.into_iter().collect())
}

/// The order in which to create the models, given each one's name and the
/// models it reads: every model after those it reads, otherwise in the
/// given order. A cycle is returned as its names, the first repeated at
/// the end (`["a", "b", "a"]`).
pub fn order(models: &[(String, Vec<String>)]) -> std::result::Result<Vec<usize>, Vec<String>> {
    let index: BTreeMap<&str, usize> = models
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    // 0 = not visited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; models.len()];
    let mut out = Vec::with_capacity(models.len());
    let mut path: Vec<usize> = vec![];
    fn visit(
        i: usize,
        models: &[(String, Vec<String>)],
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
        path: &mut Vec<usize>,
        out: &mut Vec<usize>,
    ) -> std::result::Result<(), Vec<String>> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle: Vec<String> =
                    path[start..].iter().map(|&p| models[p].0.clone()).collect();
                cycle.push(models[i].0.clone());
                return Err(cycle);
            }
            _ => {}
        }
        state[i] = 1;
        path.push(i);
        for dep in &models[i].1 {
            if let Some(&j) = index.get(dep.as_str()) {
                visit(j, models, index, state, path, out)?;
            }
        }
        path.pop();
        state[i] = 2;
        out.push(i);
        Ok(())
    }
    for i in 0..models.len() {
        visit(i, models, &index, &mut state, &mut path, &mut out)?;
    }
    Ok(out)
}

/// The text of a cycle for errors: `a → b → a (models/a.sql, models/b.sql)`.
pub fn describe_cycle(cycle: &[String], files: &[ModelFile]) -> String {
    let paths: Vec<String> = cycle[..cycle.len().saturating_sub(1)]
        .iter()
        .filter_map(|n| files.iter().find(|f| &f.name == n))
        .map(|f| f.path.display().to_string())
        .collect();
    format!(
        "the models read each other in a cycle: {} ({})",
        cycle.join(" → "),
        paths.join(", ")
    )
}

/// Parses a model's text: exactly one query (`SELECT …`, `WITH …`,
/// `VALUES …`), with no `$parameters` (a view has none).
pub fn parse_model(ctx: &SessionContext, model: &ModelFile) -> Result<DFStatement> {
    let dialect = ctx
        .state()
        .config()
        .options()
        .sql_parser
        .dialect
        .as_ref()
        .to_string();
    parse_model_in(&dialect, model)
}

/// [`parse_model`] with a named SQL dialect (`generic`, `postgresql`, …).
pub fn parse_model_in(dialect: &str, model: &ModelFile) -> Result<DFStatement> {
    let dialect = dialect_from_str(dialect)
        .ok_or_else(|| DataFusionError::Plan(format!("unsupported SQL dialect {dialect}")))?;
    let mut statements = DFParserBuilder::new(model.sql.as_str())
        .with_dialect(dialect.as_ref())
        .build()?
        .parse_statements()
        .map_err(|e| plan_error(model, &e.to_string()))?;
    if statements.len() != 1 {
        return Err(plan_error(
            model,
            &format!(
                "a model holds exactly one SELECT, this file has {} statements",
                statements.len()
            ),
        ));
    }
    let statement = statements.pop_front().expect("one statement");
    if !matches!(&statement, DFStatement::Statement(s) if matches!(**s, Statement::Query(_))) {
        return Err(plan_error(
            model,
            "a model holds one query (SELECT, WITH … SELECT or VALUES)",
        ));
    }
    let placeholder = Tokenizer::new(dialect.as_ref(), &model.sql)
        .tokenize()
        .map_err(|e| plan_error(model, &e.to_string()))?
        .into_iter()
        .any(|t| matches!(t, Token::Placeholder(p) if p.starts_with('$')));
    if placeholder {
        return Err(plan_error(
            model,
            "a model cannot use $parameters (a view has none): use them in reports",
        ));
    }
    Ok(statement)
}

fn plan_error(model: &ModelFile, message: &str) -> DataFusionError {
    DataFusionError::Plan(format!("model {}: {message}", model.path.display()))
}

/// What [`register_models`] did besides creating views: the tables that
/// models replaced, as `(model, its file)`.
#[derive(Debug, Default)]
pub struct Registered {
    /// The models, in the order they were created.
    pub models: Vec<ModelFile>,
    /// Models named like a table that they replaced.
    pub replaced_tables: Vec<ModelFile>,
}

/// A model ready to create: its file, statement and the models it reads.
#[derive(Debug, Clone)]
pub struct OrderedModel {
    /// The file.
    pub file: ModelFile,
    /// Its parsed query.
    pub statement: DFStatement,
    /// The models it reads.
    pub depends_on: Vec<String>,
}

/// Finds the models in `dir`, parses them in `dialect` and returns them in
/// the order to create them (every model after those it reads).
pub fn ordered_models(dir: &Path, dialect: &str) -> Result<Vec<OrderedModel>> {
    let files = find_models(dir)?;
    let names: HashSet<String> = files.iter().map(|f| f.name.clone()).collect();
    let mut parsed = vec![];
    let mut graph = vec![];
    for file in &files {
        let statement = parse_model_in(dialect, file)?;
        graph.push((
            file.name.clone(),
            dependencies(&statement, &file.name, &names)?,
        ));
        parsed.push(statement);
    }
    let order =
        order(&graph).map_err(|cycle| DataFusionError::Plan(describe_cycle(&cycle, &files)))?;
    Ok(order
        .into_iter()
        .map(|i| OrderedModel {
            file: files[i].clone(),
            statement: parsed[i].clone(),
            depends_on: graph[i].1.clone(),
        })
        .collect())
}

/// Finds the models in `dir`, orders them and registers each as a view of
/// `ctx` (replacing a table of the same name).
pub async fn register_models(ctx: &SessionContext, dir: &Path) -> Result<Registered> {
    let dialect = ctx
        .state()
        .config()
        .options()
        .sql_parser
        .dialect
        .as_ref()
        .to_string();
    let mut registered = Registered::default();
    for model in ordered_models(dir, &dialect)? {
        let file = &model.file;
        let plan = ctx
            .state()
            .statement_to_plan(model.statement)
            .await
            .map_err(|e| plan_error(file, &e.strip_backtrace()))?;
        if create_view(ctx, &file.name, plan, &file.sql)?
            .replaced
            .is_some()
        {
            registered.replaced_tables.push(file.clone());
        }
        registered.models.push(file.clone());
    }
    Ok(registered)
}

/// Registers `plan` as the view `name`, replacing a table of that name.
pub fn create_view(
    ctx: &SessionContext,
    name: &str,
    plan: datafusion::logical_expr::LogicalPlan,
    sql: &str,
) -> Result<CreatedView> {
    let replaced = ctx.deregister_table(name)?;
    let view: Arc<dyn TableProvider> = Arc::new(ViewTable::new(
        plan,
        Some(sql.trim().trim_end_matches(';').to_string()),
    ));
    ctx.register_table(name, Arc::clone(&view))?;
    Ok(CreatedView { view, replaced })
}

/// What [`create_view`] did.
#[derive(Debug)]
pub struct CreatedView {
    /// The view now registered.
    pub view: Arc<dyn TableProvider>,
    /// The table of the same name it replaced.
    pub replaced: Option<Arc<dyn TableProvider>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        edges
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn order_puts_dependencies_first_and_keeps_the_rest_in_place() {
        let g = graph(&[("a", &["c"]), ("b", &[]), ("c", &["b"]), ("d", &[])]);
        let names: Vec<&str> = order(&g)
            .unwrap()
            .into_iter()
            .map(|i| g[i].0.as_str())
            .collect();
        assert_eq!(names, ["b", "c", "a", "d"]);
    }

    #[test]
    fn order_names_the_cycle() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(order(&g).unwrap_err(), ["a", "b", "c", "a"]);
        let g = graph(&[("x", &[]), ("y", &["y"])]);
        assert_eq!(order(&g).unwrap_err(), ["y", "y"]);
    }

    #[test]
    fn description_is_the_leading_comment() {
        assert_eq!(
            description("-- MRR of every customer\n--   at the start of a month\n\nSELECT 1 -- no"),
            Some("MRR of every customer at the start of a month".into())
        );
        assert_eq!(description("SELECT 1\n-- later"), None);
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_name("mrr_by_month2"));
        assert!(!is_plain_name("MRR"));
        assert!(!is_plain_name("2x"));
        assert!(!is_plain_name("a-b"));
        assert!(!is_plain_name(""));
    }

    #[tokio::test]
    async fn models_become_views_in_dependency_order() {
        let dir = std::env::temp_dir().join(format!("saasql-models-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        std::fs::write(
            dir.join("b_totals.sql"),
            "-- Totals per key.\nSELECT k, sum(v) AS total FROM a_rows GROUP BY k;\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("nested/a_rows.sql"),
            "SELECT * FROM (VALUES (1, 10), (1, 5), (2, 7)) AS t(k, v)",
        )
        .unwrap();
        // A model named like a table replaces it and reads the table itself.
        std::fs::write(dir.join("base.sql"), "SELECT x * 2 AS x FROM base").unwrap();
        let ctx = crate::context();
        ctx.sql("CREATE TABLE base AS SELECT 21 AS x")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let registered = register_models(&ctx, &dir).await.unwrap();
        let names: Vec<&str> = registered.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a_rows", "b_totals", "base"]);
        assert_eq!(registered.replaced_tables.len(), 1);
        assert_eq!(
            registered.models[1].description.as_deref(),
            Some("Totals per key.")
        );
        let batches = ctx
            .sql("SELECT total FROM b_totals ORDER BY k")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("| 15 ") && text.contains("| 7 "), "{text}");
        let x = ctx
            .sql("SELECT x FROM base")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&x)
            .unwrap()
            .to_string();
        assert!(text.contains("| 42 "), "{text}");

        std::fs::write(dir.join("c.sql"), "SELECT * FROM d").unwrap();
        std::fs::write(dir.join("d.sql"), "SELECT * FROM c").unwrap();
        let err = register_models(&crate::context(), &dir).await.unwrap_err();
        assert!(err.to_string().contains("cycle: c → d → c"), "{err}");
        std::fs::remove_file(dir.join("d.sql")).unwrap();
        std::fs::write(dir.join("c.sql"), "SELECT 1; SELECT 2").unwrap();
        let err = register_models(&crate::context(), &dir).await.unwrap_err();
        assert!(err.to_string().contains("exactly one SELECT"), "{err}");
        std::fs::write(dir.join("c.sql"), "SELECT $x").unwrap();
        let err = register_models(&crate::context(), &dir).await.unwrap_err();
        assert!(err.to_string().contains("$parameters"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
