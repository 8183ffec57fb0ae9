//! Deterministic synthetic data for the canonical tables (`saasql gen`).
//!
//! [`generate`] writes the six canonical tables of the SPEC (`customers`,
//! `events`, `subscriptions`, `invoices`, `surveys`, `tickets`) as Parquet
//! files. The data comes from a small simulation of a B2B SaaS business:
//!
//! * customers sign up over the year before the activity window and during it
//!   (acquisition grows over time), each with a segment, a country, a number
//!   of users and a log-normal engagement level (a few power users);
//! * every customer starts a subscription when signing up; at each billing
//!   boundary the subscription may churn, upgrade or downgrade (a plan change
//!   ends the subscription and starts a new one at the same instant); some
//!   churned customers come back later (reactivation);
//! * invoices are issued at the start of every billing period;
//! * usage events, support tickets and survey answers are produced day by day
//!   while the customer has an active subscription inside the activity window;
//!   activity fades over the weeks before a churn, tickets are more frequent
//!   and NPS answers more negative for customers about to churn.
//!
//! Randomness comes from a local xoshiro256** generator. Every customer draws
//! from its own streams derived from `(seed, customer_id, purpose)`, and
//! customers are processed in id order, so the same options always give
//! byte-identical files. Events are streamed through the Parquet writer in
//! batches of about 64K rows, so memory stays bounded whatever the scale.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;

const US_PER_SEC: i64 = 1_000_000;
const US_PER_MIN: i64 = 60 * US_PER_SEC;
const US_PER_HOUR: i64 = 60 * US_PER_MIN;
const US_PER_DAY: i64 = 24 * US_PER_HOUR;
const DAY_F: f64 = US_PER_DAY as f64;
const HOUR_F: f64 = US_PER_HOUR as f64;
const MIN_F: f64 = US_PER_MIN as f64;

/// Days of history (sign-ups, subscriptions, invoices) before the start date.
pub const HISTORY_DAYS: i64 = 365;
/// 2025-01-01 in days since 1970-01-01.
pub const DEFAULT_START_DATE: i32 = 20_089;
/// Largest accepted `days`.
pub const MAX_DAYS: u32 = 10_000;
/// Largest accepted `customers`.
pub const MAX_CUSTOMERS: u64 = 1_000_000_000;

/// Rows per record batch handed to the Parquet writer.
const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 1024 * 1024;
/// `progress("customers", n)` is reported every this many customers.
const PROGRESS_EVERY: u64 = 256;

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

/// Generates the canonical tables under `opts.out`.
///
/// Layout: `customers.parquet`, `subscriptions.parquet`, `invoices.parquet`,
/// `surveys.parquet`, `tickets.parquet`, and `events/part-00000.parquet`,
/// `part-00001.parquet`, ... with `opts.events_per_file` rows each. Files are
/// written under temporary names and renamed once everything succeeded; an
/// existing `events/` folder is replaced (it may only hold `part-*.parquet`).
///
/// `progress` is called with `("customers", n)` while generating, where `n`
/// counts up to `opts.customers`, then once per table with `(table, rows)`
/// when the files are complete.
///
/// The activity window is `[start, start + days)` (UTC midnight boundaries).
/// Every timestamp lies in `[start - 365 days, start + days)`, except
/// `invoices.period_end` of billing periods still running at the end of the
/// window, which is the real (future) end of that period.
pub fn generate(opts: &GenOptions, progress: &mut dyn FnMut(&str, u64)) -> Result<GenSummary> {
    validate(opts)?;
    fs::create_dir_all(&opts.out)?;
    let events_dir = opts.out.join(Table::Events.name());
    check_replaceable_events_dir(&events_dir)?;

    let paths = TempPaths::new(&opts.out);
    let result = run(opts, &paths, progress);
    if result.is_err() {
        paths.remove();
    }
    let written = result?;

    // Everything was written: move the files into place.
    let mut summary = GenSummary::default();
    for w in written {
        let bytes = w
            .files
            .iter()
            .map(|f| fs::metadata(f).map(|m| m.len()))
            .sum::<std::io::Result<u64>>()?;
        if w.table == Table::Events {
            remove_events_dir(&events_dir)?;
            fs::rename(&paths.events_dir, &events_dir)?;
        } else {
            fs::rename(paths.file(w.table), opts.out.join(w.table.file_name()))?;
        }
        summary
            .tables
            .push((w.table.name().to_string(), w.rows, bytes));
    }
    for (table, rows, _) in &summary.tables {
        progress(table, *rows);
    }
    Ok(summary)
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01, for `--start`.
pub fn parse_date(s: &str) -> Result<i32> {
    let invalid =
        || DataFusionError::Configuration(format!("invalid date '{s}': expected YYYY-MM-DD"));
    let mut parts = s.trim().splitn(3, '-');
    let mut next = |len: usize| -> Result<i64> {
        let p = parts.next().ok_or_else(invalid)?;
        if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        p.parse::<i64>().map_err(|_| invalid())
    };
    let (y, m, d) = (next(4)?, next(2)?, next(2)?);
    if !(1..=12).contains(&m) || d < 1 || d > i64::from(days_in_month(y, m as u32)) {
        return Err(invalid());
    }
    i32::try_from(days_from_civil(y, m as u32, d as u32)).map_err(|_| invalid())
}

/// Formats days since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

fn validate(opts: &GenOptions) -> Result<()> {
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

// ---------------------------------------------------------------------------
// Tables and schemas
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Customers,
    Events,
    Subscriptions,
    Invoices,
    Surveys,
    Tickets,
}

const TABLES: [Table; 6] = [
    Table::Customers,
    Table::Events,
    Table::Subscriptions,
    Table::Invoices,
    Table::Surveys,
    Table::Tickets,
];

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::Events => "events",
            Table::Subscriptions => "subscriptions",
            Table::Invoices => "invoices",
            Table::Surveys => "surveys",
            Table::Tickets => "tickets",
        }
    }

    fn file_name(self) -> String {
        format!("{}.parquet", self.name())
    }

    fn schema(self) -> SchemaRef {
        let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
        let fields = match self {
            Table::Customers => vec![
                f("customer_id", DataType::Int64, false),
                f("name", DataType::Utf8, false),
                f("segment", DataType::Utf8, false),
                f("plan", DataType::Utf8, false),
                f("country", DataType::Utf8, false),
                f("signed_up_at", ts(), false),
            ],
            Table::Events => vec![
                f("event_time", ts(), false),
                f("customer_id", DataType::Int64, false),
                f("user_id", DataType::Int64, false),
                f("event_name", DataType::Utf8, false),
                f("session_id", DataType::Int64, false),
            ],
            Table::Subscriptions => vec![
                f("subscription_id", DataType::Int64, false),
                f("customer_id", DataType::Int64, false),
                f("plan", DataType::Utf8, false),
                f("billing_interval", DataType::Utf8, false),
                f("amount", DataType::Float64, false),
                f("currency", DataType::Utf8, false),
                f("started_at", ts(), false),
                f("ended_at", ts(), true),
            ],
            Table::Invoices => vec![
                f("invoice_id", DataType::Int64, false),
                f("customer_id", DataType::Int64, false),
                f("subscription_id", DataType::Int64, false),
                f("period_start", ts(), false),
                f("period_end", ts(), false),
                f("amount", DataType::Float64, false),
                f("currency", DataType::Utf8, false),
                f("status", DataType::Utf8, false),
                f("paid_at", ts(), true),
            ],
            Table::Surveys => vec![
                f("customer_id", DataType::Int64, false),
                f("user_id", DataType::Int64, false),
                f("kind", DataType::Utf8, false),
                f("score", DataType::Int64, false),
                f("responded_at", ts(), false),
            ],
            Table::Tickets => vec![
                f("ticket_id", DataType::Int64, false),
                f("customer_id", DataType::Int64, false),
                f("opened_at", ts(), false),
                f("resolved_at", ts(), true),
                f("resolved_on_first_contact", DataType::Boolean, true),
                f("channel", DataType::Utf8, false),
            ],
        };
        Arc::new(Schema::new(fields))
    }

    fn writer_properties(self) -> Result<WriterProperties> {
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
        if self == Table::Events {
            // Nearly unique and ascending within a customer: delta encoding
            // beats a dictionary that would overflow anyway.
            for column in ["event_time", "session_id"] {
                builder = builder
                    .set_column_dictionary_enabled(ColumnPath::from(column), false)
                    .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
            }
        }
        Ok(builder.build())
    }
}

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

const STREAM_PROFILE: u64 = 1;
const STREAM_LIFECYCLE: u64 = 2;
const STREAM_BILLING: u64 = 3;
const STREAM_USAGE: u64 = 4;
const STREAM_SUPPORT: u64 = 5;
const STREAM_SURVEYS: u64 = 6;

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** seeded through SplitMix64, with the few distributions the
/// simulation needs.
#[derive(Debug, Clone)]
struct Rng {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

impl Rng {
    fn from_seed(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self {
            s,
            spare_normal: None,
        }
    }

    /// An independent stream for one purpose of one customer.
    fn stream(seed: u64, customer_id: u64, purpose: u64) -> Self {
        let mut sm = seed;
        let a = splitmix64(&mut sm);
        let mut sm = a ^ customer_id.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let b = splitmix64(&mut sm);
        let mut sm = b ^ purpose.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
        Self::from_seed(splitmix64(&mut sm))
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal (Box-Muller, both values used).
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    /// `exp(N(mu, sigma²))`.
    fn log_normal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }

    /// Exponential with the given mean.
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }

    /// Poisson: Knuth's product method for small means, a rounded normal
    /// approximation above 30.
    fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = self.uniform();
        while p > limit {
            k += 1;
            p *= self.uniform();
        }
        k
    }

    /// Index drawn with probability proportional to `weights`.
    fn pick(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            let w = u64::from(w);
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// Index drawn from cumulative weights (last element is the total).
    fn pick_cumulative(&mut self, cumulative: &[u32]) -> usize {
        let x = self.below(u64::from(cumulative[cumulative.len() - 1])) as u32;
        cumulative.iter().position(|&c| x < c).unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------
// Calendar (proleptic Gregorian, UTC)
// ---------------------------------------------------------------------------

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `ts` moved by whole calendar months, keeping the time of day; the day of
/// month is clamped to the target month's length (Jan 31 + 1 month = Feb 28).
fn add_months(ts: i64, months: i64) -> i64 {
    let day = ts.div_euclid(US_PER_DAY);
    let time = ts.rem_euclid(US_PER_DAY);
    let (y, m, d) = civil_from_days(day);
    let total = y * 12 + i64::from(m) - 1 + months;
    let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    let nd = d.min(days_in_month(ny, nm));
    days_from_civil(ny, nm, nd) * US_PER_DAY + time
}

/// Monday = 0 ... Sunday = 6.
fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

// ---------------------------------------------------------------------------
// Domain tables
// ---------------------------------------------------------------------------

const SEGMENTS: [&str; 3] = ["smb", "mid_market", "enterprise"];
const SEGMENT_WEIGHTS: [u32; 3] = [65, 25, 10];

const PLANS: [&str; 4] = ["starter", "growth", "pro", "enterprise"];
const ENTERPRISE_PLAN: usize = 3;
/// Initial plan by segment.
const PLAN_WEIGHTS: [[u32; 4]; 3] = [[55, 35, 10, 0], [0, 40, 50, 10], [0, 0, 30, 70]];

const INTERVALS: [&str; 3] = ["month", "quarter", "year"];
const INTERVAL_MONTHS: [i64; 3] = [1, 3, 12];
const MONTH: usize = 0;
const YEAR: usize = 2;
/// Initial billing interval by segment.
const INTERVAL_WEIGHTS: [[u32; 3]; 3] = [[85, 3, 12], [60, 5, 35], [22, 5, 73]];
/// Price of a billing period relative to its months at the monthly price.
const INTERVAL_DISCOUNT: [f64; 3] = [1.0, 0.95, 10.0 / 12.0];

const CURRENCIES: [&str; 3] = ["USD", "EUR", "GBP"];
const USD: usize = 0;
const EUR: usize = 1;
const GBP: usize = 2;
/// Monthly list price by currency and plan (enterprise is a base for a
/// negotiated price).
const LIST_PRICE: [[f64; 4]; 3] = [
    [29.0, 99.0, 299.0, 1500.0],
    [29.0, 99.0, 299.0, 1500.0],
    [25.0, 85.0, 259.0, 1300.0],
];
/// Monthly churn hazard by segment, before the customer's risk multiplier.
const MONTHLY_CHURN: [f64; 3] = [0.05, 0.025, 0.01];

struct Country {
    code: &'static str,
    weight: u32,
    utc_offset_hours: i64,
    currency: usize,
    suffix: &'static str,
}

const fn country(
    code: &'static str,
    weight: u32,
    utc_offset_hours: i64,
    currency: usize,
    suffix: &'static str,
) -> Country {
    Country {
        code,
        weight,
        utc_offset_hours,
        currency,
        suffix,
    }
}

const COUNTRIES: [Country; 18] = [
    country("US", 34, -6, USD, " Inc."),
    country("GB", 10, 0, GBP, " Ltd"),
    country("DE", 8, 1, EUR, " GmbH"),
    country("CA", 5, -5, USD, " Inc."),
    country("FR", 5, 1, EUR, " SAS"),
    country("IN", 5, 5, USD, " Pvt Ltd"),
    country("NL", 4, 1, EUR, " B.V."),
    country("AU", 4, 10, USD, " Pty Ltd"),
    country("BR", 4, -3, USD, " Ltda"),
    country("ES", 3, 1, EUR, " S.L."),
    country("IT", 3, 1, EUR, " S.r.l."),
    country("SE", 3, 1, EUR, " AB"),
    country("JP", 3, 9, USD, ""),
    country("IE", 2, 0, EUR, " Ltd"),
    country("PL", 2, 1, EUR, ""),
    country("SG", 2, 8, USD, " Pte Ltd"),
    country("MX", 2, -6, USD, ""),
    country("ZA", 1, 2, USD, ""),
];

#[rustfmt::skip]
const NAME_FIRST: [&str; 40] = [
    "Acme", "Apex", "Aurora", "Beacon", "Blue", "Bright", "Cedar", "Clear", "Copper", "Crimson",
    "Delta", "Ember", "Evergreen", "Falcon", "Golden", "Granite", "Harbor", "Iron", "Juniper",
    "Keystone", "Lumen", "Maple", "Meridian", "Nimbus", "North", "Nova", "Oak", "Orbit", "Pioneer",
    "Polar", "Quantum", "Redwood", "River", "Silver", "Solar", "Summit", "Swift", "Terra", "Vertex",
    "Willow",
];

#[rustfmt::skip]
const NAME_SECOND: [&str; 32] = [
    "Analytics", "Bio", "Capital", "Cloud", "Commerce", "Data", "Design", "Dynamics", "Energy",
    "Foods", "Freight", "Games", "Health", "Home", "Insights", "Labs", "Learning", "Legal",
    "Logistics", "Media", "Mobility", "Networks", "Partners", "Retail", "Robotics", "Security",
    "Software", "Studios", "Systems", "Travel", "Ventures", "Works",
];

const LOGIN: u8 = 0;
const TICKET_OPENED: u8 = 7;
const EVENT_NAMES: [&str; 9] = [
    "login",
    "dashboard_viewed",
    "report_created",
    "export_csv",
    "integration_connected",
    "teammate_invited",
    "api_call",
    "ticket_opened",
    "settings_changed",
];
/// In-session events after the login (login and ticket_opened are produced
/// separately), in the order of `EVENT_NAMES`.
const SESSION_WEIGHTS: [u32; 9] = [0, 340, 160, 90, 10, 1, 220, 0, 70];
/// The same during the first two weeks after sign-up: setting up.
const ONBOARDING_WEIGHTS: [u32; 9] = [0, 300, 120, 60, 100, 25, 150, 0, 120];

const SURVEY_KINDS: [&str; 3] = ["nps", "csat", "ces"];
const NPS: u8 = 0;
const CSAT: u8 = 1;
const CES: u8 = 2;
/// Detractor scores 0..=6.
const DETRACTOR_WEIGHTS: [u32; 7] = [2, 1, 2, 3, 5, 7, 10];
/// CSAT 1..=5 after a ticket resolved on first contact, otherwise, and for a
/// customer about to churn.
const CSAT_FCR: [u32; 5] = [2, 2, 6, 30, 60];
const CSAT_SLOW: [u32; 5] = [8, 10, 22, 35, 25];
const CSAT_AT_RISK: [u32; 5] = [16, 18, 26, 26, 14];
/// CES 1..=7, 7 = "very easy".
const CES_FCR: [u32; 7] = [1, 1, 3, 8, 17, 35, 35];
const CES_SLOW: [u32; 7] = [6, 9, 15, 22, 22, 17, 9];
const CES_ONBOARDING: [u32; 7] = [2, 3, 6, 12, 22, 30, 25];

const CHANNELS: [&str; 3] = ["email", "chat", "phone"];
const PHONE: usize = 2;
/// Ticket channel by segment.
const CHANNEL_WEIGHTS: [[u32; 3]; 3] = [[55, 40, 5], [50, 35, 15], [40, 30, 30]];
const FCR_PROBABILITY: [f64; 3] = [0.5, 0.74, 0.68];
/// Median minutes to resolve a ticket resolved on first contact, by channel.
const FCR_MINUTES: [f64; 3] = [180.0, 15.0, 12.0];

const INVOICE_STATUS: [&str; 4] = ["paid", "open", "void", "uncollectible"];
const PAID: usize = 0;
const OPEN: usize = 1;
const VOID: usize = 2;
const UNCOLLECTIBLE: usize = 3;

fn cumulative<const N: usize>(weights: [u32; N]) -> [u32; N] {
    let mut acc = 0;
    weights.map(|w| {
        acc += w;
        acc
    })
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn micros(x: f64) -> i64 {
    x.round() as i64
}

// ---------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------

/// Time bounds in microseconds since the epoch.
#[derive(Debug, Clone, Copy)]
struct Window {
    history_start: i64,
    start: i64,
    end: i64,
}

impl Window {
    fn new(opts: &GenOptions) -> Self {
        let start = i64::from(opts.start_date) * US_PER_DAY;
        Self {
            history_start: start - HISTORY_DAYS * US_PER_DAY,
            start,
            end: start + i64::from(opts.days) * US_PER_DAY,
        }
    }
}

/// Everything drawn once per customer.
#[derive(Debug)]
struct Profile {
    id: u64,
    segment: usize,
    country: usize,
    signed_up_at: i64,
    first_user_id: i64,
    /// Daily-active probability of each user on a weekday at level 1.
    users: Vec<f64>,
    /// Engagement multiplier, log-normal with mean 1.
    level: f64,
    /// Churn propensity multiplier; higher for less engaged customers.
    risk: f64,
    /// Trend of log-engagement per 90 days.
    drift: f64,
    /// Mean number of extra sessions on an active day.
    extra_sessions: f64,
    /// Mean number of events after the login in a session.
    events_per_session: f64,
    /// Negotiated monthly price of the enterprise plan.
    enterprise_price: f64,
    /// Tickets per active weekday.
    ticket_rate: f64,
}

impl Profile {
    fn draw(seed: u64, id: u64, w: &Window, first_user_id: i64) -> Self {
        let mut rng = Rng::stream(seed, id, STREAM_PROFILE);
        let segment = rng.pick(&SEGMENT_WEIGHTS);
        let weights = COUNTRIES.map(|c| c.weight);
        let country = rng.pick(&weights);

        // Acquisition grows exponentially (doubling per year) over the whole
        // history + window span; inverse-CDF sampling.
        let span_days = (w.end - w.history_start) as f64 / DAY_F;
        let g = std::f64::consts::LN_2 / 365.0;
        let u = rng.uniform();
        let t_days = (1.0 + u * ((g * span_days).exp() - 1.0)).ln() / g;
        let signed_up_at = (w.history_start + micros(t_days * DAY_F)).min(w.end - 1);

        let n_users = match segment {
            0 => rng.log_normal(2.5f64.ln(), 0.6).round().clamp(1.0, 25.0),
            1 => rng.log_normal(10f64.ln(), 0.6).round().clamp(3.0, 150.0),
            _ => rng.log_normal(35f64.ln(), 0.7).round().clamp(10.0, 900.0),
        } as usize;
        let mut users: Vec<f64> = (0..n_users)
            .map(|_| {
                let u = rng.uniform();
                0.03 + 0.55 * u * u
            })
            .collect();
        // The admin who bought the product is among the most active.
        users[0] = users[0].max(0.3);

        let level = rng.log_normal(-0.405, 0.9);
        let risk = rng.log_normal(-0.15, 0.55) * level.powf(-0.35);
        let drift = 0.12 * rng.normal();
        let extra_sessions = 0.35 * level.powf(0.8);
        let events_per_session = 1.8 * level.powf(0.25) * rng.log_normal(0.0, 0.2);
        let base = LIST_PRICE[COUNTRIES[country].currency][ENTERPRISE_PLAN];
        let enterprise_price =
            ((base * rng.log_normal(0.0, 0.4) / 50.0).round() * 50.0).max(base * 0.6);
        let ticket_rate = 0.01 * (n_users as f64).powf(0.6) * risk.powf(0.7);
        Self {
            id,
            segment,
            country,
            signed_up_at,
            first_user_id,
            users,
            level,
            risk,
            drift,
            extra_sessions,
            events_per_session,
            enterprise_price,
            ticket_rate,
        }
    }

    fn currency(&self) -> usize {
        COUNTRIES[self.country].currency
    }

    fn customer_id(&self) -> i64 {
        self.id as i64
    }

    fn user_id(&self, index: usize) -> i64 {
        self.first_user_id + index as i64
    }

    fn monthly_price(&self, plan: usize) -> f64 {
        if plan == ENTERPRISE_PLAN {
            self.enterprise_price
        } else {
            LIST_PRICE[self.currency()][plan]
        }
    }

    fn amount(&self, plan: usize, interval: usize) -> f64 {
        round_cents(
            self.monthly_price(plan)
                * INTERVAL_MONTHS[interval] as f64
                * INTERVAL_DISCOUNT[interval],
        )
    }

    /// Company name: the first `NAME_FIRST.len() * NAME_SECOND.len()`
    /// customers get distinct word pairs (a permutation of the pairs), later
    /// ones a number; the suffix is the country's usual company form.
    fn write_name(&self, out: &mut String) {
        let pairs = (NAME_FIRST.len() * NAME_SECOND.len()) as u64;
        let n = self.id.saturating_sub(1);
        let pair = (n % pairs * 797 % pairs) as usize;
        let round = n / pairs;
        out.clear();
        out.push_str(NAME_FIRST[pair % NAME_FIRST.len()]);
        out.push(' ');
        out.push_str(NAME_SECOND[pair / NAME_FIRST.len()]);
        if round > 0 {
            out.push(' ');
            out.push_str(&(round + 1).to_string());
        }
        out.push_str(COUNTRIES[self.country].suffix);
    }
}

/// How a subscription ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Still running at the end of the window.
    Active,
    /// The customer leaves at this instant.
    Churn(i64),
    /// Replaced by another plan at this instant.
    PlanChange { at: i64, plan: usize },
}

#[derive(Debug, Clone, Copy)]
struct Sub {
    plan: usize,
    interval: usize,
    amount: f64,
    started_at: i64,
    ended_at: Option<i64>,
    churned: bool,
}

/// A stretch of continuous paid subscription (plan changes merged).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: i64,
    /// Exclusive; the window end when still active.
    end: i64,
    churned: bool,
}

impl Span {
    /// Days until this span's churn, if `t` lies in a span that churns.
    fn days_to_churn(spans: &[Span], t: i64) -> Option<f64> {
        spans
            .iter()
            .find(|s| (s.start..s.end).contains(&t))
            .filter(|s| s.churned)
            .map(|s| (s.end - t) as f64 / DAY_F)
    }

    fn contains(spans: &[Span], t: i64) -> bool {
        spans.iter().any(|s| (s.start..s.end).contains(&t))
    }
}

/// Subscriptions of one customer, from sign-up to the end of the window.
fn simulate_subscriptions(p: &Profile, w: &Window, seed: u64, subs: &mut Vec<Sub>) {
    let mut rng = Rng::stream(seed, p.id, STREAM_LIFECYCLE);
    subs.clear();
    let mut plan = rng.pick(&PLAN_WEIGHTS[p.segment]);
    let mut interval = rng.pick(&INTERVAL_WEIGHTS[p.segment]);
    let mut started_at = p.signed_up_at;
    let hazard = (MONTHLY_CHURN[p.segment] * p.risk).min(0.5);
    loop {
        let months = INTERVAL_MONTHS[interval];
        // Decisions are taken at billing boundaries; annual commitments
        // churn less per month.
        let stickiness = if interval == YEAR { 0.7 } else { 1.0 };
        let p_churn = (1.0 - (1.0 - hazard).powi(months as i32)) * stickiness;
        let boundary_scale = (months as f64).sqrt();
        let p_up = if plan < ENTERPRISE_PLAN {
            (0.015 * p.level.powf(0.3) * boundary_scale).min(0.2)
        } else {
            0.0
        };
        let p_down = if plan > 0 {
            (0.006 * p.risk.sqrt() * boundary_scale).min(0.1)
        } else {
            0.0
        };
        let mut k = 1;
        let ending = loop {
            let boundary = add_months(started_at, k * months);
            if boundary >= w.end {
                break Ending::Active;
            }
            let u = rng.uniform();
            if u < p_churn {
                break Ending::Churn(boundary);
            }
            if u < p_churn + p_up {
                break Ending::PlanChange {
                    at: boundary,
                    plan: plan + 1,
                };
            }
            if u < p_churn + p_up + p_down {
                break Ending::PlanChange {
                    at: boundary,
                    plan: plan - 1,
                };
            }
            k += 1;
        };
        let ended_at = match ending {
            Ending::Active => None,
            Ending::Churn(at) | Ending::PlanChange { at, .. } => Some(at),
        };
        subs.push(Sub {
            plan,
            interval,
            amount: p.amount(plan, interval),
            started_at,
            ended_at,
            churned: matches!(ending, Ending::Churn(_)),
        });
        match ending {
            Ending::Active => break,
            Ending::PlanChange { at, plan: next } => {
                // Some monthly customers commit to a year when upgrading.
                if next > plan && interval == MONTH && rng.chance(0.25) {
                    interval = YEAR;
                }
                plan = next;
                started_at = at;
            }
            Ending::Churn(at) => {
                // A fifth come back after a while, often on a smaller plan.
                if !rng.chance(0.2) {
                    break;
                }
                started_at = at + micros((14.0 + rng.exponential(70.0)) * DAY_F);
                if started_at >= w.end {
                    break;
                }
                if plan > 0 && rng.chance(0.4) {
                    plan -= 1;
                }
                if rng.chance(0.8) {
                    interval = MONTH;
                }
            }
        }
    }
}

fn spans_of(subs: &[Sub], w: &Window, spans: &mut Vec<Span>) {
    spans.clear();
    for s in subs {
        let end = s.ended_at.unwrap_or(w.end);
        match spans.last_mut() {
            Some(last) if last.end == s.started_at => {
                last.end = end;
                last.churned = s.churned;
            }
            _ => spans.push(Span {
                start: s.started_at,
                end,
                churned: s.churned,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct EventRow {
    time: i64,
    user_id: i64,
    name: u8,
    session_id: i64,
}

#[derive(Debug, Clone, Copy)]
struct TicketRow {
    opened_at: i64,
    resolved_at: Option<i64>,
    first_contact: Option<bool>,
    channel: usize,
}

#[derive(Debug, Clone, Copy)]
struct SurveyRow {
    responded_at: i64,
    user_id: i64,
    kind: u8,
    score: i64,
}

/// Sequential ids, assigned in customer order.
#[derive(Debug)]
struct Ids {
    user: i64,
    subscription: i64,
    invoice: i64,
    ticket: i64,
    session: i64,
}

/// Returns `*counter` and advances it.
fn next_id(counter: &mut i64) -> i64 {
    let id = *counter;
    *counter += 1;
    id
}

/// Buffers reused from customer to customer.
#[derive(Debug, Default)]
struct Scratch {
    subs: Vec<Sub>,
    spans: Vec<Span>,
    day_events: Vec<EventRow>,
    tickets: Vec<TicketRow>,
    surveys: Vec<SurveyRow>,
    name: String,
}

/// Local time of day (hours) of work activity: a bell around early afternoon.
fn work_hour(rng: &mut Rng) -> f64 {
    (13.5 + 2.8 * rng.normal()).clamp(6.0, 23.9)
}

/// A UTC instant on `day_start`'s date at a local working hour of `country`.
fn work_time(rng: &mut Rng, day_start: i64, country: usize) -> i64 {
    let local = work_hour(rng) * HOUR_F;
    let utc = micros(local) - COUNTRIES[country].utc_offset_hours * US_PER_HOUR;
    day_start + utc.rem_euclid(US_PER_DAY)
}

fn nps_score(rng: &mut Rng, p: &Profile, days_to_churn: Option<f64>) -> i64 {
    let (promoter, detractor) = match days_to_churn {
        Some(d) if d < 120.0 => (0.12, 0.58),
        _ => {
            let x = p.risk.ln();
            (
                (0.47 - 0.3 * x).clamp(0.1, 0.85),
                (0.22 + 0.25 * x).clamp(0.03, 0.7),
            )
        }
    };
    let u = rng.uniform();
    if u < promoter {
        if rng.chance(0.55) { 10 } else { 9 }
    } else if u < 1.0 - detractor {
        if rng.chance(0.55) { 8 } else { 7 }
    } else {
        rng.pick(&DETRACTOR_WEIGHTS) as i64
    }
}

/// Usage events and tickets (with their CSAT/CES follow-ups), day by day.
struct Activity<'a> {
    p: &'a Profile,
    w: &'a Window,
    spans: &'a [Span],
    session_mix: [u32; 9],
    onboarding_mix: [u32; 9],
}

impl Activity<'_> {
    fn run(&self, seed: u64, ids: &mut Ids, scratch: &mut Scratch, events: &mut EventsSink) {
        let p = self.p;
        let mut usage = Rng::stream(seed, p.id, STREAM_USAGE);
        let mut support = Rng::stream(seed, p.id, STREAM_SUPPORT);
        for span in self.spans {
            let lo = span.start.max(self.w.start);
            let hi = span.end.min(self.w.end);
            if lo >= hi {
                continue;
            }
            // Disengagement starts two to six weeks before a churn.
            let fade_days = 14.0 + 28.0 * usage.uniform();
            for day in lo.div_euclid(US_PER_DAY)..=(hi - 1).div_euclid(US_PER_DAY) {
                let day_start = day * US_PER_DAY;
                let day_lo = lo.max(day_start);
                let day_hi = hi.min(day_start + US_PER_DAY);
                let noon = day_start + US_PER_DAY / 2;
                let to_churn = span.churned.then_some((span.end - noon) as f64 / DAY_F);
                let onboarding = noon - p.signed_up_at < 14 * US_PER_DAY;
                let weekend = weekday(day) >= 5;

                let mut mult = p.level
                    * (p.drift * (noon - self.w.start) as f64 / (90.0 * DAY_F)).exp()
                    * usage.log_normal(0.0, 0.25);
                if weekend {
                    mult *= 0.3;
                }
                if onboarding {
                    mult *= 1.5;
                }
                if let Some(d) = to_churn
                    && d < fade_days
                {
                    mult *= (d / fade_days).max(0.03);
                }

                scratch.day_events.clear();
                self.usage_day(&mut usage, mult, onboarding, (day_lo, day_hi), ids, scratch);
                let mut tickets = p.ticket_rate;
                if weekend {
                    tickets *= 0.4;
                }
                if onboarding {
                    tickets *= 1.5;
                }
                if to_churn.is_some_and(|d| d < 60.0) {
                    tickets *= 3.0;
                }
                self.support_day(&mut support, tickets, (day_lo, day_hi), ids, scratch);

                scratch.day_events.sort_by_key(|e| e.time);
                for e in &scratch.day_events {
                    events.push(p.customer_id(), e);
                }
            }
        }
    }

    fn usage_day(
        &self,
        rng: &mut Rng,
        mult: f64,
        onboarding: bool,
        (lo, hi): (i64, i64),
        ids: &mut Ids,
        scratch: &mut Scratch,
    ) {
        let p = self.p;
        let day_start = lo.div_euclid(US_PER_DAY) * US_PER_DAY;
        let mix = if onboarding {
            &self.onboarding_mix
        } else {
            &self.session_mix
        };
        for (index, &propensity) in p.users.iter().enumerate() {
            if !rng.chance((propensity * mult).min(0.95)) {
                continue;
            }
            let user_id = p.user_id(index);
            let sessions = 1 + rng.poisson(p.extra_sessions);
            for _ in 0..sessions {
                let mut t = work_time(rng, day_start, p.country);
                let extra = rng.poisson(p.events_per_session);
                if !(lo..hi).contains(&t) {
                    continue;
                }
                let session_id = next_id(&mut ids.session);
                let mut name = LOGIN;
                for i in 0..=extra {
                    if i > 0 {
                        t += 5 * US_PER_SEC + micros(rng.exponential(75.0) * 1e6);
                        if t >= hi {
                            break;
                        }
                        name = rng.pick_cumulative(mix) as u8;
                    }
                    scratch.day_events.push(EventRow {
                        time: t,
                        user_id,
                        name,
                        session_id,
                    });
                }
            }
        }
    }

    fn support_day(
        &self,
        rng: &mut Rng,
        rate: f64,
        (lo, hi): (i64, i64),
        ids: &mut Ids,
        scratch: &mut Scratch,
    ) {
        let p = self.p;
        let day_start = lo.div_euclid(US_PER_DAY) * US_PER_DAY;
        for _ in 0..rng.poisson(rate) {
            let opened_at = work_time(rng, day_start, p.country);
            let user_index = rng.below(p.users.len() as u64) as usize;
            let channel = rng.pick(&CHANNEL_WEIGHTS[p.segment]);
            let at_risk = Span::days_to_churn(self.spans, opened_at).is_some_and(|d| d < 60.0);
            let p_fcr = FCR_PROBABILITY[channel] * if at_risk { 0.6 } else { 1.0 };
            let first_contact = rng.chance(p_fcr);
            let minutes = if first_contact {
                rng.log_normal(FCR_MINUTES[channel].ln(), 0.7)
            } else {
                rng.log_normal((30.0f64 * 60.0).ln(), 0.9) * if at_risk { 1.5 } else { 1.0 }
            };
            let csat_draw = rng.uniform();
            let ces_draw = rng.uniform();
            let csat_delay = rng.exponential(3.0 * HOUR_F) + MIN_F;
            let ces_delay = rng.exponential(3.0 * HOUR_F) + MIN_F;
            if !(lo..hi).contains(&opened_at) {
                continue;
            }
            let resolved_at = opened_at + micros(minutes.max(1.0) * MIN_F);
            let resolved = resolved_at < self.w.end;
            scratch.tickets.push(TicketRow {
                opened_at,
                resolved_at: resolved.then_some(resolved_at),
                first_contact: resolved.then_some(first_contact),
                channel,
            });
            let user_id = p.user_id(user_index);
            if channel != PHONE {
                scratch.day_events.push(EventRow {
                    time: opened_at,
                    user_id,
                    name: TICKET_OPENED,
                    session_id: next_id(&mut ids.session),
                });
            }
            if !resolved {
                continue;
            }
            let csat_at = resolved_at + micros(csat_delay);
            if csat_draw < 0.35 && csat_at < self.w.end {
                let weights = match (at_risk, first_contact) {
                    (true, _) => &CSAT_AT_RISK,
                    (false, true) => &CSAT_FCR,
                    (false, false) => &CSAT_SLOW,
                };
                scratch.surveys.push(SurveyRow {
                    responded_at: csat_at,
                    user_id,
                    kind: CSAT,
                    score: rng.pick(weights) as i64 + 1,
                });
            }
            let ces_at = resolved_at + micros(ces_delay);
            if ces_draw < 0.15 && ces_at < self.w.end {
                let weights = if first_contact { &CES_FCR } else { &CES_SLOW };
                scratch.surveys.push(SurveyRow {
                    responded_at: ces_at,
                    user_id,
                    kind: CES,
                    score: rng.pick(weights) as i64 + 1,
                });
            }
        }
    }
}

/// Relationship NPS every 90 days (first one 30 days after sign-up) and a CES
/// question after onboarding.
fn relationship_surveys(
    p: &Profile,
    w: &Window,
    spans: &[Span],
    seed: u64,
    out: &mut Vec<SurveyRow>,
) {
    let mut rng = Rng::stream(seed, p.id, STREAM_SURVEYS);
    let onboarding_at = p.signed_up_at + 14 * US_PER_DAY + micros(rng.uniform() * 2.0 * DAY_F);
    let onboarding_answer = rng.chance(0.25);
    let onboarding_score = rng.pick(&CES_ONBOARDING) as i64 + 1;
    if onboarding_answer
        && (w.start..w.end).contains(&onboarding_at)
        && Span::contains(spans, onboarding_at)
    {
        out.push(SurveyRow {
            responded_at: onboarding_at,
            user_id: p.user_id(0),
            kind: CES,
            score: onboarding_score,
        });
    }

    let asked = p.users.len().min(5);
    for round in 0.. {
        let sent_at = p.signed_up_at + (30 + 90 * round) * US_PER_DAY;
        if sent_at >= w.end {
            break;
        }
        if sent_at < w.start || !Span::contains(spans, sent_at) {
            continue;
        }
        // Ask up to five distinct users, starting at a random one.
        let first = rng.below(p.users.len() as u64) as usize;
        for j in 0..asked {
            let user_index = (first + j) % p.users.len();
            let responds = rng.chance(0.3);
            let responded_at = sent_at + micros(rng.exponential(DAY_F)) + MIN_F as i64;
            if !responds || responded_at >= w.end || !Span::contains(spans, responded_at) {
                continue;
            }
            let score = nps_score(&mut rng, p, Span::days_to_churn(spans, responded_at));
            out.push(SurveyRow {
                responded_at,
                user_id: p.user_id(user_index),
                kind: NPS,
                score,
            });
        }
    }
}

// ---------------------------------------------------------------------------
// Column builders
// ---------------------------------------------------------------------------

fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC")
}

fn ints() -> Int64Builder {
    Int64Builder::with_capacity(BATCH_ROWS)
}

fn strings() -> StringBuilder {
    StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8)
}

fn floats() -> Float64Builder {
    Float64Builder::with_capacity(BATCH_ROWS)
}

trait Sink {
    fn len(&self) -> usize;
    fn finish(&mut self) -> Vec<ArrayRef>;
}

struct CustomersSink {
    customer_id: Int64Builder,
    name: StringBuilder,
    segment: StringBuilder,
    plan: StringBuilder,
    country: StringBuilder,
    signed_up_at: TimestampMicrosecondBuilder,
}

impl CustomersSink {
    fn new() -> Self {
        Self {
            customer_id: ints(),
            name: strings(),
            segment: strings(),
            plan: strings(),
            country: strings(),
            signed_up_at: timestamps(),
        }
    }

    fn push(&mut self, p: &Profile, name: &str, plan: usize) {
        self.customer_id.append_value(p.customer_id());
        self.name.append_value(name);
        self.segment.append_value(SEGMENTS[p.segment]);
        self.plan.append_value(PLANS[plan]);
        self.country.append_value(COUNTRIES[p.country].code);
        self.signed_up_at.append_value(p.signed_up_at);
    }
}

impl Sink for CustomersSink {
    fn len(&self) -> usize {
        self.customer_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.customer_id.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.segment.finish()),
            Arc::new(self.plan.finish()),
            Arc::new(self.country.finish()),
            Arc::new(self.signed_up_at.finish()),
        ]
    }
}

struct EventsSink {
    event_time: TimestampMicrosecondBuilder,
    customer_id: Int64Builder,
    user_id: Int64Builder,
    event_name: StringBuilder,
    session_id: Int64Builder,
}

impl EventsSink {
    fn new() -> Self {
        Self {
            event_time: timestamps(),
            customer_id: ints(),
            user_id: ints(),
            event_name: strings(),
            session_id: ints(),
        }
    }

    fn push(&mut self, customer_id: i64, e: &EventRow) {
        self.event_time.append_value(e.time);
        self.customer_id.append_value(customer_id);
        self.user_id.append_value(e.user_id);
        self.event_name
            .append_value(EVENT_NAMES[usize::from(e.name)]);
        self.session_id.append_value(e.session_id);
    }
}

impl Sink for EventsSink {
    fn len(&self) -> usize {
        self.event_time.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.event_time.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.event_name.finish()),
            Arc::new(self.session_id.finish()),
        ]
    }
}

struct SubscriptionsSink {
    subscription_id: Int64Builder,
    customer_id: Int64Builder,
    plan: StringBuilder,
    billing_interval: StringBuilder,
    amount: Float64Builder,
    currency: StringBuilder,
    started_at: TimestampMicrosecondBuilder,
    ended_at: TimestampMicrosecondBuilder,
}

impl SubscriptionsSink {
    fn new() -> Self {
        Self {
            subscription_id: ints(),
            customer_id: ints(),
            plan: strings(),
            billing_interval: strings(),
            amount: floats(),
            currency: strings(),
            started_at: timestamps(),
            ended_at: timestamps(),
        }
    }

    fn push(&mut self, id: i64, p: &Profile, s: &Sub) {
        self.subscription_id.append_value(id);
        self.customer_id.append_value(p.customer_id());
        self.plan.append_value(PLANS[s.plan]);
        self.billing_interval.append_value(INTERVALS[s.interval]);
        self.amount.append_value(s.amount);
        self.currency.append_value(CURRENCIES[p.currency()]);
        self.started_at.append_value(s.started_at);
        self.ended_at.append_option(s.ended_at);
    }
}

impl Sink for SubscriptionsSink {
    fn len(&self) -> usize {
        self.subscription_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.subscription_id.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.plan.finish()),
            Arc::new(self.billing_interval.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.started_at.finish()),
            Arc::new(self.ended_at.finish()),
        ]
    }
}

struct InvoicesSink {
    invoice_id: Int64Builder,
    customer_id: Int64Builder,
    subscription_id: Int64Builder,
    period_start: TimestampMicrosecondBuilder,
    period_end: TimestampMicrosecondBuilder,
    amount: Float64Builder,
    currency: StringBuilder,
    status: StringBuilder,
    paid_at: TimestampMicrosecondBuilder,
}

impl InvoicesSink {
    fn new() -> Self {
        Self {
            invoice_id: ints(),
            customer_id: ints(),
            subscription_id: ints(),
            period_start: timestamps(),
            period_end: timestamps(),
            amount: floats(),
            currency: strings(),
            status: strings(),
            paid_at: timestamps(),
        }
    }
}

impl Sink for InvoicesSink {
    fn len(&self) -> usize {
        self.invoice_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.invoice_id.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.subscription_id.finish()),
            Arc::new(self.period_start.finish()),
            Arc::new(self.period_end.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.paid_at.finish()),
        ]
    }
}

struct SurveysSink {
    customer_id: Int64Builder,
    user_id: Int64Builder,
    kind: StringBuilder,
    score: Int64Builder,
    responded_at: TimestampMicrosecondBuilder,
}

impl SurveysSink {
    fn new() -> Self {
        Self {
            customer_id: ints(),
            user_id: ints(),
            kind: strings(),
            score: ints(),
            responded_at: timestamps(),
        }
    }

    fn push(&mut self, customer_id: i64, s: &SurveyRow) {
        self.customer_id.append_value(customer_id);
        self.user_id.append_value(s.user_id);
        self.kind.append_value(SURVEY_KINDS[usize::from(s.kind)]);
        self.score.append_value(s.score);
        self.responded_at.append_value(s.responded_at);
    }
}

impl Sink for SurveysSink {
    fn len(&self) -> usize {
        self.customer_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.customer_id.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.score.finish()),
            Arc::new(self.responded_at.finish()),
        ]
    }
}

struct TicketsSink {
    ticket_id: Int64Builder,
    customer_id: Int64Builder,
    opened_at: TimestampMicrosecondBuilder,
    resolved_at: TimestampMicrosecondBuilder,
    resolved_on_first_contact: BooleanBuilder,
    channel: StringBuilder,
}

impl TicketsSink {
    fn new() -> Self {
        Self {
            ticket_id: ints(),
            customer_id: ints(),
            opened_at: timestamps(),
            resolved_at: timestamps(),
            resolved_on_first_contact: BooleanBuilder::with_capacity(BATCH_ROWS),
            channel: strings(),
        }
    }

    fn push(&mut self, id: i64, customer_id: i64, t: &TicketRow) {
        self.ticket_id.append_value(id);
        self.customer_id.append_value(customer_id);
        self.opened_at.append_value(t.opened_at);
        self.resolved_at.append_option(t.resolved_at);
        self.resolved_on_first_contact
            .append_option(t.first_contact);
        self.channel.append_value(CHANNELS[t.channel]);
    }
}

impl Sink for TicketsSink {
    fn len(&self) -> usize {
        self.ticket_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.ticket_id.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.opened_at.finish()),
            Arc::new(self.resolved_at.finish()),
            Arc::new(self.resolved_on_first_contact.finish()),
            Arc::new(self.channel.finish()),
        ]
    }
}

// ---------------------------------------------------------------------------
// Driver: generation on the calling thread, Parquet encoding on a writer
// thread
// ---------------------------------------------------------------------------

type Message = (Table, RecordBatch);

/// Temporary names in the output directory.
#[derive(Debug)]
struct TempPaths {
    out: PathBuf,
    tag: String,
    events_dir: PathBuf,
}

impl TempPaths {
    fn new(out: &Path) -> Self {
        let tag = format!("{}.tmp", std::process::id());
        let events_dir = out.join(format!(".events.{tag}"));
        Self {
            out: out.to_path_buf(),
            tag,
            events_dir,
        }
    }

    fn file(&self, table: Table) -> PathBuf {
        self.out
            .join(format!(".{}.{}", table.file_name(), self.tag))
    }

    /// Best-effort cleanup after a failure.
    fn remove(&self) {
        for table in TABLES {
            if table != Table::Events {
                let _ = fs::remove_file(self.file(table));
            }
        }
        let _ = fs::remove_dir_all(&self.events_dir);
    }
}

fn is_part_file(name: &str) -> bool {
    name.starts_with("part-") && name.ends_with(".parquet")
}

/// An existing `events/` folder is replaced only if it holds nothing but
/// `part-*.parquet` files, so that a wrong `--out` cannot delete other data.
fn check_replaceable_events_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let ok = entry.file_type()?.is_file() && name.to_str().is_some_and(is_part_file);
        if !ok {
            return Err(DataFusionError::Configuration(format!(
                "gen: refusing to replace {}: it contains {name:?}, which is not a part-*.parquet file",
                dir.display(),
            )));
        }
    }
    Ok(())
}

fn remove_events_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    check_replaceable_events_dir(dir)?;
    for entry in fs::read_dir(dir)? {
        fs::remove_file(entry?.path())?;
    }
    fs::remove_dir(dir)?;
    Ok(())
}

/// What the writer thread produced for one table.
#[derive(Debug)]
struct Written {
    table: Table,
    rows: u64,
    files: Vec<PathBuf>,
}

struct TableWriter {
    table: Table,
    schema: SchemaRef,
    props: WriterProperties,
    /// Rows per file (unbounded except for events).
    max_file_rows: usize,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    file_rows: usize,
    rows: u64,
    files: Vec<PathBuf>,
}

impl TableWriter {
    fn new(table: Table, max_file_rows: usize) -> Result<Self> {
        Ok(Self {
            table,
            schema: table.schema(),
            props: table.writer_properties()?,
            max_file_rows,
            writer: None,
            file_rows: 0,
            rows: 0,
            files: Vec::new(),
        })
    }

    fn open(&mut self, paths: &TempPaths) -> Result<()> {
        let path = if self.table == Table::Events {
            paths
                .events_dir
                .join(format!("part-{:05}.parquet", self.files.len()))
        } else {
            paths.file(self.table)
        };
        let file = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        self.writer = Some(ArrowWriter::try_new(
            file,
            Arc::clone(&self.schema),
            Some(self.props.clone()),
        )?);
        self.files.push(path);
        self.file_rows = 0;
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some(writer) = self.writer.take() {
            writer
                .into_inner()?
                .into_inner()
                .map_err(|e| DataFusionError::IoError(e.into_error()))?;
        }
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch, paths: &TempPaths) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.file_rows == self.max_file_rows {
                self.close()?;
                self.open(paths)?;
            }
            let n = (batch.num_rows() - offset).min(self.max_file_rows - self.file_rows);
            let writer = self.writer.as_mut().ok_or_else(|| {
                DataFusionError::Internal("gen: parquet writer is not open".to_string())
            })?;
            writer.write(&batch.slice(offset, n))?;
            offset += n;
            self.file_rows += n;
            self.rows += n as u64;
        }
        Ok(())
    }
}

fn write_all(
    rx: Receiver<Message>,
    paths: &TempPaths,
    events_per_file: usize,
) -> Result<Vec<Written>> {
    fs::create_dir_all(&paths.events_dir)?;
    let mut writers = TABLES
        .iter()
        .map(|&t| {
            let max = if t == Table::Events {
                events_per_file
            } else {
                usize::MAX
            };
            TableWriter::new(t, max)
        })
        .collect::<Result<Vec<_>>>()?;
    // Every table gets a file, even an empty one, so that it has a schema.
    for w in &mut writers {
        w.open(paths)?;
    }
    for (table, batch) in rx {
        writers[table as usize].write(&batch, paths)?;
    }
    writers
        .into_iter()
        .map(|mut w| {
            w.close()?;
            Ok(Written {
                table: w.table,
                rows: w.rows,
                files: w.files,
            })
        })
        .collect()
}

fn run(
    opts: &GenOptions,
    paths: &TempPaths,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Vec<Written>> {
    let (tx, rx) = sync_channel::<Message>(8);
    thread::scope(|scope| {
        let writer = thread::Builder::new()
            .name("saasql-gen-writer".to_string())
            .spawn_scoped(scope, move || write_all(rx, paths, opts.events_per_file))?;
        let generated = Generator::new(opts, tx).run(progress);
        // The sender is dropped by now, so the writer sees the end of input.
        let written = writer
            .join()
            .map_err(|_| DataFusionError::Internal("gen: writer thread panicked".to_string()))?;
        // A writer failure makes the generator fail to send: report the cause.
        let written = written?;
        generated?;
        Ok(written)
    })
}

struct Generator<'a> {
    opts: &'a GenOptions,
    window: Window,
    tx: SyncSender<Message>,
    schemas: [SchemaRef; 6],
    ids: Ids,
    scratch: Scratch,
    customers: CustomersSink,
    events: EventsSink,
    subscriptions: SubscriptionsSink,
    invoices: InvoicesSink,
    surveys: SurveysSink,
    tickets: TicketsSink,
    session_mix: [u32; 9],
    onboarding_mix: [u32; 9],
}

impl<'a> Generator<'a> {
    fn new(opts: &'a GenOptions, tx: SyncSender<Message>) -> Self {
        Self {
            opts,
            window: Window::new(opts),
            tx,
            schemas: TABLES.map(Table::schema),
            ids: Ids {
                user: 1,
                subscription: 1,
                invoice: 1,
                ticket: 1,
                session: 1,
            },
            scratch: Scratch::default(),
            customers: CustomersSink::new(),
            events: EventsSink::new(),
            subscriptions: SubscriptionsSink::new(),
            invoices: InvoicesSink::new(),
            surveys: SurveysSink::new(),
            tickets: TicketsSink::new(),
            session_mix: cumulative(SESSION_WEIGHTS),
            onboarding_mix: cumulative(ONBOARDING_WEIGHTS),
        }
    }

    fn run(&mut self, progress: &mut dyn FnMut(&str, u64)) -> Result<()> {
        for id in 1..=self.opts.customers {
            self.customer(id)?;
            self.flush(false)?;
            if id.is_multiple_of(PROGRESS_EVERY) {
                progress(Table::Customers.name(), id);
            }
        }
        self.flush(true)?;
        progress(Table::Customers.name(), self.opts.customers);
        Ok(())
    }

    fn customer(&mut self, id: u64) -> Result<()> {
        let seed = self.opts.seed;
        let w = self.window;
        let p = Profile::draw(seed, id, &w, self.ids.user);
        self.ids.user += p.users.len() as i64;
        let customer_id = p.customer_id();
        let scratch = &mut self.scratch;

        simulate_subscriptions(&p, &w, seed, &mut scratch.subs);
        spans_of(&scratch.subs, &w, &mut scratch.spans);
        let current_plan = scratch.subs.last().map_or(0, |s| s.plan);
        p.write_name(&mut scratch.name);
        self.customers.push(&p, &scratch.name, current_plan);

        self.billing(&p);

        // The activity fills the scratch buffers while reading the spans:
        // move the spans out meanwhile.
        let spans = std::mem::take(&mut self.scratch.spans);
        self.scratch.tickets.clear();
        self.scratch.surveys.clear();
        let activity = Activity {
            p: &p,
            w: &w,
            spans: &spans,
            session_mix: self.session_mix,
            onboarding_mix: self.onboarding_mix,
        };
        activity.run(seed, &mut self.ids, &mut self.scratch, &mut self.events);
        relationship_surveys(&p, &w, &spans, seed, &mut self.scratch.surveys);
        self.scratch.spans = spans;

        let scratch = &mut self.scratch;
        scratch.tickets.sort_by_key(|t| t.opened_at);
        for t in &scratch.tickets {
            let ticket_id = next_id(&mut self.ids.ticket);
            self.tickets.push(ticket_id, customer_id, t);
        }
        scratch.surveys.sort_by_key(|s| s.responded_at);
        for s in &scratch.surveys {
            self.surveys.push(customer_id, s);
        }
        Ok(())
    }

    /// Subscriptions and one invoice per billing period that starts before
    /// the end of the window.
    fn billing(&mut self, p: &Profile) {
        let w = self.window;
        let mut rng = Rng::stream(self.opts.seed, p.id, STREAM_BILLING);
        let currency = CURRENCIES[p.currency()];
        let p_fail = (0.025 * p.risk.sqrt()).min(0.2);
        // Larger accounts often pay by bank transfer, days after the invoice.
        let p_transfer = [0.05, 0.25, 0.6][p.segment];
        for s in &self.scratch.subs {
            let subscription_id = next_id(&mut self.ids.subscription);
            self.subscriptions.push(subscription_id, p, s);
            let months = INTERVAL_MONTHS[s.interval];
            let stop = s.ended_at.unwrap_or(w.end).min(w.end);
            for k in 0.. {
                let period_start = add_months(s.started_at, k * months);
                if period_start >= stop {
                    break;
                }
                let period_end = add_months(s.started_at, (k + 1) * months);
                let last_before_churn = s.churned && s.ended_at == Some(period_end);
                let fail = if last_before_churn {
                    (p_fail * 4.0).min(0.5)
                } else {
                    p_fail
                };
                let u = rng.uniform();
                let delay = if rng.chance(p_transfer) {
                    rng.log_normal(7f64.ln(), 0.6).min(45.0) * DAY_F
                } else {
                    rng.exponential(20.0 * MIN_F) + 5.0 * US_PER_SEC as f64
                };
                let paid_at = period_start + micros(delay);
                let (status, paid_at) = if u < 0.008 {
                    (VOID, None)
                } else if u < 0.008 + fail {
                    if w.end - period_start > 30 * US_PER_DAY {
                        (UNCOLLECTIBLE, None)
                    } else {
                        (OPEN, None)
                    }
                } else if paid_at >= w.end {
                    (OPEN, None)
                } else {
                    (PAID, Some(paid_at))
                };
                let inv = &mut self.invoices;
                inv.invoice_id.append_value(next_id(&mut self.ids.invoice));
                inv.customer_id.append_value(p.customer_id());
                inv.subscription_id.append_value(subscription_id);
                inv.period_start.append_value(period_start);
                inv.period_end.append_value(period_end);
                inv.amount.append_value(s.amount);
                inv.currency.append_value(currency);
                inv.status.append_value(INVOICE_STATUS[status]);
                inv.paid_at.append_option(paid_at);
            }
        }
    }

    /// Hands full batches (or everything, at the end) to the writer.
    fn flush(&mut self, all: bool) -> Result<()> {
        let threshold = if all { 1 } else { BATCH_ROWS };
        let Self {
            tx,
            schemas,
            customers,
            events,
            subscriptions,
            invoices,
            surveys,
            tickets,
            ..
        } = self;
        let sinks: [(Table, &mut dyn Sink); 6] = [
            (Table::Customers, customers),
            (Table::Events, events),
            (Table::Subscriptions, subscriptions),
            (Table::Invoices, invoices),
            (Table::Surveys, surveys),
            (Table::Tickets, tickets),
        ];
        for (table, sink) in sinks {
            if sink.len() >= threshold {
                let batch =
                    RecordBatch::try_new(Arc::clone(&schemas[table as usize]), sink.finish())?;
                tx.send((table, batch)).map_err(|_| {
                    DataFusionError::Internal("gen: the parquet writer stopped".to_string())
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::compute::concat_batches;
    use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("saasql-gen-{name}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn tiny(out: &Path) -> GenOptions {
        GenOptions {
            customers: 40,
            days: 45,
            seed: 7,
            out: out.to_path_buf(),
            start_date: DEFAULT_START_DATE,
            events_per_file: 2_000,
        }
    }

    fn quiet(_: &str, _: u64) {}

    /// Every file under `dir`, by relative path.
    fn file_contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                    out.insert(rel, fs::read(path).unwrap());
                }
            }
        }
        out
    }

    /// All rows of a table (a file, or a folder of parts) as one batch.
    fn read_table(out: &Path, table: Table) -> RecordBatch {
        let single = out.join(table.file_name());
        let mut files = if single.exists() {
            vec![single]
        } else {
            fs::read_dir(out.join(table.name()))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect::<Vec<_>>()
        };
        files.sort();
        let mut batches = Vec::new();
        for f in files {
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                batches.push(batch.unwrap());
            }
        }
        let schema = table.schema();
        assert_eq!(batches.first().map_or(&schema, |b| b.schema_ref()), &schema);
        concat_batches(&schema, &batches).unwrap()
    }

    fn ints<'a>(b: &'a RecordBatch, name: &str) -> &'a [i64] {
        b.column_by_name(name)
            .unwrap()
            .as_primitive::<Int64Type>()
            .values()
    }

    fn times(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
        b.column_by_name(name)
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect()
    }

    fn strs(b: &RecordBatch, name: &str) -> Vec<String> {
        b.column_by_name(name)
            .unwrap()
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap().to_string())
            .collect()
    }

    #[test]
    fn same_options_give_identical_files() {
        let (a, b) = (TempDir::new("det-a"), TempDir::new("det-b"));
        let mut calls = Vec::new();
        let summary_a = generate(&tiny(&a.0), &mut |t, n| calls.push((t.to_string(), n))).unwrap();
        let summary_b = generate(&tiny(&b.0), &mut quiet).unwrap();
        assert_eq!(summary_a, summary_b);

        let (files_a, files_b) = (file_contents(&a.0), file_contents(&b.0));
        assert_eq!(
            files_a.keys().collect::<Vec<_>>(),
            files_b.keys().collect::<Vec<_>>()
        );
        for (path, bytes) in &files_a {
            assert!(*bytes == files_b[path], "{} differs", path.display());
        }

        // Layout: five files and an events folder of full parts.
        for table in TABLES {
            if table != Table::Events {
                assert!(files_a.contains_key(&PathBuf::from(table.file_name())));
            }
        }
        let parts: Vec<_> = files_a.keys().filter(|p| p.starts_with("events")).collect();
        let events = summary_a.tables[1].1;
        assert_eq!(summary_a.tables[1].0, "events");
        assert_eq!(parts.len() as u64, events.div_ceil(2_000));
        assert_eq!(parts[0], &PathBuf::from("events/part-00000.parquet"));
        assert_eq!(files_a.len(), 5 + parts.len(), "no temporary files left");

        // Summary rows and bytes match the files.
        for (table, rows, bytes) in &summary_a.tables {
            let t = TABLES.into_iter().find(|t| t.name() == table).unwrap();
            assert_eq!(read_table(&a.0, t).num_rows() as u64, *rows, "{table}");
            let on_disk: u64 = files_a
                .iter()
                .filter(|(p, _)| p.starts_with(table) || p.as_os_str() == t.file_name().as_str())
                .map(|(_, b)| b.len() as u64)
                .sum();
            assert_eq!(on_disk, *bytes, "{table}");
            assert!(*rows > 0, "{table} is empty");
        }

        // Progress: customers counting up to the total, then every table.
        assert_eq!(calls.first().map(|c| c.0.as_str()), Some("customers"));
        let tail: Vec<_> = calls[calls.len() - 6..]
            .iter()
            .map(|c| c.0.as_str())
            .collect();
        assert_eq!(tail, TABLES.map(Table::name));

        // Regenerating in place replaces the files; another seed differs.
        generate(&tiny(&a.0), &mut quiet).unwrap();
        assert_eq!(file_contents(&a.0), files_a);
        let other = GenOptions {
            seed: 8,
            ..tiny(&b.0)
        };
        generate(&other, &mut quiet).unwrap();
        let c = file_contents(&b.0);
        assert_ne!(
            c[&PathBuf::from("customers.parquet")],
            files_a[&PathBuf::from("customers.parquet")]
        );
    }

    #[test]
    fn values_respect_domains() {
        let dir = TempDir::new("domains");
        let opts = tiny(&dir.0);
        generate(&opts, &mut quiet).unwrap();
        let w = Window::new(&opts);
        let history = w.history_start..w.end;
        let window = w.start..w.end;

        let customers = read_table(&dir.0, Table::Customers);
        let ids = ints(&customers, "customer_id");
        assert_eq!(ids, (1..=40).collect::<Vec<i64>>());
        let countries: HashSet<_> = COUNTRIES.iter().map(|c| c.code).collect();
        for segment in strs(&customers, "segment") {
            assert!(SEGMENTS.contains(&segment.as_str()), "{segment}");
        }
        for plan in strs(&customers, "plan") {
            assert!(PLANS.contains(&plan.as_str()), "{plan}");
        }
        for country in strs(&customers, "country") {
            assert!(countries.contains(country.as_str()), "{country}");
        }
        for signed_up in times(&customers, "signed_up_at") {
            assert!(history.contains(&signed_up.unwrap()));
        }

        // Subscriptions, and the stretches each customer is covered.
        let subs = read_table(&dir.0, Table::Subscriptions);
        let amounts = subs
            .column_by_name("amount")
            .unwrap()
            .as_primitive::<Float64Type>()
            .values();
        let mut coverage: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        let mut sub_amount = HashMap::new();
        for ((((&sub, &customer), started), ended), &amount) in ints(&subs, "subscription_id")
            .iter()
            .zip(ints(&subs, "customer_id"))
            .zip(times(&subs, "started_at"))
            .zip(times(&subs, "ended_at"))
            .zip(amounts)
        {
            let started = started.unwrap();
            assert!(history.contains(&started));
            if let Some(e) = ended {
                assert!(e > started && e < w.end);
            }
            assert!(amount > 0.0);
            assert!(ids.contains(&customer));
            coverage
                .entry(customer)
                .or_default()
                .push((started, ended.unwrap_or(w.end)));
            sub_amount.insert(sub, amount);
        }
        for interval in strs(&subs, "billing_interval") {
            assert!(INTERVALS.contains(&interval.as_str()), "{interval}");
        }
        for currency in strs(&subs, "currency") {
            assert!(CURRENCIES.contains(&currency.as_str()), "{currency}");
        }

        let invoices = read_table(&dir.0, Table::Invoices);
        let invoice_amounts = invoices
            .column_by_name("amount")
            .unwrap()
            .as_primitive::<Float64Type>()
            .values();
        for (((((start, end), paid), status), sub), amount) in times(&invoices, "period_start")
            .into_iter()
            .zip(times(&invoices, "period_end"))
            .zip(times(&invoices, "paid_at"))
            .zip(strs(&invoices, "status"))
            .zip(ints(&invoices, "subscription_id"))
            .zip(invoice_amounts)
        {
            let (start, end) = (start.unwrap(), end.unwrap());
            assert!(history.contains(&start) && end > start);
            assert_eq!(sub_amount[sub], *amount);
            assert!(INVOICE_STATUS.contains(&status.as_str()), "{status}");
            assert_eq!(paid.is_some(), status == "paid");
            if let Some(p) = paid {
                assert!((start..w.end).contains(&p));
            }
        }

        // Events: known names, inside the window and a subscription, users
        // belonging to one customer only.
        let events = read_table(&dir.0, Table::Events);
        let mut user_owner = HashMap::new();
        let mut seen_names = HashSet::new();
        for (((t, &customer), &user), name) in times(&events, "event_time")
            .into_iter()
            .zip(ints(&events, "customer_id"))
            .zip(ints(&events, "user_id"))
            .zip(strs(&events, "event_name"))
        {
            let t = t.unwrap();
            assert!(window.contains(&t));
            assert!(
                coverage[&customer]
                    .iter()
                    .any(|&(s, e)| (s..e).contains(&t)),
                "event of customer {customer} outside its subscriptions"
            );
            assert_eq!(*user_owner.entry(user).or_insert(customer), customer);
            assert!(EVENT_NAMES.contains(&name.as_str()), "{name}");
            seen_names.insert(name);
        }
        assert!(seen_names.contains("login") && seen_names.contains("dashboard_viewed"));

        let surveys = read_table(&dir.0, Table::Surveys);
        for (((kind, &score), responded), (&customer, user)) in strs(&surveys, "kind")
            .iter()
            .zip(ints(&surveys, "score"))
            .zip(times(&surveys, "responded_at"))
            .zip(
                ints(&surveys, "customer_id")
                    .iter()
                    .zip(ints(&surveys, "user_id")),
            )
        {
            let range = match kind.as_str() {
                "nps" => 0..=10,
                "csat" => 1..=5,
                "ces" => 1..=7,
                other => panic!("unknown survey kind {other}"),
            };
            assert!(range.contains(&score), "{kind} score {score}");
            assert!(window.contains(&responded.unwrap()));
            if let Some(owner) = user_owner.get(user) {
                assert_eq!(*owner, customer);
            }
        }

        let tickets = read_table(&dir.0, Table::Tickets);
        let first_contact = tickets
            .column_by_name("resolved_on_first_contact")
            .unwrap()
            .as_boolean();
        for (i, (opened, resolved)) in times(&tickets, "opened_at")
            .into_iter()
            .zip(times(&tickets, "resolved_at"))
            .enumerate()
        {
            let opened = opened.unwrap();
            assert!(window.contains(&opened));
            match resolved {
                Some(r) => assert!((opened..w.end).contains(&r) && first_contact.is_valid(i)),
                None => assert!(first_contact.is_null(i)),
            }
        }
        for customer in ints(&tickets, "customer_id") {
            assert!(ids.contains(customer));
        }
        for channel in strs(&tickets, "channel") {
            assert!(CHANNELS.contains(&channel.as_str()), "{channel}");
        }
        let ticket_ids = ints(&tickets, "ticket_id");
        assert!(ticket_ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn calendar() {
        assert_eq!(parse_date("2025-01-01").unwrap(), DEFAULT_START_DATE);
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert_eq!(format_date(DEFAULT_START_DATE), "2025-01-01");
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-1-01",
            "25-01-01",
            "2025-01-01x",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_date("2024-02-29").unwrap(), 19_782);
        for day in -800_000..800_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        // 2025-01-01 was a Wednesday.
        assert_eq!(weekday(i64::from(DEFAULT_START_DATE)), 2);
        let at = |s: &str| i64::from(parse_date(s).unwrap()) * US_PER_DAY + 3 * US_PER_HOUR;
        assert_eq!(add_months(at("2025-01-31"), 1), at("2025-02-28"));
        assert_eq!(add_months(at("2024-01-31"), 1), at("2024-02-29"));
        assert_eq!(add_months(at("2025-01-31"), 2), at("2025-03-31"));
        assert_eq!(add_months(at("2024-11-15"), 3), at("2025-02-15"));
        assert_eq!(add_months(at("2025-03-10"), -12), at("2024-03-10"));
    }

    #[test]
    fn distributions() {
        let mut rng = Rng::stream(1, 2, 3);
        let n = 200_000;
        let mean = |rng: &mut Rng, f: &dyn Fn(&mut Rng) -> f64| {
            (0..n).map(|_| f(rng)).sum::<f64>() / f64::from(n)
        };
        assert!((mean(&mut rng, &|r| r.uniform()) - 0.5).abs() < 0.01);
        assert!(mean(&mut rng, &|r| r.normal()).abs() < 0.01);
        assert!((mean(&mut rng, &|r| r.normal().powi(2)) - 1.0).abs() < 0.02);
        assert!((mean(&mut rng, &|r| r.exponential(4.0)) - 4.0).abs() < 0.05);
        assert!((mean(&mut rng, &|r| r.log_normal(-0.405, 0.9)) - 1.0).abs() < 0.03);
        assert!((mean(&mut rng, &|r| r.poisson(2.5) as f64) - 2.5).abs() < 0.03);
        assert!((mean(&mut rng, &|r| r.poisson(50.0) as f64) - 50.0).abs() < 0.1);
        let mut counts = [0u32; 3];
        for _ in 0..n {
            counts[rng.pick(&[1, 0, 3])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((f64::from(counts[0]) / f64::from(n) - 0.25).abs() < 0.01);
        let cum = cumulative([0, 2, 0, 2]);
        assert_eq!(cum, [0, 2, 2, 4]);
        for _ in 0..1000 {
            assert!(matches!(rng.pick_cumulative(&cum), 1 | 3));
        }
        // Streams are independent of each other and reproducible.
        assert_eq!(
            Rng::stream(1, 2, 3).next_u64(),
            Rng::stream(1, 2, 3).next_u64()
        );
        assert_ne!(
            Rng::stream(1, 2, 3).next_u64(),
            Rng::stream(1, 3, 3).next_u64()
        );
    }

    #[test]
    fn rejects_bad_options() {
        let dir = TempDir::new("bad");
        let bad = [
            GenOptions {
                days: 0,
                ..tiny(&dir.0)
            },
            GenOptions {
                events_per_file: 0,
                ..tiny(&dir.0)
            },
            GenOptions {
                start_date: i32::MAX,
                ..tiny(&dir.0)
            },
        ];
        for opts in bad {
            let err = generate(&opts, &mut quiet).unwrap_err().to_string();
            assert!(err.contains("gen:"), "{err}");
        }

        // An events folder with foreign files is not replaced.
        fs::create_dir_all(dir.0.join("events")).unwrap();
        fs::write(dir.0.join("events/notes.txt"), "keep me").unwrap();
        let err = generate(&tiny(&dir.0), &mut quiet).unwrap_err().to_string();
        assert!(err.contains("refusing to replace"), "{err}");
        assert!(dir.0.join("events/notes.txt").exists());
        assert!(!dir.0.join("customers.parquet").exists());
    }
}
