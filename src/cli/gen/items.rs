//! The billing export in the canonical shape `mrr_ledger` reads: the
//! `subscription_items` table (one row per priced item of each subscription
//! of the `subscriptions` table, with seats, coupons, trials, cancellations
//! requested before the period ends and metered add-ons) and `fx_rates`
//! (a rate per month for each currency other than USD).
//!
//! The items come from their own random stream, so the other tables do not
//! change with them.

use std::fmt::Write;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};

use saasql::util::time::{add_months, civil_from_days, days_from_civil};

use super::*;

/// Percentages a coupon takes off.
const COUPON_PERCENTS: [f64; 4] = [10.0, 20.0, 25.0, 50.0];
/// The quarter's index in [`INTERVALS`].
const QUARTER: usize = 1;
/// Plans billed per seat (growth, pro).
fn per_seat(plan: usize) -> bool {
    plan == 1 || plan == 2
}

/// One item row.
struct Item<'a> {
    subscription_id: &'a str,
    plan: &'static str,
    started_at: i64,
    ended_at: Option<i64>,
    canceled_at: Option<i64>,
    trial_end: Option<i64>,
    amount: f64,
    quantity: i64,
    interval: &'static str,
    interval_count: i64,
    discount_percent: Option<f64>,
    discount_amount: Option<f64>,
    discount_end: Option<i64>,
    metered: bool,
}

pub(super) struct ItemsSink {
    customer_id: Int64Builder,
    subscription_id: StringBuilder,
    plan: StringBuilder,
    started_at: TimestampMicrosecondBuilder,
    ended_at: TimestampMicrosecondBuilder,
    canceled_at: TimestampMicrosecondBuilder,
    trial_end: TimestampMicrosecondBuilder,
    amount: Float64Builder,
    quantity: Int64Builder,
    currency: StringBuilder,
    billing_interval: StringBuilder,
    interval_count: Int64Builder,
    discount_percent: Float64Builder,
    discount_amount: Float64Builder,
    discount_end: TimestampMicrosecondBuilder,
    metered: BooleanBuilder,
    /// Scratch for the subscription id.
    id: String,
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl ItemsSink {
    pub(super) fn new() -> Self {
        Self {
            customer_id: ints(),
            subscription_id: strings(),
            plan: strings(),
            started_at: timestamps(),
            ended_at: timestamps(),
            canceled_at: timestamps(),
            trial_end: timestamps(),
            amount: floats(),
            quantity: ints(),
            currency: strings(),
            billing_interval: strings(),
            interval_count: ints(),
            discount_percent: floats(),
            discount_amount: floats(),
            discount_end: timestamps(),
            metered: BooleanBuilder::with_capacity(BATCH_ROWS),
            id: String::new(),
        }
    }

    fn push(&mut self, p: &Profile, item: &Item) {
        self.customer_id.append_value(p.customer_id());
        self.subscription_id.append_value(item.subscription_id);
        self.plan.append_value(item.plan);
        self.started_at.append_value(item.started_at);
        self.ended_at.append_option(item.ended_at);
        self.canceled_at.append_option(item.canceled_at);
        self.trial_end.append_option(item.trial_end);
        self.amount.append_value(item.amount);
        self.quantity.append_value(item.quantity);
        self.currency.append_value(CURRENCIES[p.currency()]);
        self.billing_interval.append_value(item.interval);
        self.interval_count.append_value(item.interval_count);
        self.discount_percent.append_option(item.discount_percent);
        self.discount_amount.append_option(item.discount_amount);
        self.discount_end.append_option(item.discount_end);
        self.metered.append_value(item.metered);
    }

    /// The items of subscription `id` (`s`), the customer's `first`: the
    /// plan (per seat on growth and pro), perhaps a coupon (once,
    /// repeating for three months, or forever), a 14-day trial before a
    /// first subscription (and, for some customers, an earlier trial that
    /// never converted), a cancellation requested days before a churning
    /// subscription's paid period ends, and sometimes a metered add-on.
    pub(super) fn subscription(
        &mut self,
        rng: &mut Rng,
        p: &Profile,
        id: i64,
        s: &Sub,
        first: bool,
    ) {
        let mut sub = std::mem::take(&mut self.id);
        sub.clear();
        let _ = write!(sub, "sub_{id}");
        let months = INTERVAL_MONTHS[s.interval];
        let quantity = if per_seat(s.plan) {
            1 + rng.below(5) as i64
        } else {
            1
        };
        let unit = cents(s.amount / quantity as f64);
        let (interval, interval_count) = if s.interval == QUARTER && rng.chance(0.5) {
            ("month", 3)
        } else {
            (INTERVALS[s.interval], 1)
        };
        if first && rng.chance(0.08) {
            // A trial two months earlier that was never paid for.
            let started_at = s.started_at - 60 * US_PER_DAY;
            let trial_end = started_at + 14 * US_PER_DAY;
            let trial = format!("trial_{}", p.customer_id());
            self.push(
                p,
                &Item {
                    subscription_id: &trial,
                    plan: PLANS[s.plan],
                    started_at,
                    ended_at: Some(trial_end),
                    canceled_at: Some(trial_end - 2 * US_PER_DAY),
                    trial_end: Some(trial_end),
                    amount: unit,
                    quantity: 1,
                    interval,
                    interval_count,
                    discount_percent: None,
                    discount_amount: None,
                    discount_end: None,
                    metered: false,
                },
            );
        }
        let (started_at, trial_end) = if first && rng.chance(0.3) {
            (s.started_at - 14 * US_PER_DAY, Some(s.started_at))
        } else {
            (s.started_at, None)
        };
        let canceled_at = if s.churned {
            s.ended_at.map(|end| {
                let notice = (1.0 + rng.exponential(6.0)).min(25.0) * DAY_F;
                (end - micros(notice)).max(s.started_at)
            })
        } else {
            None
        };
        let (discount_percent, discount_amount, discount_end) = if rng.chance(0.15) {
            let end = match rng.below(3) {
                0 => Some(add_months(s.started_at, months)),
                1 => Some(add_months(s.started_at, 3)),
                _ => None,
            };
            if rng.chance(0.7) {
                let percent = COUPON_PERCENTS[rng.below(COUPON_PERCENTS.len() as u64) as usize];
                (Some(percent), None, end)
            } else {
                (None, Some(cents(s.amount * 0.1)), end)
            }
        } else {
            (None, None, None)
        };
        self.push(
            p,
            &Item {
                subscription_id: &sub,
                plan: PLANS[s.plan],
                started_at,
                ended_at: s.ended_at,
                canceled_at,
                trial_end,
                amount: unit,
                quantity,
                interval,
                interval_count,
                discount_percent,
                discount_amount,
                discount_end,
                metered: false,
            },
        );
        if per_seat(s.plan) && rng.chance(0.1) {
            self.push(
                p,
                &Item {
                    subscription_id: &sub,
                    plan: PLANS[s.plan],
                    started_at: s.started_at,
                    ended_at: s.ended_at,
                    canceled_at,
                    trial_end: None,
                    amount: (20 + rng.below(180)) as f64,
                    quantity: 1,
                    interval: "month",
                    interval_count: 1,
                    discount_percent: None,
                    discount_amount: None,
                    discount_end: None,
                    metered: true,
                },
            );
        }
        self.id = sub;
    }
}

impl Sink for ItemsSink {
    fn len(&self) -> usize {
        self.customer_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.customer_id.finish()),
            Arc::new(self.subscription_id.finish()),
            Arc::new(self.plan.finish()),
            Arc::new(self.started_at.finish()),
            Arc::new(self.ended_at.finish()),
            Arc::new(self.canceled_at.finish()),
            Arc::new(self.trial_end.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.quantity.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.billing_interval.finish()),
            Arc::new(self.interval_count.finish()),
            Arc::new(self.discount_percent.finish()),
            Arc::new(self.discount_amount.finish()),
            Arc::new(self.discount_end.finish()),
            Arc::new(self.metered.finish()),
        ]
    }
}

pub(super) struct FxRatesSink {
    currency: StringBuilder,
    month: Date32Builder,
    rate: Float64Builder,
}

impl FxRatesSink {
    pub(super) fn new() -> Self {
        Self {
            currency: strings(),
            month: Date32Builder::with_capacity(BATCH_ROWS),
            rate: floats(),
        }
    }

    /// A rate in USD per unit for EUR (about 1.08) and GBP (about 1.27) in
    /// every month any item can be billed in: from two months before the
    /// history starts (the earliest trials) to the window's end.
    pub(super) fn fill(&mut self, w: &Window, seed: u64) {
        let mut rng = Rng::stream(seed, 0, STREAM_ITEMS);
        let month_of = |micros: i64| {
            let (y, m, _) = civil_from_days(micros.div_euclid(US_PER_DAY));
            (y, m)
        };
        let (mut y, mut m) = month_of(w.history_start - 62 * US_PER_DAY);
        let last = month_of(w.end);
        let mut level = [1.08, 1.27];
        while (y, m) <= last {
            let day = days_from_civil(y, m, 1);
            for (i, currency) in [EUR, GBP].into_iter().enumerate() {
                level[i] *= 1.0 + 0.02 * rng.normal();
                self.currency.append_value(CURRENCIES[currency]);
                self.month.append_value(day as i32);
                self.rate
                    .append_value((level[i] * 10_000.0).round() / 10_000.0);
            }
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
    }
}

impl Sink for FxRatesSink {
    fn len(&self) -> usize {
        self.currency.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.currency.finish()),
            Arc::new(self.month.finish()),
            Arc::new(self.rate.finish()),
        ]
    }
}
