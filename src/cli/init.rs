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
    "sql/arr_by_plan.sql",
    "sql/churn.sql",
    "sql/churn_conventions.sql",
    "sql/clv.sql",
    "sql/cohorts.sql",
    "sql/customers_by_plan.sql",
    "sql/engagement.sql",
    "sql/event_coverage.sql",
    "sql/health.sql",
    "sql/ltv.sql",
    "sql/mrr_movements.sql",
    "sql/mrr_reconcile.sql",
    "sql/mrr_waterfall.sql",
    "sql/nrr_cohorts.sql",
    "sql/overview.sql",
    "sql/retention.sql",
    "sql/stickiness.sql",
    "sql/support.sql",
    "sql/surveys.sql",
    "tests/checks/mrr_never_negative.sql",
    "tests/checks/survey_scores_in_range.sql",
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

/// A staging folder, removed when dropped (on any failure).
struct Staging(std::path::PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
    let cannot = |e: std::io::Error| CliError::write(&format!("the project {}", dir.display()), &e);
    // `init .` and `init ../x`: the folder by its absolute name, so that its
    // parent is a real folder.
    let target = std::path::absolute(dir).map_err(cannot)?;
    let target: std::path::PathBuf = target.components().collect();
    let parent = target
        .parent()
        .ok_or_else(|| refuse("has no parent folder"))?
        .to_path_buf();
    std::fs::create_dir_all(&parent).map_err(cannot)?;
    // The staging folder is made like any folder (its mode follows the
    // umask), next to the target so that the final rename stays on one
    // file system; it is removed if anything fails.
    let staging = Staging(parent.join(format!(
        ".saasql-init-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    )));
    std::fs::create_dir(&staging.0).map_err(cannot)?;
    for (path, text) in BUNDLED {
        let file = staging.0.join(path);
        if let Some(folder) = file.parent() {
            std::fs::create_dir_all(folder).map_err(cannot)?;
        }
        std::fs::write(&file, text).map_err(cannot)?;
    }
    let data = staging.0.join("data");
    std::fs::create_dir_all(&data).map_err(cannot)?;
    if with_data {
        let options = sample_options(&data);
        tokio::task::spawn_blocking(move || generate(&options, &mut |_, _| {}))
            .await
            .map_err(|e| CliError::query(format!("the generator failed: {e}")))??;
    }
    if target.exists() {
        // An existing empty folder (perhaps the shell's working directory,
        // `saasql init .`) stays: the project's entries move into it, and
        // out again if one cannot.
        let entries: Vec<std::ffi::OsString> = std::fs::read_dir(&staging.0)
            .map_err(cannot)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        let mut moved = vec![];
        for name in entries {
            if let Err(e) = std::fs::rename(staging.0.join(&name), target.join(&name)) {
                for done in moved {
                    let _ = std::fs::rename(target.join(&done), staging.0.join(&done));
                }
                return Err(cannot(e));
            }
            moved.push(name);
        }
    } else {
        std::fs::rename(&staging.0, &target).map_err(cannot)?;
        std::mem::forget(staging);
    }
    let next = if target == std::path::absolute(".").unwrap_or_default() {
        "saasql run sql/overview.sql".to_string()
    } else {
        format!("cd {} && saasql run sql/overview.sql", dir.display())
    };
    eprintln!(
        "created the project {}: {PROJECT_FILE}, models/ ({} views), sql/ ({} reports), tests/ (checks), data/{}\n\
         next: {next}   (then saasql models, saasql test, saasql config)",
        dir.display(),
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
        for folder in ["models", "sql", "tests/checks"] {
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
