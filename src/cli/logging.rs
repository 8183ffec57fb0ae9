//! Logs: `tracing` events (and the `log` records Ballista writes) as lines on
//! stderr, filtered by `-v`/`-vv` or `RUST_LOG`.
//!
//! A query command (`run`, `batch`, `-c`, the shell) logs only warnings and
//! errors by default, so its stderr holds nothing but its own messages; a
//! server (`saasql scheduler`, `saasql executor`) logs saasql's and
//! Ballista's `info` lines, so it reports start-up, executors, jobs, stages
//! and shutdown. `-v` raises saasql and Ballista to `info`, `-vv` to
//! `debug`; other crates stay at `warn`. (Ballista's client also logs a failed
//! job as an error; saasql reports it once itself, so by default that line
//! is off.) Without `-v`, a non-empty
//! `RUST_LOG` (`RUST_LOG=ballista_scheduler=debug`) replaces the default.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{Event, Level, Metadata};
use tracing_log::NormalizeEvent;
use tracing_subscriber::EnvFilter;

use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The crates whose lines `-v` turns up: saasql's and Ballista's.
const OURS: [&str; 5] = [
    "saasql",
    "ballista",
    "ballista_core",
    "ballista_scheduler",
    "ballista_executor",
];

/// Where Ballista's client logs a failed job.
const JOB_ERRORS: &str = "ballista_core::execution_plans::distributed_query";

/// The filter directives for `verbose` (`-v` count) on a `server` command or
/// a query command, when `RUST_LOG` does not decide.
fn directives(verbose: u8, server: bool) -> String {
    let level = match (verbose, server) {
        // A failed cluster job is the query's error, which saasql reports
        // once; Ballista's client logs it too.
        (0, false) => return format!("warn,{JOB_ERRORS}=off"),
        (0, true) | (1, _) => "info",
        _ => "debug",
    };
    let mut all = vec!["warn".to_string()];
    all.extend(OURS.iter().map(|krate| format!("{krate}={level}")));
    all.join(",")
}

/// Sends log lines to stderr from now on. `-v` wins over `RUST_LOG`, as a
/// flag wins over the environment elsewhere; a `RUST_LOG` that does not
/// parse falls back to the default with a warning.
pub fn init(verbose: u8, server: bool) {
    let default = directives(verbose, server);
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| verbose == 0 && !v.trim().is_empty());
    let (filter, bad) = match from_env {
        Some(spec) => match EnvFilter::try_new(&spec) {
            Ok(filter) => (filter, None),
            Err(e) => (
                EnvFilter::new(&default),
                Some(format!("RUST_LOG={spec}: {e}")),
            ),
        },
        None => (EnvFilter::new(&default), None),
    };
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true)
        .with_filter(filter)
        .with_filter(Quieter::default());
    let installed = tracing_subscriber::registry()
        .with(lines)
        .try_init()
        .is_ok();
    if installed && let Some(bad) = bad {
        tracing::warn!("ignoring {bad}");
    }
}

/// Where Ballista's executor logs a failed request for work: every 50 ms
/// while the scheduler is gone.
const POLL_FAILURES: &str = "ballista_executor::execution_loop";

/// How often such a warning is shown at most.
const QUIET_FOR: Duration = Duration::from_secs(10);

/// Lets through at most one [`POLL_FAILURES`] warning per [`QUIET_FOR`]:
/// a dead scheduler is said every 10 s, not 20 times a second.
#[derive(Debug, Default)]
struct Quieter {
    last: Mutex<Option<Instant>>,
}

impl<S> Filter<S> for Quieter {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    /// Decided per event, not in `enabled`: the `log` bridge asks `enabled`
    /// once more before it sends the event.
    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if *meta.level() != Level::WARN || meta.target() != POLL_FAILURES {
            return true;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < QUIET_FOR) {
            return false;
        }
        *last = Some(now);
        true
    }

    fn callsite_enabled(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // Decided per event (the log records Ballista writes share callsites).
        tracing::subscriber::Interest::sometimes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_by_command_and_verbosity() {
        assert!(directives(0, false).starts_with("warn,"));
        assert!(EnvFilter::try_new(directives(0, false)).is_ok());
        for (verbose, server, level) in [(0, true, "info"), (1, false, "info"), (2, true, "debug")]
        {
            let d = directives(verbose, server);
            assert!(d.starts_with("warn,saasql="), "{d}");
            assert!(d.contains(&format!("ballista_scheduler={level}")), "{d}");
            assert!(EnvFilter::try_new(&d).is_ok(), "{d}");
        }
    }
}
