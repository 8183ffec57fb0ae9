//! `saasql functions` and the shell's `\h`: the function reference.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use saasql::functions::{FunctionInfo, all_functions, find_function};
use saasql::reference::function_markdown;

use super::error::{CliError, CliResult};

/// The first sentence of a function's description (up to ". " or a line end).
pub fn summary(f: &FunctionInfo) -> String {
    let first_line = f.doc.description.trim().lines().next().unwrap_or_default();
    let sentence = first_line.split(". ").next().unwrap_or_default();
    sentence.trim().trim_end_matches('.').to_string()
}

/// Every function as rows of (function, kind, summary), sorted by name.
pub fn function_list() -> (SchemaRef, RecordBatch) {
    let mut fns = all_functions();
    fns.sort_by(|a, b| a.name.cmp(&b.name));
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("function", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("summary", DataType::Utf8, false),
    ]));
    let names: StringArray = fns.iter().map(|f| Some(f.name.as_str())).collect();
    let kinds: StringArray = fns.iter().map(|f| Some(f.kind.label())).collect();
    let summaries: StringArray = fns.iter().map(|f| Some(summary(f))).collect();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(names), Arc::new(kinds), Arc::new(summaries)],
    )
    .expect("three string columns of equal length match the schema");
    (schema, batch)
}

/// The Markdown documentation of function `name`, or an input error
/// (exit 3) suggesting the closest name.
pub fn function_doc(name: &str) -> CliResult<String> {
    match find_function(name) {
        Some(f) => Ok(function_markdown(&f.name, f.kind, &f.doc)),
        None => {
            let suggestion = all_functions()
                .into_iter()
                .map(|f| (edit_distance(&f.name, &name.to_ascii_lowercase()), f.name))
                .filter(|(d, n)| *d <= 2.max(n.len() / 3))
                .min()
                .map(|(_, n)| format!(" (did you mean '{n}'?)"))
                .unwrap_or_default();
            Err(CliError::input(format!(
                "unknown function '{name}'{suggestion}; see `saasql functions`"
            )))
        }
    }
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
