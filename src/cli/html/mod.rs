//! `--format html`: one self-contained HTML page with every result of a
//! report: each result's table and, where the result's shape suggests one
//! (or a `-- chart:` directive says which, see [`directive`]), an inline SVG
//! chart drawn here by hand ([`chart`]).
//!
//! Why no chart library: the page must open with no network (no CDN
//! scripts, no web fonts) and must not run code, so it has no scripts at all
//! and its Content-Security-Policy forbids every fetch; the few shapes we
//! draw (bars, lines, a grid of cells, tiles) are a few hundred lines of SVG.
//! Every text that comes from data or SQL goes through [`escape`].

pub mod chart;
pub mod directive;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, SchemaRef, TimeUnit, TimestampMillisecondType,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::error::{CliError, CliResult};
use directive::{Directive, Kind};

/// A directive as written in a script: its text after `chart:` and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartComment {
    /// `file:line` of the comment.
    pub at: String,
    /// The text after `chart:`.
    pub text: String,
}

impl ChartComment {
    /// The parsed directive, or a one-line error at its `file:line`.
    pub fn parse(&self) -> CliResult<Directive> {
        directive::parse(&self.text).map_err(|why| self.error(&why))
    }

    fn error(&self, why: &str) -> CliError {
        CliError::query(format!("chart directive '{}': {why}", self.text)).at(self.at.clone(), None)
    }
}

/// Escapes text for HTML and SVG, in elements and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{FFFD}'),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
color:#1f2933;margin:0 auto;max-width:1100px;padding:24px 32px 48px;background:#fff}\
header{border-bottom:2px solid #e4e7eb;margin-bottom:8px}\
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 2px}\
.meta,.where,.rows{color:#616e7c;font-size:13px;margin:2px 0 12px}\
figure{margin:8px 0 12px}svg{max-width:100%;height:auto;font-size:12px}\
table{border-collapse:collapse;font-size:13px;margin:4px 0}\
th,td{border:1px solid #e4e7eb;padding:4px 10px;text-align:left;white-space:pre}\
th{background:#f5f7fa;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
td.null{color:#9aa5b1}tbody tr:nth-child(even){background:#fafbfc}\
";

/// The start of the page, up to the first result.
pub fn head(title: &str, generated: &str) -> String {
    let title = escape(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"generator\" content=\"saasql {}\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
<header><h1>{title}</h1><p class=\"meta\">saasql report, generated {}</p></header>\n",
        env!("CARGO_PKG_VERSION"),
        escape(generated)
    )
}

/// The end of the page.
pub fn tail() -> String {
    "</body>\n</html>\n".to_string()
}

/// The current time in UTC, as `2025-03-01 09:30 UTC`.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = saasql::util::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        s / 3600,
        s % 3600 / 60
    )
}

/// One result of a report.
#[derive(Debug)]
pub struct Section<'a> {
    /// The heading: the comment before the statement, or `Result N`.
    pub heading: String,
    /// `file:line` of the statement (empty when there is none).
    pub location: String,
    /// A `-- chart:` directive before the statement.
    pub chart: Option<&'a ChartComment>,
    /// The result.
    pub schema: SchemaRef,
    /// Its rows.
    pub batches: Vec<RecordBatch>,
}

/// A result's section: heading, chart, table and row count.
pub fn section(s: &Section<'_>) -> CliResult<String> {
    let grid = Grid::new(&s.schema, &s.batches)?;
    let plan = match s.chart {
        Some(comment) => {
            let d = comment.parse()?;
            resolve(&grid, &d).map_err(|why| comment.error(&why))?
        }
        None => auto(&grid),
    };
    let mut out = String::from("<section>\n");
    let _ = writeln!(out, "<h2>{}</h2>", escape(&s.heading));
    if !s.location.is_empty() {
        let _ = writeln!(out, "<p class=\"where\">{}</p>", escape(&s.location));
    }
    if let Some(svg) = plan
        .map(|c| chart::draw(&grid, &c, &s.heading))
        .filter(|svg| !svg.is_empty())
    {
        let _ = writeln!(out, "<figure>{svg}</figure>");
    }
    out.push_str(&table(&grid));
    let rows = grid.rows();
    let _ = writeln!(
        out,
        "<p class=\"rows\">{}</p>\n</section>",
        if rows == 1 {
            "1 row".to_string()
        } else {
            format!("{rows} rows")
        }
    );
    Ok(out)
}

/// The result as an HTML table, cells formatted as the table format does.
fn table(grid: &Grid) -> String {
    let mut out = String::from("<table>\n<thead><tr>");
    for (name, kind) in grid.names.iter().zip(&grid.kinds) {
        let class = if *kind == ColKind::Number {
            " class=\"n\""
        } else {
            ""
        };
        let _ = write!(out, "<th{class}>{}</th>", escape(name));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in 0..grid.rows() {
        out.push_str("<tr>");
        for c in 0..grid.names.len() {
            let class = if grid.columns[c].is_null(r) {
                " class=\"null\""
            } else if grid.kinds[c] == ColKind::Number {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(&grid.cells[r][c]));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// What a column holds, as far as charts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColKind {
    /// Integers, decimals, floats.
    Number,
    /// Dates and timestamps.
    Time,
    /// Text and booleans: categories.
    Text,
    /// A list of numbers per row (a retention curve).
    NumberList,
    /// Anything else (structs, maps, binary).
    Other,
}

fn col_kind(dt: &DataType) -> ColKind {
    match dt {
        d if d.is_numeric() => ColKind::Number,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => ColKind::Time,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => {
            ColKind::Text
        }
        DataType::Dictionary(_, v) if col_kind(v) == ColKind::Text => ColKind::Text,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
            if f.data_type().is_numeric() =>
        {
            ColKind::NumberList
        }
        _ => ColKind::Other,
    }
}

/// A result, concatenated, with every cell formatted once.
#[derive(Debug)]
pub struct Grid {
    /// Column names.
    pub names: Vec<String>,
    /// Column kinds.
    pub kinds: Vec<ColKind>,
    /// Each column as one array.
    pub columns: Vec<ArrayRef>,
    /// `cells[row][column]`, as the table format prints them (`NULL` for null).
    pub cells: Vec<Vec<String>>,
}

impl Grid {
    fn new(schema: &SchemaRef, batches: &[RecordBatch]) -> CliResult<Self> {
        let batch = concat_batches(schema, batches).map_err(|e| CliError::query(e.to_string()))?;
        let options = FormatOptions::default().with_null("NULL");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::query(e.to_string()))?;
        let cells = (0..batch.num_rows())
            .map(|r| formatters.iter().map(|f| f.value(r).to_string()).collect())
            .collect();
        Ok(Grid {
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            kinds: schema
                .fields()
                .iter()
                .map(|f| col_kind(f.data_type()))
                .collect(),
            columns: batch.columns().to_vec(),
            cells,
        })
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.cells.len()
    }

    /// Column `c` as numbers: numbers as they are, times as milliseconds
    /// since 1970, text parsed (`NULL` and non-numbers are `None`).
    pub fn numbers(&self, c: usize) -> Vec<Option<f64>> {
        let col = &self.columns[c];
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        match self.kinds[c] {
            ColKind::Number => match cast(col, &DataType::Float64) {
                Ok(a) => a.as_primitive::<Float64Type>().iter().map(finite).collect(),
                Err(_) => vec![None; self.rows()],
            },
            ColKind::Time => {
                // Milliseconds since 1970 (UTC for zoned timestamps).
                let tz = match col.data_type() {
                    DataType::Timestamp(_, Some(_)) => Some("UTC".into()),
                    _ => None,
                };
                match cast(col, &DataType::Timestamp(TimeUnit::Millisecond, tz)) {
                    Ok(a) => a
                        .as_primitive::<TimestampMillisecondType>()
                        .iter()
                        .map(|v| v.map(|v| v as f64))
                        .collect(),
                    Err(_) => vec![None; self.rows()],
                }
            }
            _ => (0..self.rows())
                .map(|r| {
                    if col.is_null(r) {
                        None
                    } else {
                        finite(self.cells[r][c].trim().parse::<f64>().ok())
                    }
                })
                .collect(),
        }
    }

    /// A list column's values per row: each element as a number and as
    /// the table format prints it.
    pub fn lists(&self, c: usize) -> Vec<Vec<(Option<f64>, String)>> {
        let col = &self.columns[c];
        let options = FormatOptions::default().with_null("NULL");
        (0..self.rows())
            .map(|r| {
                if col.is_null(r) {
                    return vec![];
                }
                let values: ArrayRef = match col.data_type() {
                    DataType::List(_) => col.as_list::<i32>().value(r),
                    DataType::LargeList(_) => col.as_list::<i64>().value(r),
                    DataType::FixedSizeList(_, _) => col.as_fixed_size_list().value(r),
                    _ => return vec![],
                };
                let numbers = cast(&values, &DataType::Float64).ok();
                let fmt = ArrayFormatter::try_new(values.as_ref(), &options).ok();
                (0..values.len())
                    .map(|i| {
                        let n = numbers
                            .as_ref()
                            .filter(|a| a.is_valid(i))
                            .map(|a| a.as_primitive::<Float64Type>().value(i))
                            .filter(|v| v.is_finite());
                        let text = fmt
                            .as_ref()
                            .map_or_else(String::new, |f| f.value(i).to_string());
                        (n, text)
                    })
                    .collect()
            })
            .collect()
    }

    /// Whether every non-null value of column `c` reads as a number.
    fn all_numbers(&self, c: usize) -> bool {
        match self.kinds[c] {
            ColKind::Number => true,
            ColKind::Text => {
                let n = self.numbers(c);
                (0..self.rows()).all(|r| self.columns[c].is_null(r) || n[r].is_some())
                    && n.iter().any(Option::is_some)
            }
            _ => false,
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .position(|n| n == name)
            .or_else(|| self.names.iter().position(|n| n.eq_ignore_ascii_case(name)))
    }

    /// How many distinct cells column `c` has.
    fn distinct(&self, c: usize) -> usize {
        let mut seen = std::collections::HashSet::new();
        self.cells.iter().filter(|row| seen.insert(&row[c])).count()
    }
}

/// A chart, with columns resolved to indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chart {
    /// Bars along `x`, heights from `ys` (side by side) or stacked by `series`.
    Bar {
        /// Categories.
        x: usize,
        /// Heights.
        ys: Vec<usize>,
        /// Stack parts.
        series: Option<usize>,
    },
    /// Lines along `x`: one per `ys` column or per `series` value.
    Line {
        /// Time or order.
        x: usize,
        /// Values.
        ys: Vec<usize>,
        /// One line per value.
        series: Option<usize>,
    },
    /// Cells: rows are `y` values, columns `x` values (or list positions).
    Heatmap {
        /// Columns of the grid; `None` when `value` is a list.
        x: Option<usize>,
        /// Rows of the grid.
        y: usize,
        /// Cell values (a number, or a list of numbers without `x`).
        value: usize,
    },
    /// A tile per row: label `x`, value `y`.
    Kpi {
        /// Labels.
        x: usize,
        /// Values.
        y: usize,
    },
}

/// The chart a result's shape suggests, if any (documented in docs/command.md):
/// a list of numbers → heat map; dimension × period × number with repeating
/// dimensions → heat map; time first → line; text first → bar.
pub fn auto(grid: &Grid) -> Option<Chart> {
    if grid.rows() == 0 {
        return None;
    }
    let k = &grid.kinds;
    let number = (0..k.len()).find(|&c| k[c] == ColKind::Number);
    if let Some(value) = k.iter().position(|&c| c == ColKind::NumberList) {
        let y = (0..k.len()).find(|&c| c != value && k[c] != ColKind::Other)?;
        return Some(Chart::Heatmap { x: None, y, value });
    }
    if k.len() >= 3
        && matches!(k[0], ColKind::Text | ColKind::Time | ColKind::Number)
        && (k[1] == ColKind::Time || is_integer(grid, 1))
        && k[2] == ColKind::Number
        && is_grid(grid, 0, 1)
    {
        return Some(Chart::Heatmap {
            x: Some(1),
            y: 0,
            value: 2,
        });
    }
    let y = number.filter(|&n| n > 0)?;
    let series = (1..k.len()).find(|&c| k[c] == ColKind::Text);
    match k[0] {
        ColKind::Time => Some(Chart::Line {
            x: 0,
            ys: vec![y],
            series,
        }),
        ColKind::Text => Some(Chart::Bar {
            x: 0,
            ys: vec![y],
            series: series.filter(|&s| s < y && grid.distinct(0) < grid.rows()),
        }),
        _ => None,
    }
}

/// The first column not in `taken` for which `want` holds.
fn first_other(grid: &Grid, taken: &[usize], want: impl Fn(usize) -> bool) -> Option<usize> {
    (0..grid.names.len()).find(|c| !taken.contains(c) && want(*c))
}

fn is_integer(grid: &Grid, c: usize) -> bool {
    grid.columns[c].data_type().is_integer()
}

/// Whether columns `a` and `b` form a grid: each pair once, and both repeat.
fn is_grid(grid: &Grid, a: usize, b: usize) -> bool {
    let mut pairs = std::collections::HashSet::new();
    let unique = grid
        .cells
        .iter()
        .all(|row| pairs.insert((&row[a], &row[b])));
    unique && grid.distinct(a) < grid.rows() && grid.distinct(b) < grid.rows()
}

/// A directive's chart for this result, filling in what it leaves out from
/// the automatic choice; or why it does not fit the result.
pub fn resolve(grid: &Grid, d: &Directive) -> Result<Option<Chart>, String> {
    let columns = || grid.names.join(", ");
    let find = |name: &Option<String>| -> Result<Option<usize>, String> {
        name.as_ref()
            .map(|n| {
                grid.index(n).ok_or_else(|| {
                    format!("the result has no column '{n}' (columns: {})", columns())
                })
            })
            .transpose()
    };
    let numeric = |c: usize, role: &str| -> Result<usize, String> {
        if grid.all_numbers(c) {
            Ok(c)
        } else {
            let numbers: Vec<&str> = (0..grid.names.len())
                .filter(|&i| grid.all_numbers(i))
                .map(|i| grid.names[i].as_str())
                .collect();
            Err(format!(
                "{role} column '{}' does not hold numbers (number columns: {})",
                grid.names[c],
                if numbers.is_empty() {
                    "none".to_string()
                } else {
                    numbers.join(", ")
                }
            ))
        }
    };
    let x = find(&d.x)?;
    let series = find(&d.series)?;
    let value = find(&d.value)?;
    let mut ys = vec![];
    for y in &d.y {
        ys.push(find(&Some(y.clone()))?.unwrap_or_default());
    }
    let guess = auto(grid);
    let need = |c: Option<usize>, what: &str| {
        c.ok_or_else(|| format!("cannot tell which column is {what}; name it with {what}=COLUMN"))
    };
    Ok(Some(match d.kind {
        Kind::None => return Ok(None),
        Kind::Bar | Kind::Line => {
            let (gx, gys, gseries) = match guess {
                Some(Chart::Bar { x, ys, series } | Chart::Line { x, ys, series }) => {
                    (Some(x), ys, series)
                }
                _ => (None, vec![], None),
            };
            let x = need(x.or(gx).or(Some(0)), "x")?;
            let series = if d.y.is_empty() && series.is_none() {
                gseries.filter(|s| *s != x)
            } else {
                series
            };
            let ys = if ys.is_empty() {
                let taken: Vec<usize> = [Some(x), series].into_iter().flatten().collect();
                match gys.into_iter().find(|y| !taken.contains(y)) {
                    Some(y) => vec![y],
                    None => vec![need(
                        first_other(grid, &taken, |c| grid.kinds[c] == ColKind::Number),
                        "y",
                    )?],
                }
            } else {
                ys
            };
            let ys = ys
                .into_iter()
                .map(|y| numeric(y, "y"))
                .collect::<Result<Vec<_>, _>>()?;
            if d.kind == Kind::Bar {
                Chart::Bar { x, ys, series }
            } else {
                Chart::Line { x, ys, series }
            }
        }
        Kind::Heatmap => {
            let (gx, gy, gvalue) = match guess {
                Some(Chart::Heatmap { x, y, value }) => (x, Some(y), Some(value)),
                _ => (None, None, None),
            };
            let y = need(ys.first().copied().or(gy).or(Some(0)), "y")?;
            let value = match value.or(gvalue) {
                Some(v) => v,
                None => need(
                    first_other(grid, &[y], |c| {
                        matches!(grid.kinds[c], ColKind::Number | ColKind::NumberList)
                    }),
                    "value",
                )?,
            };
            if grid.kinds[value] == ColKind::NumberList {
                if let Some(x) = x {
                    return Err(format!(
                        "value column '{}' is a list, whose positions are the columns; drop x={}",
                        grid.names[value], grid.names[x]
                    ));
                }
                Chart::Heatmap { x: None, y, value }
            } else {
                let value = numeric(value, "value")?;
                let x = match x.or(gx) {
                    Some(x) => x,
                    None => need(
                        first_other(grid, &[y, value], |c| grid.kinds[c] != ColKind::Other),
                        "x",
                    )?,
                };
                Chart::Heatmap {
                    x: Some(x),
                    y,
                    value,
                }
            }
        }
        Kind::Kpi => {
            let x = need(
                x.or_else(|| first_other(grid, &[], |c| grid.kinds[c] == ColKind::Text)),
                "x",
            )?;
            let y = match ys.first() {
                Some(&y) => y,
                None => need(first_other(grid, &[x], |c| grid.all_numbers(c)), "y")?,
            };
            Chart::Kpi {
                x,
                y: numeric(y, "y")?,
            }
        }
    }))
}

/// Distinct values of column `c` in order of first appearance, with the
/// row indexes of each.
pub fn groups(grid: &Grid, c: usize) -> Vec<(String, Vec<usize>)> {
    let mut order: Vec<(String, Vec<usize>)> = vec![];
    let mut at: HashMap<&str, usize> = HashMap::new();
    for (r, row) in grid.cells.iter().enumerate() {
        match at.get(row[c].as_str()) {
            Some(&i) => order[i].1.push(r),
            None => {
                at.insert(&row[c], order.len());
                order.push((row[c].clone(), vec![r]));
            }
        }
    }
    order
}

/// The one-result page that `write_stream` writes (no directive).
pub fn page(title: &str, schema: &SchemaRef, batches: Vec<RecordBatch>) -> CliResult<String> {
    let mut out = head(title, &now_utc());
    out.push_str(&section(&Section {
        heading: title.to_string(),
        location: String::new(),
        chart: None,
        schema: Arc::clone(schema),
        batches,
    })?);
    out.push_str(&tail());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    fn grid(columns: Vec<(&str, ArrayRef)>) -> Grid {
        let schema: SchemaRef = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap();
        Grid::new(&schema, &[batch]).unwrap()
    }

    fn text(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\"\0"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;\u{FFFD}"
        );
    }

    #[test]
    fn shapes_choose_charts() {
        let bar = grid(vec![
            ("tier", text(&["a", "b"])),
            ("n", Arc::new(Int64Array::from(vec![1, 2]))),
        ]);
        assert_eq!(
            auto(&bar),
            Some(Chart::Bar {
                x: 0,
                ys: vec![1],
                series: None
            })
        );
        let line = grid(vec![
            ("month", Arc::new(Date32Array::from(vec![20000, 20031]))),
            ("mrr", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        ]);
        assert_eq!(
            auto(&line),
            Some(Chart::Line {
                x: 0,
                ys: vec![1],
                series: None
            })
        );
        let heat = grid(vec![
            ("cohort", text(&["a", "a", "b"])),
            ("period", Arc::new(Int64Array::from(vec![0, 1, 0]))),
            (
                "pct",
                Arc::new(Float64Array::from(vec![100.0, 50.0, 100.0])),
            ),
        ]);
        assert_eq!(
            auto(&heat),
            Some(Chart::Heatmap {
                x: Some(1),
                y: 0,
                value: 2
            })
        );
        let stacked = grid(vec![
            ("plan", text(&["a", "a", "b"])),
            ("tier", text(&["x", "y", "x"])),
            ("n", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        ]);
        assert_eq!(
            auto(&stacked),
            Some(Chart::Bar {
                x: 0,
                ys: vec![2],
                series: Some(1)
            })
        );
        let nothing = grid(vec![("a", text(&["x"])), ("b", text(&["y"]))]);
        assert_eq!(auto(&nothing), None);
    }

    #[test]
    fn directives_are_checked_against_the_result() {
        let g = grid(vec![
            ("plan", text(&["a", "b"])),
            ("value", text(&["1.5", "300"])),
        ]);
        let d = |t: &str| resolve(&g, &directive::parse(t).unwrap());
        assert_eq!(d("kpi x=plan y=value"), Ok(Some(Chart::Kpi { x: 0, y: 1 })));
        assert_eq!(d("kpi"), Ok(Some(Chart::Kpi { x: 0, y: 1 })));
        assert_eq!(d("none"), Ok(None));
        assert_eq!(
            d("bar y=mrr"),
            Err("the result has no column 'mrr' (columns: plan, value)".into())
        );
        assert_eq!(
            d("line y=plan"),
            Err("y column 'plan' does not hold numbers (number columns: value)".into())
        );
    }

    #[test]
    fn data_cannot_inject_markup() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("<b>name</b>", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                text(&[
                    "<script>alert(1)</script>",
                    "\"><img src=x onerror=alert(1)>",
                ]),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let html = page("</title><script>", &schema, vec![batch]).unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<svg"), "a bar chart: {html}");
    }
}
