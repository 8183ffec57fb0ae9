//! The `-- chart:` comment directive that steers a result's chart in
//! `--format html`:
//!
//! ```text
//! -- chart: KIND [KEY=VALUE]...
//! KIND    bar | line | heatmap | kpi | none
//! bar     x=CATEGORY y=NUMBER[,NUMBER…] [series=COLUMN]
//! line    x=TIME|NUMBER|CATEGORY y=NUMBER[,NUMBER…] [series=COLUMN]
//! heatmap x=COLUMN y=COLUMN value=NUMBER   (or y=COLUMN value=LIST, no x)
//! kpi     x=LABEL y=NUMBER                 (one tile per row)
//! none    (no chart; the table only)
//! ```
//!
//! The directive is a `--` comment among those just before a statement that
//! returns rows. Keys may be left out (the automatic choice fills them in);
//! column names are the result's, without spaces or quotes.

use std::fmt;

/// Which chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bars per category (stacked by `series`, side by side for several `y`).
    Bar,
    /// Lines over time (one per `y` column or per `series` value).
    Line,
    /// A grid of coloured cells (cohort × period).
    Heatmap,
    /// One tile per row with a big number (headline metrics).
    Kpi,
    /// No chart.
    None,
}

impl Kind {
    const ALL: [(&'static str, Kind); 5] = [
        ("bar", Kind::Bar),
        ("line", Kind::Line),
        ("heatmap", Kind::Heatmap),
        ("kpi", Kind::Kpi),
        ("none", Kind::None),
    ];

    /// The keys this kind takes.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Bar | Kind::Line => &["x", "y", "series"],
            Kind::Heatmap => &["x", "y", "value"],
            Kind::Kpi => &["x", "y"],
            Kind::None => &[],
        }
    }

    /// The name written in a directive.
    pub fn name(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("none", |(n, _)| n)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The chart.
    pub kind: Kind,
    /// `x=`: the category, time or column axis.
    pub x: Option<String>,
    /// `y=`: the value columns (bar, line, kpi) or the rows (heatmap).
    pub y: Vec<String>,
    /// `series=`: one bar part or line per value of this column.
    pub series: Option<String>,
    /// `value=`: a heat map's cell values.
    pub value: Option<String>,
}

/// The text after `chart:` in a comment, if the comment is a directive.
pub fn directive_text(comment: &str) -> Option<&str> {
    let text = comment.trim();
    let head = text.get(..6)?;
    head.eq_ignore_ascii_case("chart:")
        .then(|| text[6..].trim())
}

/// Parses a directive's text (after `chart:`), or says what is wrong and
/// what is allowed.
pub fn parse(text: &str) -> Result<Directive, String> {
    let mut words = text.split_whitespace();
    let allowed_kinds = || {
        Kind::ALL
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(word) = words.next() else {
        return Err(format!("no chart named; allowed: {}", allowed_kinds()));
    };
    let Some(kind) = Kind::ALL
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(word))
        .map(|(_, k)| *k)
    else {
        return Err(format!(
            "unknown chart '{word}'; allowed: {}",
            allowed_kinds()
        ));
    };
    let mut d = Directive {
        kind,
        x: None,
        y: vec![],
        series: None,
        value: None,
    };
    let allowed_keys = || {
        if kind.keys().is_empty() {
            format!("{kind} takes no keys")
        } else {
            format!("{kind} takes {}", kind.keys().join(", "))
        }
    };
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("'{word}' is not KEY=VALUE; {}", allowed_keys()));
        };
        let key = key.to_ascii_lowercase();
        if !kind.keys().contains(&key.as_str()) {
            return Err(format!("unknown key '{key}'; {}", allowed_keys()));
        }
        let names: Vec<String> = value.split(',').map(str::to_string).collect();
        if value.is_empty() || names.iter().any(String::is_empty) {
            return Err(format!("{key}= needs a column name, got '{value}'"));
        }
        let many = key == "y" && matches!(kind, Kind::Bar | Kind::Line);
        if names.len() > 1 && !many {
            return Err(format!(
                "{key}= takes one column, got '{value}' (only bar and line take several y columns)"
            ));
        }
        let slot_taken = match key.as_str() {
            "x" => d.x.replace(value.to_string()).is_some(),
            "series" => d.series.replace(value.to_string()).is_some(),
            "value" => d.value.replace(value.to_string()).is_some(),
            _ => !std::mem::replace(&mut d.y, names).is_empty(),
        };
        if slot_taken {
            return Err(format!("{key}= is given twice"));
        }
    }
    if d.series.is_some() && d.y.len() > 1 {
        return Err("series= takes one y column (several y columns are already the series)".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_parse() {
        let d = parse("line x=month y=mrr,churn").unwrap();
        assert_eq!(d.kind, Kind::Line);
        assert_eq!(d.x.as_deref(), Some("month"));
        assert_eq!(d.y, ["mrr", "churn"]);
        assert_eq!(parse("NONE").unwrap().kind, Kind::None);
        let d = parse("heatmap y=cohort value=retention").unwrap();
        assert_eq!(d.value.as_deref(), Some("retention"));
        assert_eq!(directive_text("  Chart: bar x=a"), Some("bar x=a"));
        assert_eq!(directive_text("charts are nice"), None);
    }

    #[test]
    fn bad_directives_say_what_is_allowed() {
        let err = |t: &str| parse(t).unwrap_err();
        assert_eq!(
            err("pie x=a"),
            "unknown chart 'pie'; allowed: bar, line, heatmap, kpi, none"
        );
        assert_eq!(
            err(""),
            "no chart named; allowed: bar, line, heatmap, kpi, none"
        );
        assert_eq!(
            err("bar colour=red"),
            "unknown key 'colour'; bar takes x, y, series"
        );
        assert_eq!(err("none x=a"), "unknown key 'x'; none takes no keys");
        assert_eq!(
            err("line month"),
            "'month' is not KEY=VALUE; line takes x, y, series"
        );
        assert_eq!(err("line x="), "x= needs a column name, got ''");
        assert_eq!(err("bar y=a,"), "y= needs a column name, got 'a,'");
        assert_eq!(
            err("heatmap x=a,b"),
            "x= takes one column, got 'a,b' (only bar and line take several y columns)"
        );
        assert_eq!(err("bar x=a x=b"), "x= is given twice");
        assert_eq!(
            err("line y=a,b series=c"),
            "series= takes one y column (several y columns are already the series)"
        );
    }
}
