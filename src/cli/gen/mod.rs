//! `saasql gen`: deterministic synthetic data for the canonical tables.
//!
//! [`generate`] writes the six canonical tables of the SPEC (`customers`,
//! `events`, `subscriptions`, `invoices`, `surveys`, `tickets`) and the
//! billing export `mrr_ledger` reads (`subscription_items`, `fx_rates`; see
//! [`items`]) as Parquet files. The data comes from a small simulation of a B2B SaaS business:
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
//!
//! The module tree, one idea per file: [`options`] (what to make, and the
//! time window), [`random`] (the streams), [`domain`] (the business's constant
//! tables), [`customers`], [`subscriptions`] (and invoices), [`items`]
//! (subscription items and exchange rates), [`activity`]
//! (events, tickets, surveys), [`tables`] (schemas and column builders),
//! [`generator`] (the driver) and [`writer`] (the Parquet writer thread).
//! Calendar arithmetic is the library's one calendar, `saasql::util::time`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::args::GenArgs;
use super::error::{CliError, CliResult, Code};
use super::output::{Format, PrintOptions, Target, human_bytes, write_batches};

mod activity;
mod customers;
mod domain;
pub mod generator;
mod items;
mod options;
mod random;
mod subscriptions;
mod tables;
#[cfg(test)]
mod tests;
mod writer;

use activity::*;
use customers::*;
use domain::*;
use generator::*;
use items::*;
pub use options::GenOptions;
use options::*;
use random::*;
use subscriptions::*;
use tables::*;
use writer::*;

/// The generator's options from the command line.
pub fn options(args: &GenArgs) -> GenOptions {
    GenOptions {
        customers: args.customers,
        days: args.days,
        seed: args.seed,
        out: args.out.clone(),
        start_date: args.start,
        events_per_file: args.events_per_file,
    }
}

/// Generates the data with a progress bar on a terminal, then prints what
/// was written (table, rows, bytes) in `format`.
pub async fn run_gen(args: &GenArgs, format: Format) -> CliResult<()> {
    let opts = options(args);
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(opts.customers), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} generating {msg} [{bar:30}] {pos}/{len} customers ({eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(opts.out.display().to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    let result = {
        let bar = bar.clone();
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || {
            generate(&opts, &mut |table, n| {
                if table == "customers" {
                    bar.set_position(n);
                }
            })
        })
        .await
        .map_err(|e| CliError::query(format!("the generator failed: {e}")))?
    };
    bar.finish_and_clear();
    let summary = result?;

    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
    ]));
    let tables: StringArray = summary.tables.iter().map(|t| Some(t.0.as_str())).collect();
    let rows: UInt64Array = summary.tables.iter().map(|t| Some(t.1)).collect();
    let bytes: UInt64Array = summary.tables.iter().map(|t| Some(t.2)).collect();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(tables), Arc::new(rows), Arc::new(bytes)],
    )
    .map_err(|e| CliError::query(e.to_string()))?;
    let mut target = Target::stdout();
    let print = PrintOptions {
        format,
        max_rows: None,
        footer: false,
        expanded: false,
    };
    write_batches(schema, vec![batch], &mut target, &print).await?;
    target.finish()?;
    let total: u64 = summary.tables.iter().map(|t| t.2).sum();
    eprintln!(
        "wrote {} tables ({}) to {}",
        summary.tables.len(),
        human_bytes(total),
        opts.out.display()
    );
    Ok(())
}

/// Invalid options are usage errors; failed writes are output errors.
fn gen_error(e: &DataFusionError) -> CliError {
    let message = e.strip_backtrace();
    match e.find_root() {
        DataFusionError::Configuration(_) => CliError::usage(message),
        DataFusionError::IoError(_) | DataFusionError::ParquetError(_) => {
            CliError::new(Code::Output, format!("gen: {message}"))
        }
        _ => CliError::query(message),
    }
}
