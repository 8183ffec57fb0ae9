//! What `saasql gen` makes: its options and their limits, the summary it
//! returns, and the time window the options describe.

use std::path::PathBuf;

use datafusion::common::{DataFusionError, Result};

use saasql::util::time::MICROS_PER_DAY;

pub(super) const US_PER_SEC: i64 = 1_000_000;
pub(super) const US_PER_MIN: i64 = 60 * US_PER_SEC;
pub(super) const US_PER_HOUR: i64 = 60 * US_PER_MIN;
pub(super) const US_PER_DAY: i64 = MICROS_PER_DAY;
pub(super) const DAY_F: f64 = US_PER_DAY as f64;
pub(super) const HOUR_F: f64 = US_PER_HOUR as f64;
pub(super) const MIN_F: f64 = US_PER_MIN as f64;

/// Days of history (sign-ups, subscriptions, invoices) before the start date.
pub const HISTORY_DAYS: i64 = 365;
/// 2025-01-01 in days since 1970-01-01.
pub const DEFAULT_START_DATE: i32 = 20_089;
/// Largest accepted `days`.
pub const MAX_DAYS: u32 = 10_000;
/// Largest accepted `customers`.
pub const MAX_CUSTOMERS: u64 = 1_000_000_000;

/// Rows per record batch handed to the Parquet writer.
pub(super) const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet row group.
pub(super) const ROW_GROUP_ROWS: usize = 1024 * 1024;
/// `progress("customers", n)` is reported every this many customers.
pub(super) const PROGRESS_EVERY: u64 = 256;

/// Options of [`generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// Number of customers; their ids are `1..=customers`.
    pub customers: u64,
    /// Length of the activity window in days, from `start_date`.
    pub days: u32,
    /// Seed of the pseudo-random generator.
    pub seed: u64,
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// First day of the activity window, in days since 1970-01-01 (UTC).
    pub start_date: i32,
    /// Rows per `events/part-NNNNN.parquet` file.
    pub events_per_file: usize,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            customers: 200,
            days: 120,
            seed: 42,
            out: PathBuf::from("data"),
            start_date: DEFAULT_START_DATE,
            events_per_file: 5_000_000,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// `(table, rows, bytes written)` in the order customers, events,
    /// subscriptions, invoices, surveys, tickets.
    pub tables: Vec<(String, u64, u64)>,
}

pub(super) fn validate(opts: &GenOptions) -> Result<()> {
    let bad = |msg: String| Err(DataFusionError::Configuration(msg));
    if opts.customers > MAX_CUSTOMERS {
        return bad(format!(
            "gen: customers {} is outside 0..{MAX_CUSTOMERS}",
            opts.customers
        ));
    }
    if !(1..=MAX_DAYS).contains(&opts.days) {
        return bad(format!("gen: days {} is outside 1..{MAX_DAYS}", opts.days));
    }
    // Years 1900 to 9999, so every timestamp fits comfortably.
    if !(-25_567..=2_932_896).contains(&opts.start_date) {
        return bad(format!(
            "gen: start date {} is outside 1900-01-01..9999-12-31",
            opts.start_date
        ));
    }
    if opts.events_per_file == 0 {
        return bad("gen: events_per_file must be at least 1".to_string());
    }
    Ok(())
}

/// Time bounds in microseconds since the epoch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) history_start: i64,
    pub(super) start: i64,
    pub(super) end: i64,
}

impl Window {
    pub(super) fn new(opts: &GenOptions) -> Self {
        let start = i64::from(opts.start_date) * US_PER_DAY;
        Self {
            history_start: start - HISTORY_DAYS * US_PER_DAY,
            start,
            end: start + i64::from(opts.days) * US_PER_DAY,
        }
    }
}
