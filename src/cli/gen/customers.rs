//! Customers: the profile drawn once per customer, and the `customers` table.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};

use super::*;

/// Everything drawn once per customer.
#[derive(Debug)]
pub(super) struct Profile {
    pub(super) id: u64,
    pub(super) segment: usize,
    pub(super) country: usize,
    pub(super) signed_up_at: i64,
    pub(super) first_user_id: i64,
    /// Daily-active probability of each user on a weekday at level 1.
    pub(super) users: Vec<f64>,
    /// Engagement multiplier, log-normal with mean 1.
    pub(super) level: f64,
    /// Churn propensity multiplier; higher for less engaged customers.
    pub(super) risk: f64,
    /// Trend of log-engagement per 90 days.
    pub(super) drift: f64,
    /// Mean number of extra sessions on an active day.
    pub(super) extra_sessions: f64,
    /// Mean number of events after the login in a session.
    pub(super) events_per_session: f64,
    /// Negotiated monthly price of the enterprise plan.
    pub(super) enterprise_price: f64,
    /// Tickets per active weekday.
    pub(super) ticket_rate: f64,
}

impl Profile {
    pub(super) fn draw(seed: u64, id: u64, w: &Window, first_user_id: i64) -> Self {
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

    pub(super) fn currency(&self) -> usize {
        COUNTRIES[self.country].currency
    }

    pub(super) fn customer_id(&self) -> i64 {
        self.id as i64
    }

    pub(super) fn user_id(&self, index: usize) -> i64 {
        self.first_user_id + index as i64
    }

    pub(super) fn monthly_price(&self, plan: usize) -> f64 {
        if plan == ENTERPRISE_PLAN {
            self.enterprise_price
        } else {
            LIST_PRICE[self.currency()][plan]
        }
    }

    pub(super) fn amount(&self, plan: usize, interval: usize) -> f64 {
        round_cents(
            self.monthly_price(plan)
                * INTERVAL_MONTHS[interval] as f64
                * INTERVAL_DISCOUNT[interval],
        )
    }

    /// Company name: the first `NAME_FIRST.len() * NAME_SECOND.len()`
    /// customers get distinct word pairs (a permutation of the pairs), later
    /// ones a number; the suffix is the country's usual company form.
    pub(super) fn write_name(&self, out: &mut String) {
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

pub(super) struct CustomersSink {
    pub(super) customer_id: Int64Builder,
    pub(super) name: StringBuilder,
    pub(super) segment: StringBuilder,
    pub(super) plan: StringBuilder,
    pub(super) country: StringBuilder,
    pub(super) signed_up_at: TimestampMicrosecondBuilder,
}

impl CustomersSink {
    pub(super) fn new() -> Self {
        Self {
            customer_id: ints(),
            name: strings(),
            segment: strings(),
            plan: strings(),
            country: strings(),
            signed_up_at: timestamps(),
        }
    }

    pub(super) fn push(&mut self, p: &Profile, name: &str, plan: usize) {
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
