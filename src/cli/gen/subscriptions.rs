//! Subscriptions (churn, plan changes, reactivation at billing boundaries)
//! and the invoices of every billing period: the `subscriptions` and
//! `invoices` tables.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};

use saasql::util::time::add_months;

use super::*;

/// How a subscription ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Still running at the end of the window.
    Active,
    /// The customer leaves at this instant.
    Churn(i64),
    /// Replaced by another plan at this instant.
    PlanChange { at: i64, plan: usize },
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Sub {
    pub(super) plan: usize,
    pub(super) interval: usize,
    pub(super) amount: f64,
    pub(super) started_at: i64,
    pub(super) ended_at: Option<i64>,
    pub(super) churned: bool,
}

/// A stretch of continuous paid subscription (plan changes merged).
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) start: i64,
    /// Exclusive; the window end when still active.
    pub(super) end: i64,
    pub(super) churned: bool,
}

impl Span {
    /// Days until this span's churn, if `t` lies in a span that churns.
    pub(super) fn days_to_churn(spans: &[Span], t: i64) -> Option<f64> {
        spans
            .iter()
            .find(|s| (s.start..s.end).contains(&t))
            .filter(|s| s.churned)
            .map(|s| (s.end - t) as f64 / DAY_F)
    }

    pub(super) fn contains(spans: &[Span], t: i64) -> bool {
        spans.iter().any(|s| (s.start..s.end).contains(&t))
    }
}

/// Subscriptions of one customer, from sign-up to the end of the window.
pub(super) fn simulate_subscriptions(p: &Profile, w: &Window, seed: u64, subs: &mut Vec<Sub>) {
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

pub(super) fn spans_of(subs: &[Sub], w: &Window, spans: &mut Vec<Span>) {
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

pub(super) struct SubscriptionsSink {
    pub(super) subscription_id: Int64Builder,
    pub(super) customer_id: Int64Builder,
    pub(super) plan: StringBuilder,
    pub(super) billing_interval: StringBuilder,
    pub(super) amount: Float64Builder,
    pub(super) currency: StringBuilder,
    pub(super) started_at: TimestampMicrosecondBuilder,
    pub(super) ended_at: TimestampMicrosecondBuilder,
}

impl SubscriptionsSink {
    pub(super) fn new() -> Self {
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

    pub(super) fn push(&mut self, id: i64, p: &Profile, s: &Sub) {
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

pub(super) struct InvoicesSink {
    pub(super) invoice_id: Int64Builder,
    pub(super) customer_id: Int64Builder,
    pub(super) subscription_id: Int64Builder,
    pub(super) period_start: TimestampMicrosecondBuilder,
    pub(super) period_end: TimestampMicrosecondBuilder,
    pub(super) amount: Float64Builder,
    pub(super) currency: StringBuilder,
    pub(super) status: StringBuilder,
    pub(super) paid_at: TimestampMicrosecondBuilder,
}

impl InvoicesSink {
    pub(super) fn new() -> Self {
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

impl Generator<'_> {
    /// Subscriptions and one invoice per billing period that starts before
    /// the end of the window.
    pub(super) fn billing(&mut self, p: &Profile) {
        let w = self.window;
        let mut rng = Rng::stream(self.opts.seed, p.id, STREAM_BILLING);
        let currency = CURRENCIES[p.currency()];
        let p_fail = (0.025 * p.risk.sqrt()).min(0.2);
        // Larger accounts often pay by bank transfer, days after the invoice.
        let p_transfer = [0.05, 0.25, 0.6][p.segment];
        let mut items_rng = Rng::stream(self.opts.seed, p.id, STREAM_ITEMS);
        for (index, s) in self.scratch.subs.iter().enumerate() {
            let subscription_id = next_id(&mut self.ids.subscription);
            self.subscriptions.push(subscription_id, p, s);
            self.items
                .subscription(&mut items_rng, p, subscription_id, s, index == 0);
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
}
