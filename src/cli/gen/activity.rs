//! Day-by-day activity while a customer is subscribed: usage events, support
//! tickets with their CSAT/CES follow-ups, and relationship NPS surveys — the
//! `events`, `tickets` and `surveys` tables.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};

use saasql::util::time::weekday;

use super::*;

#[derive(Debug, Clone, Copy)]
pub(super) struct EventRow {
    pub(super) time: i64,
    pub(super) user_id: i64,
    pub(super) name: u8,
    pub(super) session_id: i64,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct TicketRow {
    pub(super) opened_at: i64,
    pub(super) resolved_at: Option<i64>,
    pub(super) first_contact: Option<bool>,
    pub(super) channel: usize,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct SurveyRow {
    pub(super) responded_at: i64,
    pub(super) user_id: i64,
    pub(super) kind: u8,
    pub(super) score: i64,
}

/// Local time of day (hours) of work activity: a bell around early afternoon.
pub(super) fn work_hour(rng: &mut Rng) -> f64 {
    (13.5 + 2.8 * rng.normal()).clamp(6.0, 23.9)
}

/// A UTC instant on `day_start`'s date at a local working hour of `country`.
pub(super) fn work_time(rng: &mut Rng, day_start: i64, country: usize) -> i64 {
    let local = work_hour(rng) * HOUR_F;
    let utc = micros(local) - COUNTRIES[country].utc_offset_hours * US_PER_HOUR;
    day_start + utc.rem_euclid(US_PER_DAY)
}

pub(super) fn nps_score(rng: &mut Rng, p: &Profile, days_to_churn: Option<f64>) -> i64 {
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
pub(super) struct Activity<'a> {
    pub(super) p: &'a Profile,
    pub(super) w: &'a Window,
    pub(super) spans: &'a [Span],
    pub(super) session_mix: [u32; 9],
    pub(super) onboarding_mix: [u32; 9],
}

impl Activity<'_> {
    pub(super) fn run(
        &self,
        seed: u64,
        ids: &mut Ids,
        scratch: &mut Scratch,
        events: &mut EventsSink,
    ) {
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

    pub(super) fn usage_day(
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

    pub(super) fn support_day(
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
pub(super) fn relationship_surveys(
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

pub(super) struct EventsSink {
    pub(super) event_time: TimestampMicrosecondBuilder,
    pub(super) customer_id: Int64Builder,
    pub(super) user_id: Int64Builder,
    pub(super) event_name: StringBuilder,
    pub(super) session_id: Int64Builder,
}

impl EventsSink {
    pub(super) fn new() -> Self {
        Self {
            event_time: timestamps(),
            customer_id: ints(),
            user_id: ints(),
            event_name: strings(),
            session_id: ints(),
        }
    }

    pub(super) fn push(&mut self, customer_id: i64, e: &EventRow) {
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

pub(super) struct SurveysSink {
    pub(super) customer_id: Int64Builder,
    pub(super) user_id: Int64Builder,
    pub(super) kind: StringBuilder,
    pub(super) score: Int64Builder,
    pub(super) responded_at: TimestampMicrosecondBuilder,
}

impl SurveysSink {
    pub(super) fn new() -> Self {
        Self {
            customer_id: ints(),
            user_id: ints(),
            kind: strings(),
            score: ints(),
            responded_at: timestamps(),
        }
    }

    pub(super) fn push(&mut self, customer_id: i64, s: &SurveyRow) {
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

pub(super) struct TicketsSink {
    pub(super) ticket_id: Int64Builder,
    pub(super) customer_id: Int64Builder,
    pub(super) opened_at: TimestampMicrosecondBuilder,
    pub(super) resolved_at: TimestampMicrosecondBuilder,
    pub(super) resolved_on_first_contact: BooleanBuilder,
    pub(super) channel: StringBuilder,
}

impl TicketsSink {
    pub(super) fn new() -> Self {
        Self {
            ticket_id: ints(),
            customer_id: ints(),
            opened_at: timestamps(),
            resolved_at: timestamps(),
            resolved_on_first_contact: BooleanBuilder::with_capacity(BATCH_ROWS),
            channel: strings(),
        }
    }

    pub(super) fn push(&mut self, id: i64, customer_id: i64, t: &TicketRow) {
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
