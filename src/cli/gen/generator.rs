//! The driver: customers in id order on the calling thread, full batches
//! handed to the writer thread, files moved into place at the end.

use std::fs;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};

use crate::cli::commit::{self, Staged};
use crate::cli::error::CliResult;

use super::*;

/// Generates the canonical tables under `opts.out`.
///
/// Layout: `customers.parquet`, `subscriptions.parquet`, `invoices.parquet`,
/// `surveys.parquet`, `tickets.parquet`, `subscription_items.parquet`,
/// `fx_rates.parquet`, and `events/part-00000.parquet`,
/// `part-00001.parquet`, ... with `opts.events_per_file` rows each. Each table
/// is staged next to its path ([`Staged`]) and all of them are put in place at
/// once when everything succeeded, journaled like a batch job's outputs; an
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
pub fn generate(opts: &GenOptions, progress: &mut dyn FnMut(&str, u64)) -> CliResult<GenSummary> {
    let fail = |e: DataFusionError| gen_error(&e);
    validate(opts).map_err(fail)?;
    fs::create_dir_all(&opts.out).map_err(|e| fail(e.into()))?;
    check_replaceable_events_dir(&opts.out.join(Table::Events.name())).map_err(fail)?;
    let journal = opts.out.join(JOURNAL);
    if let Some(note) = commit::recover(&journal)? {
        eprintln!("saasql: gen: {note}");
    }

    // One staged output per table, put in place together by the commit.
    let staged = TABLES
        .iter()
        .map(|t| Staged::new(&opts.out.join(t.dest_name())))
        .collect::<CliResult<Vec<_>>>()?;
    let paths = TempPaths {
        files: staged.iter().map(Staged::path).collect(),
    };
    // On an error the staged outputs are dropped, which removes them.
    let written = run(opts, &paths, progress).map_err(fail)?;

    let mut summary = GenSummary::default();
    for w in written {
        let bytes = w
            .files
            .iter()
            .map(|f| fs::metadata(f).map(|m| m.len()))
            .sum::<std::io::Result<u64>>()
            .map_err(|e| fail(e.into()))?;
        summary
            .tables
            .push((w.table.name().to_string(), w.rows, bytes));
    }
    commit::commit_all(&journal, staged)?;
    for (table, rows, _) in &summary.tables {
        progress(table, *rows);
    }
    Ok(summary)
}

/// Sequential ids, assigned in customer order.
#[derive(Debug)]
pub(super) struct Ids {
    pub(super) user: i64,
    pub(super) subscription: i64,
    pub(super) invoice: i64,
    pub(super) ticket: i64,
    pub(super) session: i64,
}

/// Returns `*counter` and advances it.
pub(super) fn next_id(counter: &mut i64) -> i64 {
    let id = *counter;
    *counter += 1;
    id
}

/// Buffers reused from customer to customer.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    pub(super) subs: Vec<Sub>,
    pub(super) spans: Vec<Span>,
    pub(super) day_events: Vec<EventRow>,
    pub(super) tickets: Vec<TicketRow>,
    pub(super) surveys: Vec<SurveyRow>,
    pub(super) name: String,
}

pub(super) fn run(
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

pub(super) struct Generator<'a> {
    pub(super) opts: &'a GenOptions,
    pub(super) window: Window,
    pub(super) tx: SyncSender<Message>,
    pub(super) schemas: [SchemaRef; 8],
    pub(super) ids: Ids,
    pub(super) scratch: Scratch,
    pub(super) customers: CustomersSink,
    pub(super) events: EventsSink,
    pub(super) subscriptions: SubscriptionsSink,
    pub(super) invoices: InvoicesSink,
    pub(super) surveys: SurveysSink,
    pub(super) tickets: TicketsSink,
    pub(super) items: ItemsSink,
    pub(super) fx_rates: FxRatesSink,
    pub(super) session_mix: [u32; 9],
    pub(super) onboarding_mix: [u32; 9],
}

impl<'a> Generator<'a> {
    pub(super) fn new(opts: &'a GenOptions, tx: SyncSender<Message>) -> Self {
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
            items: ItemsSink::new(),
            fx_rates: FxRatesSink::new(),
            session_mix: cumulative(SESSION_WEIGHTS),
            onboarding_mix: cumulative(ONBOARDING_WEIGHTS),
        }
    }

    pub(super) fn run(&mut self, progress: &mut dyn FnMut(&str, u64)) -> Result<()> {
        for id in 1..=self.opts.customers {
            self.customer(id)?;
            self.flush(false)?;
            if id.is_multiple_of(PROGRESS_EVERY) {
                progress(Table::Customers.name(), id);
            }
        }
        self.fx_rates.fill(&self.window, self.opts.seed);
        self.flush(true)?;
        progress(Table::Customers.name(), self.opts.customers);
        Ok(())
    }

    pub(super) fn customer(&mut self, id: u64) -> Result<()> {
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

    /// Hands full batches (or everything, at the end) to the writer.
    pub(super) fn flush(&mut self, all: bool) -> Result<()> {
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
            items,
            fx_rates,
            ..
        } = self;
        let sinks: [(Table, &mut dyn Sink); 8] = [
            (Table::Customers, customers),
            (Table::Events, events),
            (Table::Subscriptions, subscriptions),
            (Table::Invoices, invoices),
            (Table::Surveys, surveys),
            (Table::Tickets, tickets),
            (Table::SubscriptionItems, items),
            (Table::FxRates, fx_rates),
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
