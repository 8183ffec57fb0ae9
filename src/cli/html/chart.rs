//! The charts, as inline SVG: bars, lines, a heat map and headline tiles.
//! Every label and tooltip shows a cell as the table prints it; axis ticks
//! are round numbers. Nothing here fetches or runs anything.

use std::fmt::Write as _;

use super::{Chart, ColKind, Grid, escape, groups};

/// Categorical colours (Tableau 10), distinguishable by most readers.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];
/// The drawing's width in SVG units (it scales down with the page).
const WIDTH: f64 = 960.0;
/// At most this many bars groups, heat-map rows or tiles are drawn.
const MAX_ITEMS: usize = 60;
/// Axis and grid colours.
const AXIS: &str = "#9aa5b1";
const GRIDLINE: &str = "#e4e7eb";
/// Roughly how wide a 12px character is, for fitting labels.
const CHAR: f64 = 7.0;

/// The chart as an `<svg>` element (empty when there is nothing to draw).
pub fn draw(grid: &Grid, chart: &Chart, title: &str) -> String {
    let (kind, (body, height)) = match chart {
        Chart::Bar { x, ys, series } => ("bar", bars(grid, *x, ys, *series)),
        Chart::Line { x, ys, series } => ("line", lines(grid, *x, ys, *series)),
        Chart::Heatmap { x, y, value } => ("heatmap", heatmap(grid, *x, *y, *value)),
        Chart::Kpi { x, y } => ("kpi", tiles(grid, *x, *y)),
    };
    if body.is_empty() {
        return String::new();
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart {kind}\" viewBox=\"0 0 {WIDTH} {height:.0}\" \
width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"{} ({kind} chart)\">\n{body}</svg>",
        escape(title)
    )
}

/// `text` cut to `max` characters with `…`.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A linear map from `lo..hi` onto `a..b`.
#[derive(Debug, Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    a: f64,
    b: f64,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
        self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)
    }
}

/// Round tick values covering `lo..hi` (about `n` of them) and their step.
fn ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let (lo, hi) = if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        (
            lo - 1.0_f64.max(lo.abs() * 0.1),
            hi + 1.0_f64.max(hi.abs() * 0.1),
        )
    } else {
        (lo, hi)
    };
    let raw = (hi - lo) / n as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = magnitude
        * match raw / magnitude {
            r if r <= 1.0 => 1.0,
            r if r <= 2.0 => 2.0,
            r if r <= 5.0 => 5.0,
            _ => 10.0,
        };
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    ((first..=last).map(|i| i as f64 * step).collect(), step)
}

/// A tick's label: as many decimals as the step needs; thousands as `k`,
/// millions as `M`.
fn tick_label(v: f64, step: f64) -> String {
    let (v, step, suffix) = if step >= 1e6 {
        (v / 1e6, step / 1e6, "M")
    } else if step >= 1e3 {
        (v / 1e3, step / 1e3, "k")
    } else {
        (v, step, "")
    };
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let text = format!("{v:.decimals$}");
    let text = if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        "0".to_string()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// A legend of coloured swatches from `x0`, `y0`; returns it and its height.
fn legend(names: &[String], y0: f64) -> (String, f64) {
    let mut out = String::new();
    let (mut x, mut y) = (0.0, y0);
    for (i, name) in names.iter().enumerate() {
        let name = fit(name, 40);
        let w = 22.0 + CHAR * name.chars().count() as f64 + 18.0;
        if x > 0.0 && x + w > WIDTH {
            x = 0.0;
            y += 20.0;
        }
        let _ = writeln!(
            out,
            "<g class=\"legend\"><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"14\" height=\"14\" rx=\"2\" fill=\"{}\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" dominant-baseline=\"middle\" fill=\"#3e4c59\">{}</text></g>",
            y,
            PALETTE[i % PALETTE.len()],
            x + 20.0,
            y + 7.5,
            escape(&name)
        );
        x += w;
    }
    (out, y - y0 + 28.0)
}

/// Grid lines and labels of a value axis: horizontal lines for a vertical
/// axis, vertical ones for a horizontal axis.
fn value_axis(
    out: &mut String,
    scale: &Scale,
    values: &[f64],
    step: f64,
    vertical: bool,
    span: (f64, f64),
) {
    for &v in values {
        let p = scale.at(v);
        let color = if v == 0.0 { AXIS } else { GRIDLINE };
        let label = escape(&tick_label(v, step));
        if vertical {
            let _ = writeln!(
                out,
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{p:.1}\" y2=\"{p:.1}\" stroke=\"{color}\"/>\
<text x=\"{:.1}\" y=\"{p:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#616e7c\">{label}</text>",
                span.0,
                span.1,
                span.0 - 6.0
            );
        } else {
            let _ = writeln!(
                out,
                "<line x1=\"{p:.1}\" x2=\"{p:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\"/>\
<text x=\"{p:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#616e7c\">{label}</text>",
                span.0,
                span.1,
                span.1 + 16.0
            );
        }
    }
}

/// A chart cell: its number and its text as the table shows it.
type Cell = Option<(f64, String)>;

/// A line: its name, its points (x, y, row) and its y column.
type Line = (String, Vec<(f64, f64, usize)>, usize);

/// A bar chart: one group of bars per distinct `x`, horizontal for text
/// categories and vertical along time or numbers; stacked by `series`, or
/// side by side for several `ys`.
fn bars(grid: &Grid, x: usize, ys: &[usize], series: Option<usize>) -> (String, f64) {
    let horizontal = !matches!(grid.kinds[x], ColKind::Time | ColKind::Number);
    let cats: Vec<(String, Vec<usize>)> = groups(grid, x).into_iter().take(MAX_ITEMS).collect();
    let stacked = series.is_some();
    // values[category][part] = (number, cell text)
    let (parts, values): (Vec<String>, Vec<Vec<Cell>>) = match series {
        Some(s) => {
            let parts: Vec<String> = groups(grid, s).into_iter().map(|(n, _)| n).collect();
            let numbers = grid.numbers(ys[0]);
            let values = cats
                .iter()
                .map(|(_, rows)| {
                    let mut v = vec![None; parts.len()];
                    for &r in rows {
                        let p = parts
                            .iter()
                            .position(|n| *n == grid.cells[r][s])
                            .unwrap_or(0);
                        if let Some(n) = numbers[r] {
                            v[p] = Some((n, grid.cells[r][ys[0]].clone()));
                        }
                    }
                    v
                })
                .collect();
            (parts, values)
        }
        None => {
            let numbers: Vec<Vec<Option<f64>>> = ys.iter().map(|&y| grid.numbers(y)).collect();
            let values = cats
                .iter()
                .map(|(_, rows)| {
                    let r = rows[0];
                    ys.iter()
                        .zip(&numbers)
                        .map(|(&y, n)| n[r].map(|v| (v, grid.cells[r][y].clone())))
                        .collect()
                })
                .collect();
            (ys.iter().map(|&y| grid.names[y].clone()).collect(), values)
        }
    };
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in &values {
        let nums = v.iter().flatten().map(|(n, _)| *n);
        if stacked {
            hi = hi.max(nums.clone().filter(|n| *n > 0.0).sum());
            lo = lo.min(nums.filter(|n| *n < 0.0).sum());
        } else {
            for n in nums {
                hi = hi.max(n);
                lo = lo.min(n);
            }
        }
    }
    let (tick_values, step) = ticks(lo, hi, 6);
    let (lo, hi) = (tick_values[0], tick_values[tick_values.len() - 1]);
    let (mut out, legend_h) = legend(&parts, 4.0);
    let top = legend_h + 8.0;
    let n = cats.len() as f64;
    let k = if stacked { 1.0 } else { parts.len() as f64 };
    let (band, cat_start, value_scale, height, label_w) = if horizontal {
        let band = if k > 1.0 {
            (k * 12.0 + 10.0).max(28.0)
        } else {
            28.0
        };
        let longest = cats
            .iter()
            .map(|(c, _)| c.chars().count().min(36))
            .max()
            .unwrap_or(4);
        let label_w = (longest as f64 * CHAR + 16.0).clamp(60.0, 270.0);
        let scale = Scale {
            lo,
            hi,
            a: label_w,
            b: WIDTH - 80.0,
        };
        value_axis(
            &mut out,
            &scale,
            &tick_values,
            step,
            false,
            (top, top + n * band),
        );
        (band, top, scale, top + n * band + 30.0, label_w)
    } else {
        let (label_w, plot_h) = (70.0, 280.0);
        let scale = Scale {
            lo,
            hi,
            a: top + plot_h,
            b: top,
        };
        value_axis(
            &mut out,
            &scale,
            &tick_values,
            step,
            true,
            (label_w, WIDTH - 20.0),
        );
        (
            (WIDTH - label_w - 20.0) / n,
            label_w,
            scale,
            top + plot_h + 40.0,
            label_w,
        )
    };
    let every = if horizontal {
        1
    } else {
        (cats.len() as f64 / (WIDTH / 90.0)).ceil().max(1.0) as usize
    };
    for (i, ((cat, _), v)) in cats.iter().zip(&values).enumerate() {
        let c0 = cat_start + i as f64 * band;
        if i % every == 0 {
            let label = escape(&fit(cat, if horizontal { 36 } else { 14 }));
            let _ = if horizontal {
                writeln!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#3e4c59\">{label}</text>",
                    label_w - 8.0,
                    c0 + band / 2.0
                )
            } else {
                writeln!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#3e4c59\">{label}</text>",
                    c0 + band / 2.0,
                    value_scale.a + 18.0
                )
            };
        }
        let (mut up, mut down) = (0.0f64, 0.0f64);
        for (j, part) in v.iter().enumerate() {
            let Some((num, text)) = part else { continue };
            let (v0, v1, off, thick) = if stacked {
                let base = if *num >= 0.0 { &mut up } else { &mut down };
                let start = *base;
                *base += *num;
                (start, *base, 0.15, 0.7)
            } else {
                let thick = 0.8 / k;
                (0.0, *num, 0.1 + j as f64 * thick, thick)
            };
            let (p, q) = (value_scale.at(v0), value_scale.at(v1));
            let (vmin, vlen) = (p.min(q), (p - q).abs().max(0.5));
            let (cpos, clen) = (c0 + off * band, thick * band);
            let (rx, ry, rw, rh) = if horizontal {
                (vmin, cpos, vlen, clen)
            } else {
                (cpos, vmin, clen, vlen)
            };
            let tip = if parts.len() > 1 {
                format!("{cat} · {}: {text}", parts[j])
            } else {
                format!("{cat}: {text}")
            };
            let _ = writeln!(
                out,
                "<rect class=\"bar\" x=\"{rx:.1}\" y=\"{ry:.1}\" width=\"{rw:.1}\" height=\"{rh:.1}\" fill=\"{}\"><title>{}</title></rect>",
                PALETTE[j % PALETTE.len()],
                escape(&tip)
            );
            if horizontal && !stacked {
                let (anchor, tx) = if *num >= 0.0 {
                    ("start", rx + rw + 4.0)
                } else {
                    ("end", rx - 4.0)
                };
                let _ = writeln!(
                    out,
                    "<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" dominant-baseline=\"middle\" fill=\"#3e4c59\" font-size=\"11\">{}</text>",
                    ry + rh / 2.0,
                    escape(text)
                );
            }
        }
    }
    (out, height)
}

/// A line chart: `x` along the bottom (time and numbers to scale, text in
/// row order), one line per `ys` column or per value of `series`.
fn lines(grid: &Grid, x: usize, ys: &[usize], series: Option<usize>) -> (String, f64) {
    let to_scale = matches!(grid.kinds[x], ColKind::Time | ColKind::Number);
    let xs: Vec<Option<f64>> = if to_scale {
        grid.numbers(x)
    } else {
        let order = groups(grid, x);
        let mut pos = vec![None; grid.rows()];
        for (i, (_, rows)) in order.iter().enumerate() {
            for &r in rows {
                pos[r] = Some(i as f64);
            }
        }
        pos
    };
    // (name, points (x, y, row), y column)
    let mut lines: Vec<Line> = vec![];
    let point = |r: usize, y: &[Option<f64>]| Some((xs[r]?, y[r]?, r));
    match series {
        Some(s) => {
            let y = grid.numbers(ys[0]);
            for (name, rows) in groups(grid, s).into_iter().take(PALETTE.len() * 2) {
                let pts = rows
                    .iter()
                    .filter_map(|&r| point(r, y.as_slice()))
                    .collect();
                lines.push((name, pts, ys[0]));
            }
        }
        None => {
            for &c in ys {
                let y = grid.numbers(c);
                let pts = (0..grid.rows())
                    .filter_map(|r| point(r, y.as_slice()))
                    .collect();
                lines.push((grid.names[c].clone(), pts, c));
            }
        }
    }
    for (_, pts, _) in &mut lines {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let all = lines.iter().flat_map(|(_, p, _)| p.iter());
    let (mut xlo, mut xhi, mut ylo, mut yhi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(px, py, _) in all {
        xlo = xlo.min(px);
        xhi = xhi.max(px);
        ylo = ylo.min(py);
        yhi = yhi.max(py);
    }
    if xlo > xhi {
        return (String::new(), 0.0);
    }
    if xlo == xhi {
        xlo -= 1.0;
        xhi += 1.0;
    }
    if ylo > 0.0 && ylo < yhi * 0.5 {
        ylo = 0.0;
    }
    let names: Vec<String> = lines.iter().map(|(n, _, _)| n.clone()).collect();
    let (mut out, legend_h) = legend(&names, 4.0);
    let top = legend_h + 8.0;
    let (left, right, plot_h) = (70.0, WIDTH - 30.0, 280.0);
    let (tick_values, step) = ticks(ylo, yhi, 6);
    let ys_scale = Scale {
        lo: tick_values[0],
        hi: tick_values[tick_values.len() - 1],
        a: top + plot_h,
        b: top,
    };
    let xs_scale = Scale {
        lo: xlo,
        hi: xhi,
        a: left + 10.0,
        b: right - 10.0,
    };
    value_axis(&mut out, &ys_scale, &tick_values, step, true, (left, right));
    // x labels: the cells of up to ~10 distinct x values.
    let mut marks: Vec<(f64, usize)> = vec![];
    for (r, px) in xs.iter().enumerate().take(grid.rows()) {
        if let Some(px) = *px
            && !marks.iter().any(|(m, _)| *m == px)
        {
            marks.push((px, r));
        }
    }
    marks.sort_by(|a, b| a.0.total_cmp(&b.0));
    let every = (marks.len() as f64 / 10.0).ceil().max(1.0) as usize;
    for (px, r) in marks.iter().step_by(every) {
        let p = xs_scale.at(*px);
        let _ = writeln!(
            out,
            "<line x1=\"{p:.1}\" x2=\"{p:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{AXIS}\"/>\
<text x=\"{p:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#3e4c59\">{}</text>",
            ys_scale.a,
            ys_scale.a + 5.0,
            ys_scale.a + 20.0,
            escape(&fit(&grid.cells[*r][x], 20))
        );
    }
    for (i, (name, pts, c)) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut d = String::new();
        for (j, (px, py, _)) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if j == 0 { "M" } else { " L" },
                xs_scale.at(*px),
                ys_scale.at(*py)
            );
        }
        let _ = writeln!(
            out,
            "<path class=\"line\" d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\" stroke-linejoin=\"round\"><title>{}</title></path>",
            escape(name)
        );
        if pts.len() <= 120 {
            for (px, py, r) in pts {
                let tip = format!("{name} · {}: {}", grid.cells[*r][x], grid.cells[*r][*c]);
                let _ = writeln!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{}</title></circle>",
                    xs_scale.at(*px),
                    ys_scale.at(*py),
                    escape(&tip)
                );
            }
        }
    }
    (out, top + plot_h + 32.0)
}

/// A heat map: a row per distinct `y`, a column per distinct `x` (sorted
/// when `x` is time or a number) or per list position, cells shaded from
/// the lowest value (light) to the highest (dark) and labelled when they fit.
fn heatmap(grid: &Grid, x: Option<usize>, y: usize, value: usize) -> (String, f64) {
    let rows: Vec<(String, Vec<usize>)> = groups(grid, y).into_iter().take(MAX_ITEMS).collect();
    // columns: labels; cells[row][col] = (number, text)
    let (columns, cells): (Vec<String>, Vec<Vec<Cell>>) = match x {
        Some(x) => {
            let mut cols = groups(grid, x);
            if matches!(grid.kinds[x], ColKind::Time | ColKind::Number) {
                let n = grid.numbers(x);
                cols.sort_by(|a, b| {
                    let key = |c: &(String, Vec<usize>)| n[c.1[0]].unwrap_or(f64::MAX);
                    key(a).total_cmp(&key(b))
                });
            }
            let cols: Vec<(String, Vec<usize>)> = cols.into_iter().take(MAX_ITEMS).collect();
            let numbers = grid.numbers(value);
            let cells = rows
                .iter()
                .map(|(_, rs)| {
                    cols.iter()
                        .map(|(label, _)| {
                            let r = rs.iter().find(|&&r| grid.cells[r][x] == *label)?;
                            Some((numbers[*r]?, grid.cells[*r][value].clone()))
                        })
                        .collect()
                })
                .collect();
            (cols.into_iter().map(|(l, _)| l).collect(), cells)
        }
        None => {
            let lists = grid.lists(value);
            let cells: Vec<Vec<Option<(f64, String)>>> = rows
                .iter()
                .map(|(_, rs)| {
                    lists[rs[0]]
                        .iter()
                        .take(MAX_ITEMS)
                        .map(|(n, t)| n.map(|n| (n, t.clone())))
                        .collect()
                })
                .collect();
            let width = cells.iter().map(Vec::len).max().unwrap_or(0);
            ((0..width).map(|i| i.to_string()).collect(), cells)
        }
    };
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for (n, _) in cells.iter().flatten().flatten() {
        lo = lo.min(*n);
        hi = hi.max(*n);
    }
    if columns.is_empty() || lo > hi {
        return (String::new(), 0.0);
    }
    let longest = rows
        .iter()
        .map(|(r, _)| r.chars().count().min(28))
        .max()
        .unwrap_or(4);
    let label_w = (longest as f64 * CHAR + 16.0).clamp(50.0, 210.0);
    let cw = ((WIDTH - label_w - 10.0) / columns.len() as f64).clamp(16.0, 72.0);
    let ch = 26.0;
    let mut out = String::new();
    let caption = match x {
        Some(x) => grid.names[x].clone(),
        None => format!("position in {}", grid.names[value]),
    };
    let _ = writeln!(
        out,
        "<text x=\"{label_w:.1}\" y=\"14\" fill=\"#616e7c\">{} →</text>\
<text x=\"{:.1}\" y=\"14\" text-anchor=\"end\" fill=\"#616e7c\">{} ↓</text>",
        escape(&caption),
        label_w - 8.0,
        escape(&fit(&grid.names[y], 24))
    );
    let top = 44.0;
    let every = columns
        .iter()
        .map(|c| (c.chars().count().min(12) as f64 * CHAR + 6.0) / cw)
        .fold(1.0f64, f64::max)
        .ceil() as usize;
    for (j, label) in columns.iter().enumerate().step_by(every.max(1)) {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#3e4c59\">{}</text>",
            label_w + (j as f64 + 0.5) * cw,
            top - 8.0,
            escape(&fit(label, 12))
        );
    }
    let shade = |n: f64| {
        let t = if hi > lo { (n - lo) / (hi - lo) } else { 0.5 };
        let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
        (
            format!(
                "#{:02x}{:02x}{:02x}",
                mix(239.0, 8.0),
                mix(243.0, 69.0),
                mix(255.0, 148.0)
            ),
            t,
        )
    };
    for (i, ((row, _), row_cells)) in rows.iter().zip(&cells).enumerate() {
        let ry = top + i as f64 * ch;
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#3e4c59\">{}</text>",
            label_w - 8.0,
            ry + ch / 2.0,
            escape(&fit(row, 28))
        );
        for (j, cell) in row_cells.iter().enumerate() {
            let Some((n, text)) = cell else { continue };
            let (fill, t) = shade(*n);
            let cx = label_w + j as f64 * cw;
            let _ = writeln!(
                out,
                "<rect class=\"cell\" x=\"{cx:.1}\" y=\"{ry:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"><title>{}</title></rect>",
                cw - 1.0,
                ch - 1.0,
                escape(&format!("{row} · {}: {text}", columns[j]))
            );
            if text.chars().count() as f64 * 6.2 + 4.0 <= cw {
                let _ = writeln!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" dominant-baseline=\"middle\" font-size=\"11\" fill=\"{}\">{}</text>",
                    cx + cw / 2.0,
                    ry + ch / 2.0,
                    if t > 0.5 { "#ffffff" } else { "#1f2933" },
                    escape(text)
                );
            }
        }
    }
    // The scale: five swatches from the lowest to the highest value.
    let ly = top + rows.len() as f64 * ch + 14.0;
    let fmt = |v: f64| tick_label(v, ((hi - lo) / 100.0).max(f64::MIN_POSITIVE));
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#616e7c\">{}</text>",
        label_w - 8.0,
        ly + 7.0,
        escape(&fmt(lo))
    );
    for s in 0..5 {
        let (fill, _) = shade(lo + (hi - lo) * s as f64 / 4.0);
        let _ = writeln!(
            out,
            "<rect x=\"{:.1}\" y=\"{ly:.1}\" width=\"24\" height=\"14\" fill=\"{fill}\"/>",
            label_w + s as f64 * 24.0
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" dominant-baseline=\"middle\" fill=\"#616e7c\">{}</text>",
        label_w + 5.0 * 24.0 + 8.0,
        ly + 7.0,
        escape(&fmt(hi))
    );
    (out, ly + 24.0)
}

/// Headline tiles: per row, the label `x` and the value `y` in large type;
/// a label with `%` and a value in 0..100 also gets a bar filled that far.
fn tiles(grid: &Grid, x: usize, y: usize) -> (String, f64) {
    let numbers = grid.numbers(y);
    let per_row = 3usize.min(grid.rows().max(1));
    let gap = 16.0;
    let tw = (WIDTH - gap * (per_row as f64 - 1.0)) / per_row as f64;
    let th = 96.0;
    let mut out = String::new();
    let shown = grid.rows().min(MAX_ITEMS);
    for (r, number) in numbers.iter().enumerate().take(shown) {
        let (tx, ty) = (
            (r % per_row) as f64 * (tw + gap),
            (r / per_row) as f64 * (th + gap),
        );
        let label = &grid.cells[r][x];
        let value = &grid.cells[r][y];
        let _ = writeln!(
            out,
            "<g class=\"tile\"><title>{}: {}</title>\
<rect x=\"{tx:.1}\" y=\"{ty:.1}\" width=\"{tw:.1}\" height=\"{th:.1}\" rx=\"8\" fill=\"#f5f7fa\" stroke=\"#e4e7eb\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" fill=\"#52606d\">{}</text>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"28\" font-weight=\"600\" fill=\"#1f2933\">{}</text>",
            escape(label),
            escape(value),
            tx + 14.0,
            ty + 26.0,
            escape(&fit(label, ((tw - 28.0) / 7.2) as usize)),
            tx + 14.0,
            ty + 62.0,
            escape(&fit(value, ((tw - 28.0) / 17.0) as usize))
        );
        if let Some(v) = *number
            && label.contains('%')
            && (0.0..=100.0).contains(&v)
        {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"8\" rx=\"4\" fill=\"#e4e7eb\"/>\
<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"8\" rx=\"4\" fill=\"{}\"/>",
                tx + 14.0,
                ty + 76.0,
                tw - 28.0,
                tx + 14.0,
                ty + 76.0,
                (tw - 28.0) * v / 100.0,
                PALETTE[0]
            );
        }
        out.push_str("</g>\n");
    }
    let rows = shown.div_ceil(per_row) as f64;
    (out, rows * (th + gap) - gap + 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            ticks(0.0, 9.3, 5),
            (vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0], 2.0)
        );
        let (t, step) = ticks(-12.0, 40.0, 6);
        assert_eq!((t[0], step), (-20.0, 10.0));
        assert_eq!(tick_label(15000.0, 5000.0), "15k");
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(tick_label(-0.0, 0.5), "0");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
