//! Backslash commands outside the interactive shell: in report files, `-c`
//! and SQL on stdin (`printf '\\d customers\n' | saasql`), as psql and
//! duckdb accept them.
//!
//! A line that starts with `\` between statements is a command:
//!
//! | command | in a script |
//! | --- | --- |
//! | `\d`, `\d NAME`, `\dv` | a query whose rows are the listing (a result like any other) |
//! | `\set NAME VALUE`, `\unset NAME` | binds `$NAME` in the statements after it (typed like `--param`) |
//! | `\i FILE` (`\include`), `\ir FILE` | runs FILE's statements there (`\ir`: relative to this file) |
//! | `\q` | ends the script |
//!
//! The shell's display commands (`\o`, `\x`, `\timing`, `\format`, `\h`)
//! are refused with what to use instead.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;

use super::error::{CliError, CliResult};
use super::report::{Script, bind_params, is_complete, parse_script, typed_value};

/// `\d`: every table and view.
pub const LIST_TABLES: &str = "SELECT table_schema, table_name, table_type FROM information_schema.tables \
     WHERE table_schema <> 'information_schema' \
     ORDER BY table_catalog, table_schema, table_name";

/// `\d NAME`: its columns.
pub fn describe_sql(table: &str) -> String {
    format!(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_name = {} ORDER BY ordinal_position",
        quote(table)
    )
}

/// `\dv`: the views, with the project's model descriptions and files.
pub fn views_sql(ctx: &SessionContext) -> String {
    let rows: Vec<String> = super::project::models_of(ctx)
        .infos
        .iter()
        .map(|m| {
            format!(
                "({}, {}, {})",
                quote(&m.name),
                m.description.as_deref().map_or("NULL".into(), quote),
                quote(&super::project::shown(&m.path))
            )
        })
        .collect();
    let models = if rows.is_empty() {
        "SELECT CAST(NULL AS VARCHAR) AS name, CAST(NULL AS VARCHAR) AS description, \
         CAST(NULL AS VARCHAR) AS file WHERE false"
            .to_string()
    } else {
        format!(
            "SELECT * FROM (VALUES {}) AS m(name, description, file)",
            rows.join(", ")
        )
    };
    format!(
        "SELECT t.table_name AS view, m.description, m.file \
         FROM information_schema.tables t LEFT JOIN ({models}) m ON m.name = t.table_name \
         WHERE t.table_type = 'VIEW' AND t.table_schema <> 'information_schema' \
         ORDER BY t.table_name"
    )
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// How deep `\i` may nest (a file that includes itself stops here).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Parses `sql` (named `name` in locations) into scripts: its statements,
/// with backslash commands between them carried out (see the module
/// documentation). `\i` adds the included file's statements as a script of
/// its own, so that their errors name that file.
pub fn parse_scripts(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    state: &mut ScriptState,
) -> CliResult<Vec<Script>> {
    let mut out = vec![];
    if state.quit {
        return Ok(out);
    }
    parse_into(
        ctx,
        name,
        sql,
        &mut state.params,
        &mut out,
        0,
        &mut state.quit,
    )?;
    Ok(out)
}

/// What carries over from one script to the next of a run (the files of
/// `saasql run`, the `-c` commands): `\set` parameters, and `\q`.
#[derive(Debug, Default)]
pub struct ScriptState {
    params: HashMap<String, ScalarValue>,
    quit: bool,
}

fn parse_into(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    params: &mut HashMap<String, ScalarValue>,
    out: &mut Vec<Script>,
    depth: usize,
    quit: &mut bool,
) -> CliResult<()> {
    let lines: Vec<&str> = sql.split_inclusive('\n').collect();
    let mut chunk_start = 0;
    for (i, line) in lines.iter().enumerate() {
        let command = line.trim();
        if !command.starts_with('\\') {
            continue;
        }
        let before: String = lines[chunk_start..i].concat();
        if !before.trim().is_empty() && !is_complete(ctx, &before) && !only_comments(ctx, &before) {
            continue;
        }
        push_chunk(ctx, name, sql, &lines, chunk_start, i, params, out)?;
        chunk_start = i + 1;
        let at = format!("{name}:{}", i + 1);
        let located = |e: CliError| e.at(at.clone(), Some(command.to_string()));
        let (word, arg) = match command.split_once(char::is_whitespace) {
            Some((w, rest)) => (w, Some(rest.trim()).filter(|r| !r.is_empty())),
            None => (command, None),
        };
        match (word, arg) {
            ("\\q" | "\\quit", _) => {
                *quit = true;
                return Ok(());
            }
            ("\\d", None) => push_query(ctx, name, sql, i + 1, command, LIST_TABLES, out)?,
            ("\\d", Some(table)) => {
                push_query(ctx, name, sql, i + 1, command, &describe_sql(table), out)?;
            }
            ("\\dv", None) => push_query(ctx, name, sql, i + 1, command, &views_sql(ctx), out)?,
            ("\\set", Some(rest)) => {
                let (param, value) = match rest.split_once(char::is_whitespace) {
                    Some((n, v)) => (n, v.trim()),
                    None => (rest, ""),
                };
                let param = param.strip_prefix('$').unwrap_or(param);
                if param.is_empty() || !param.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(located(CliError::usage(
                        "\\set: parameter names use letters, digits and _",
                    )));
                }
                let value = typed_value(value)
                    .map_err(|why| located(CliError::usage(format!("\\set {param}: {why}"))))?;
                params.insert(param.to_string(), value);
            }
            ("\\unset", Some(param)) => {
                params.remove(param.strip_prefix('$').unwrap_or(param));
            }
            ("\\i" | "\\include" | "\\ir" | "\\include_relative", Some(file)) => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(located(CliError::usage(format!(
                        "{word} {file}: files include each other more than {MAX_INCLUDE_DEPTH} deep"
                    ))));
                }
                let path = if word.starts_with("\\ir") || word == "\\include_relative" {
                    Path::new(name).parent().unwrap_or(Path::new("")).join(file)
                } else {
                    Path::new(file).to_path_buf()
                };
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    located(CliError::input(format!(
                        "{word}: cannot read {}: {e}",
                        path.display()
                    )))
                })?;
                let included = path.display().to_string();
                parse_into(ctx, &included, &text, params, out, depth + 1, quit)?;
                if *quit {
                    return Ok(());
                }
            }
            ("\\o", _) => {
                return Err(located(CliError::usage(
                    "\\o works in the interactive shell; a report writes to --output PATH",
                )));
            }
            ("\\x" | "\\timing" | "\\format" | "\\h" | "\\?" | "\\help", _) => {
                return Err(located(CliError::usage(format!(
                    "{word} works in the interactive shell; a report's format is --format"
                ))));
            }
            _ => {
                return Err(located(CliError::usage(format!(
                    "{command}: scripts accept \\d, \\d NAME, \\dv, \\set NAME VALUE, \\unset NAME, \\i FILE, \\ir FILE and \\q"
                ))));
            }
        }
    }
    push_chunk(
        ctx,
        name,
        sql,
        &lines,
        chunk_start,
        lines.len(),
        params,
        out,
    )
}

/// Whether `text` holds only comments and whitespace.
fn only_comments(ctx: &SessionContext, text: &str) -> bool {
    parse_script(ctx, "-", text).is_ok_and(|s| s.statements.is_empty())
}

/// Parses lines `from..to` of `sql` (line numbers kept) and adds their
/// statements, with the `\set` parameters bound, to the scripts.
#[allow(clippy::too_many_arguments)]
fn push_chunk(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    lines: &[&str],
    from: usize,
    to: usize,
    params: &HashMap<String, ScalarValue>,
    out: &mut Vec<Script>,
) -> CliResult<()> {
    let text = "\n".repeat(from) + &lines[from..to].concat();
    let mut script = parse_script(ctx, name, &text)?;
    for s in &mut script.statements {
        let bound: HashMap<String, ScalarValue> = s
            .params
            .iter()
            .filter_map(|p| params.get(p).map(|v| (p.clone(), v.clone())))
            .collect();
        if !bound.is_empty() {
            s.statement = bind_params(&s.statement, &bound).map_err(|e| {
                CliError::datafusion(&e)
                    .at(format!("{name}:{}", s.line), Some(s.first_line.clone()))
            })?;
            s.params.retain(|p| !bound.contains_key(p));
        }
    }
    append(out, name, sql, script);
    Ok(())
}

/// Adds a backslash command's query as a statement at `line`.
fn push_query(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    line: usize,
    command: &str,
    query: &str,
    out: &mut Vec<Script>,
) -> CliResult<()> {
    let text = "\n".repeat(line - 1) + query;
    let mut script = parse_script(ctx, name, &text)?;
    for s in &mut script.statements {
        s.first_line = command.to_string();
    }
    append(out, name, sql, script);
    Ok(())
}

/// Appends `script`'s statements to the last script when it is the same
/// file, else adds it; the source is the whole file, for carets.
fn append(out: &mut Vec<Script>, name: &str, sql: &str, mut script: Script) {
    script.source = Arc::from(sql);
    match out.last_mut() {
        Some(last) if last.name == name => {
            last.statements.append(&mut script.statements);
            last.trailing_charts = script.trailing_charts;
        }
        _ => out.push(script),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_between_statements() {
        let ctx = saasql::context();
        let mut state = ScriptState::default();
        let scripts = parse_scripts(
            &ctx,
            "r.sql",
            "SELECT 1;\n\\set n 5\n-- a comment\nSELECT $n AS n;\n\\unset n\n\\d\nSELECT $n;\n\\q\nSELECT nothing(;\n",
            &mut state,
        )
        .unwrap();
        assert_eq!(scripts.len(), 1);
        let s = &scripts[0].statements;
        assert_eq!(s.len(), 4);
        assert_eq!(s.iter().map(|s| s.line).collect::<Vec<_>>(), [1, 4, 6, 7]);
        assert!(s[1].params.is_empty(), "bound by \\set");
        assert!(s[1].statement.to_string().contains('5'));
        assert_eq!(s[2].first_line, "\\d");
        assert!(s[3].params.contains("n"), "unset");
        // \\q ends the whole run: a later script adds nothing.
        let later = parse_scripts(&ctx, "s.sql", "SELECT 2;", &mut state).unwrap();
        assert!(later.is_empty());
        // \\set carries over to the next script.
        let mut state = ScriptState::default();
        parse_scripts(&ctx, "-c#1", "\\set n 5", &mut state).unwrap();
        let next = parse_scripts(&ctx, "-c#2", "SELECT $n", &mut state).unwrap();
        assert!(next[0].statements[0].params.is_empty());
        let err = parse_scripts(
            &ctx,
            "r.sql",
            "SELECT 1;\n\\x\n",
            &mut ScriptState::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("r.sql:2"), "{err}");
    }
}
