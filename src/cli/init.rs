//! `saasql init DIR`: a new project that runs at once on the bundled sample.
//!
//! The files are this repository's own `saasql.toml`, `models/` and `sql/`,
//! built into the command ([`BUNDLED`]), so a new project starts with exactly
//! what the repository's tests check; `data/` is the bundled sample,
//! generated with the parameters that made `data/` here.

use std::path::Path;

use super::error::{CliError, CliResult};
use super::r#gen::GenOptions;
use super::r#gen::generator::generate;
use super::project::PROJECT_FILE;

/// One bundled file: its path in the project and its text.
macro_rules! bundled {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)))),*]
    };
}

/// The files `saasql init` writes (besides `data/`). A test checks that
/// this list names every file of the repository's `models/` and `sql/`.
pub const BUNDLED: &[(&str, &str)] = bundled![
    "saasql.toml",
    "models/customer_lifetimes.sql",
    "models/mrr_by_month.sql",
    "models/report_months.sql",
    "sql/churn.sql",
    "sql/churn_conventions.sql",
    "sql/clv.sql",
    "sql/cohorts.sql",
    "sql/engagement.sql",
    "sql/health.sql",
    "sql/ltv.sql",
    "sql/mrr_movements.sql",
    "sql/overview.sql",
    "sql/retention.sql",
    "sql/stickiness.sql",
    "sql/support.sql",
    "sql/surveys.sql",
];

/// The generator options that made the bundled `data/` (data/README.md).
fn sample_options(out: &Path) -> GenOptions {
    GenOptions {
        customers: 300,
        days: 180,
        seed: 42,
        out: out.to_path_buf(),
        start_date: saasql::util::time::parse_date("2025-01-01").expect("a valid date"),
        ..GenOptions::default()
    }
}

/// Writes a new project into `dir`, which must be missing or empty. The
/// project is built in a temporary folder next to `dir` and renamed into
/// place, so an interrupted or failed init leaves nothing behind.
pub async fn run_init(dir: &Path, with_data: bool) -> CliResult<()> {
    let refuse = |why: &str| {
        CliError::usage(format!(
            "init {}: {why}; saasql init writes a new project into a missing or empty folder",
            dir.display()
        ))
    };
    if dir.exists() {
        if !dir.is_dir() {
            return Err(refuse("is a file"));
        }
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| CliError::write(&format!("init {}", dir.display()), &e))?;
        if entries.next().is_some() {
            return Err(refuse("is not empty"));
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let cannot = |e: std::io::Error| CliError::write(&format!("the project {}", dir.display()), &e);
    std::fs::create_dir_all(&parent).map_err(cannot)?;
    let staging = tempfile::Builder::new()
        .prefix(".saasql-init-")
        .tempdir_in(&parent)
        .map_err(cannot)?;
    for (path, text) in BUNDLED {
        let target = staging.path().join(path);
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder).map_err(cannot)?;
        }
        std::fs::write(&target, text).map_err(cannot)?;
    }
    let data = staging.path().join("data");
    std::fs::create_dir_all(&data).map_err(cannot)?;
    if with_data {
        let options = sample_options(&data);
        tokio::task::spawn_blocking(move || generate(&options, &mut |_, _| {}))
            .await
            .map_err(|e| CliError::query(format!("the generator failed: {e}")))??;
    }
    // An empty `dir` is replaced by the finished project.
    if dir.exists() {
        std::fs::remove_dir(dir).map_err(cannot)?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(cannot(e));
    }
    let shown = dir.display();
    eprintln!(
        "created the project {shown}: {PROJECT_FILE}, models/ ({} views), sql/ ({} reports), data/{}\n\
         next: cd {shown} && saasql run sql/overview.sql   (saasql models, saasql config; docs/project.md)",
        BUNDLED
            .iter()
            .filter(|(p, _)| p.starts_with("models/"))
            .count(),
        BUNDLED
            .iter()
            .filter(|(p, _)| p.starts_with("sql/"))
            .count(),
        if with_data {
            " (the sample: 300 customers, 180 days)"
        } else {
            " (empty: put your exports there)"
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the repository's models/ and sql/ is bundled.
    #[test]
    fn bundled_names_every_model_and_report() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = vec!["saasql.toml".to_string()];
        for folder in ["models", "sql"] {
            let mut names: Vec<String> = std::fs::read_dir(root.join(folder))
                .unwrap()
                .map(|e| format!("{folder}/{}", e.unwrap().file_name().to_string_lossy()))
                .filter(|n| n.ends_with(".sql"))
                .collect();
            names.sort();
            on_disk.extend(names);
        }
        let bundled: Vec<String> = BUNDLED.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(bundled, on_disk);
    }
}
