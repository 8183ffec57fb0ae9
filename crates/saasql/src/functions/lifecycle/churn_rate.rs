//! `churn_rate(started_at, ended_at, period_start, period_end [, convention])`:
//! customer churn in a period, by one vendor's published formula.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::{SumsAggregate, SumsKernel, for_each_row};
use crate::args::{Param, Params};
use crate::breakdown::{Explain, Part};
use crate::docs;
use crate::functions::convention::Convention;
use crate::hooks::{Function, Hooks};
use crate::util::time::{MICROS_PER_DAY, fmt_time, time_micros};

const NAME: &str = "churn_rate";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Customer churn rate in a period as a percentage, by the published formula of the \
         vendor named by `convention`. One row per customer (or per active spell, or per \
         subscription, if that is the grain you want). A row is active at the start of a \
         window when started_at < window start AND (ended_at IS NULL OR ended_at ≥ window \
         start); it joined in the window when window start ≤ started_at < period_end; it \
         churned when ended_at < period_end. \
         'chartmogul' (default; ChartMogul Help Center, \"Metric: Customer Churn rate\", B2B \
         formula): window = [period_start, period_end); 100 × churned of those active at \
         the start / active at the start; customers who joined and churned in the period \
         are left out (the article's example: 100 customers at the start, 11 cancelled, one \
         of them joined that month → 10 %). \
         'stripe' (Stripe Support, \"Calculating subscriber churn rate in Billing\"): the \
         rolling 30 days that end at period_end (period_start is only checked); 100 × all \
         churned in the window, joiners included / (active 30 days ago + joined in the \
         window). A reactivated customer is a new row, so it counts as joined and can churn \
         a second time. \
         'baremetrics' (Baremetrics Help Center, \"User and Revenue Churn\", and the \
         Baremetrics changelog entry \"Churn Update\"): the same rolling 30 days; 100 × all \
         churned in the window, joiners included / active 30 days ago (joiners are not in \
         the denominator, so the rate can exceed 100). \
         'profitwell' (Paddle help for ProfitWell Metrics, \"Are cancellations in the first \
         month counted as churn?\" and \"ProfitWell vs. Chargify\"): customers who sign up \
         and churn in the same period are ignored, so on the same rows the formula is \
         ChartMogul's; ProfitWell records the churn at the end of the paid billing cycle, \
         which is a property of ended_at, not of the formula. \
         Stripe, Baremetrics and ProfitWell publish no worked example with figures. \
         NULL ended_at means still active; rows with NULL started_at or period bounds are \
         skipped. A zero denominator gives NULL. Period bounds may be columns, so one query \
         can cross-join a calendar and GROUP BY month. period_end ≤ period_start, or \
         ended_at < started_at, is an execution error; an unknown or non-constant \
         convention is a planning error. See churn_rate_breakdown for the counts.",
        "churn_rate(started_at, ended_at, period_start, period_end [, convention])",
    )
    .with_argument("started_at", "When the customer became active (DATE or TIMESTAMP).")
    .with_argument("ended_at", "When the customer churned; NULL while still active.")
    .with_argument("period_start", "Start of the period (inclusive).")
    .with_argument("period_end", "End of the period (exclusive).")
    .with_argument(
        "convention",
        "Optional constant: 'chartmogul' (default), 'stripe', 'baremetrics' or 'profitwell'.",
    )
    .with_sql_example(
        "SELECT m.month, churn_rate(c.started_at, c.ended_at, m.month, m.month + INTERVAL '1 month') AS churn_pct,\n       churn_rate(c.started_at, c.ended_at, m.month, m.month + INTERVAL '1 month', 'stripe') AS stripe_churn_pct\nFROM customer_lifetimes c\nCROSS JOIN (SELECT DISTINCT date_trunc('month', event_time) AS month FROM events) m\nGROUP BY m.month ORDER BY m.month;",
    )
    .with_related_udf("churn_rate_breakdown")
    .with_related_udf("mrr_churn_rate")
    .build()
});

/// The parameters of `churn_rate` and `churn_rate_breakdown`.
pub const PARAMS: [Param; 5] = [
    Param::time("started_at"),
    Param::time("ended_at"),
    Param::time("period_start"),
    Param::time("period_end"),
    Param::dict_text("convention"),
];

/// `churn_rate` and its breakdown check their constant convention while SQL
/// is planned and get it as a one-value dictionary.
pub const HOOKS: Hooks = Hooks {
    check_constants: Some(check_convention),
    string_constants: &[4],
    ..Hooks::NONE
};

fn check_convention(name: &str, literals: &[Option<ScalarValue>]) -> Result<()> {
    Convention::from_literals(name, literals, 4).map(|_| ())
}

/// The length of the rolling window of the Stripe and Baremetrics conventions.
const ROLLING_WINDOW: i64 = 30 * MICROS_PER_DAY;

/// The `churn_rate` kernel (also `churn_rate_breakdown`'s). Its sums:
/// active at the window start, of those churned, joined in the window, of
/// those churned, and rows active at no time in the window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChurnRate {
    name: &'static str,
    doc: &'static Documentation,
    params: Params,
    convention: Convention,
}

impl Default for ChurnRate {
    fn default() -> Self {
        Self::new(NAME, &DOC)
    }
}

impl ChurnRate {
    /// The kernel named `name` (`churn_rate` or its breakdown).
    pub fn new(name: &'static str, doc: &'static Documentation) -> Self {
        Self {
            name,
            doc,
            params: Params::new(name, &PARAMS, &[4, 5]),
            convention: Convention::default(),
        }
    }

    /// `(numerator, denominator)` of the rate from the sums, as the
    /// convention defines them.
    pub fn fraction(&self, s: &[f64; 5]) -> (f64, f64) {
        match self.convention {
            Convention::ChartMogul | Convention::ProfitWell => (s[1], s[0]),
            Convention::Stripe => (s[1] + s[3], s[0] + s[2]),
            Convention::Baremetrics => (s[1] + s[3], s[0]),
        }
    }

    /// Joiners left out of the rate: all of them (ChartMogul, ProfitWell),
    /// none (Stripe), or those who did not churn (Baremetrics counts their
    /// churn but not them).
    pub fn excluded_joined(&self, s: &[f64; 5]) -> f64 {
        match self.convention {
            Convention::ChartMogul | Convention::ProfitWell => s[2],
            Convention::Stripe => 0.0,
            Convention::Baremetrics => s[2] - s[3],
        }
    }
}

impl SumsKernel<5> for ChurnRate {
    fn name(&self) -> &'static str {
        self.name
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        self.doc
    }
    fn state_names(&self) -> [&'static str; 5] {
        [
            "active_at_start",
            "churned",
            "joined",
            "joined_churned",
            "inactive",
        ]
    }
    fn required_args(&self) -> &'static [usize] {
        &[0, 2, 3]
    }
    fn configure(&self, literals: &[Option<ScalarValue>]) -> Result<Self> {
        Ok(Self {
            convention: Convention::from_literals(self.name, literals, 4)?,
            ..self.clone()
        })
    }
    fn contributions<F: FnMut(usize, [f64; 5])>(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        mut emit: F,
    ) -> Result<()> {
        let name = self.name;
        let started = time_micros(name, "started_at", &args[0])?;
        let ended = time_micros(name, "ended_at", &args[1])?;
        let ended_nulls = args[1].logical_nulls();
        let ps = time_micros(name, "period_start", &args[2])?;
        let pe = time_micros(name, "period_end", &args[3])?;
        let rolling = matches!(
            self.convention,
            Convention::Stripe | Convention::Baremetrics
        );
        for_each_row(started.len(), mask, |i| {
            if pe[i] <= ps[i] {
                return exec_err!(
                    "{name}: period_end {} is not after period_start {}",
                    fmt_time(pe[i]),
                    fmt_time(ps[i])
                );
            }
            let end = if ended_nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                None
            } else {
                Some(ended[i])
            };
            if let Some(e) = end
                && e < started[i]
            {
                return exec_err!(
                    "{name}: ended_at {} is before started_at {}",
                    fmt_time(e),
                    fmt_time(started[i])
                );
            }
            let window_start = if rolling {
                pe[i].saturating_sub(ROLLING_WINDOW)
            } else {
                ps[i]
            };
            let churned = end.is_some_and(|e| e < pe[i]);
            let at_start = started[i] < window_start && end.is_none_or(|e| e >= window_start);
            let joined = started[i] >= window_start && started[i] < pe[i];
            emit(
                i,
                [
                    f64::from(at_start),
                    f64::from(at_start && churned),
                    f64::from(joined),
                    f64::from(joined && churned),
                    f64::from(!at_start && !joined),
                ],
            );
            Ok(())
        })
    }
    fn finish(&self, s: &[f64; 5]) -> Option<f64> {
        let (n, d) = self.fraction(s);
        (d > 0.0).then(|| 100.0 * n / d)
    }
}

const CHURN_PARTS: [Part; 8] = [
    Part::count("numerator"),
    Part::count("denominator"),
    Part::count("customers_at_start"),
    Part::count("churned_from_start"),
    Part::count("joined_in_period"),
    Part::count("joined_and_churned"),
    Part::count("excluded_joined"),
    Part::count("excluded_inactive"),
];

impl Explain<5> for ChurnRate {
    fn parts(&self) -> &'static [Part] {
        &CHURN_PARTS
    }
    fn part(&self, index: usize, s: &[f64; 5]) -> f64 {
        let (n, d) = self.fraction(s);
        match index {
            0 => n,
            1 => d,
            2..=5 => s[index - 2],
            6 => self.excluded_joined(s),
            _ => s[4],
        }
    }
}

/// The `churn_rate` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(SumsAggregate(ChurnRate::default()))));
    Arc::clone(&UDAF)
}

/// The `churn_rate` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(churn_rate(started_at, ended_at, period_start, period_end); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::common::ScalarValue;

    const DAY: i64 = crate::util::time::MICROS_PER_DAY;

    fn ts(v: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(
            v.into_iter()
                .map(|d| d.map(|d| d * DAY))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn chartmogul_convention() {
        // period [day 10, day 20)
        // a: 0..NULL active, stays        -> at start, not churned
        // b: 0..15 churns inside           -> at start, churned
        // c: 0..10 ends on period start    -> at start (ended_at >= start), churned
        // d: 12..NULL joins inside         -> neither
        // e: 0..5 gone before              -> neither
        // f: 0..20 ends at period end      -> at start, not churned (end exclusive)
        let data = vec![
            ts(vec![Some(0), Some(0), Some(0), Some(12), Some(0), Some(0)]),
            ts(vec![None, Some(15), Some(10), None, Some(5), Some(20)]),
            ts(vec![Some(10); 6]),
            ts(vec![Some(20); 6]),
        ];
        // 2 churned of 4 at start = 50 %
        assert_eq!(
            check_agree(&udaf(), &data, &[], 1),
            vec![ScalarValue::Float64(Some(50.0))]
        );
    }

    /// The ChartMogul B2B worked example ("Metric: Customer Churn rate"):
    /// 100 customers at the start of the month, 11 cancel during it, one of
    /// whom joined that month → 10 / 100 = 10 %. The other conventions on
    /// the same rows (a 30-day period, so the rolling window is the period).
    #[test]
    fn chartmogul_worked_example_and_the_other_conventions() {
        // period [day 10, day 40): 100 customers from day 0, 10 of them end
        // on day 20; one joins on day 15 and ends on day 25
        let n = 101;
        let started: Vec<Option<i64>> = (0..n)
            .map(|k| Some(if k == 100 { 15 } else { 0 }))
            .collect();
        let ended: Vec<Option<i64>> = (0..n)
            .map(|k| match k {
                100 => Some(25),
                k if k < 10 => Some(20),
                _ => None,
            })
            .collect();
        let data = vec![
            ts(started),
            ts(ended),
            ts(vec![Some(10); n]),
            ts(vec![Some(40); n]),
        ];
        let with = |c: &str| {
            let lit = [ScalarValue::Utf8(Some(c.to_string()))];
            match check_agree(&udaf(), &data, &lit, 1)[0] {
                ScalarValue::Float64(Some(v)) => v,
                ref other => panic!("{c}: {other:?}"),
            }
        };
        assert_eq!(
            check_agree(&udaf(), &data, &[], 1),
            vec![ScalarValue::Float64(Some(10.0))]
        );
        assert_eq!(with("chartmogul"), 10.0);
        assert_eq!(with("profitwell"), 10.0);
        // Stripe: (10 + the joiner) / (100 + the joiner)
        assert_eq!(with("stripe"), 100.0 * 11.0 / 101.0);
        // Baremetrics: the joiner's churn counts, the joiner does not
        assert_eq!(with("baremetrics"), 11.0);
    }

    /// Stripe and Baremetrics look at the 30 days that end at period_end,
    /// whatever the period's length.
    #[test]
    fn rolling_conventions_use_the_30_days_before_period_end() {
        // period [day 31, day 59) (28 days): the window is [day 29, day 59)
        // a: 0..30 ends before the period, inside the window
        // b: 0..NULL stays
        // c: 30..40 joins inside the window, a day before the period
        let data = vec![
            ts(vec![Some(0), Some(0), Some(30)]),
            ts(vec![Some(30), None, Some(40)]),
            ts(vec![Some(31); 3]),
            ts(vec![Some(59); 3]),
        ];
        let with =
            |c: &str| check_agree(&udaf(), &data, &[ScalarValue::Utf8(Some(c.to_string()))], 1);
        let one = |v: f64| vec![ScalarValue::Float64(Some(v))];
        // ChartMogul: b and c at the start (a is gone), c churned: 1 / 2
        assert_eq!(with("chartmogul"), one(50.0));
        // Stripe: a, b at the window start + c joined; a and c churned: 2 / 3
        assert_eq!(with("stripe"), one(200.0 / 3.0));
        // Baremetrics: a and c churned / a, b at the window start: 2 / 2
        assert_eq!(with("baremetrics"), one(100.0));
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        for c in ["chartmogul", "stripe", "baremetrics", "profitwell"] {
            check_sizes(&udaf(), &[ScalarValue::Utf8(Some(c.into()))], sample);
        }
        check_sizes(&udaf(), &[], |n| {
            let i = |f: &dyn Fn(i64) -> Option<i64>| ts((0..n as i64).map(f).collect());
            vec![
                i(&|k| (k % 13 != 0).then_some(k % 30)),
                i(&|k| (k % 3 != 0).then_some(k % 30 + k % 17)),
                i(&|k| Some(10 + k % 4 * 30)),
                i(&|k| Some(40 + k % 4 * 30)),
            ]
        });
    }

    fn sample(n: usize) -> Vec<ArrayRef> {
        let i = |f: &dyn Fn(i64) -> Option<i64>| ts((0..n as i64).map(f).collect());
        vec![
            i(&|k| (k % 13 != 0).then_some(k % 30)),
            i(&|k| (k % 3 != 0).then_some(k % 30 + k % 17)),
            i(&|k| Some(10 + k % 4 * 30)),
            i(&|k| Some(40 + k % 4 * 30)),
        ]
    }

    #[test]
    fn inverted_period_is_an_error() {
        let data = vec![
            ts(vec![Some(0)]),
            ts(vec![None]),
            ts(vec![Some(20)]),
            ts(vec![Some(10)]),
        ];
        let err = crate::aggregate::testing::with_args(
            &data,
            &[],
            datafusion::arrow::datatypes::DataType::Float64,
            |args| {
                udaf()
                    .accumulator(args)
                    .unwrap()
                    .update_batch(&data)
                    .unwrap_err()
            },
        );
        assert_eq!(
            err.strip_backtrace(),
            "Execution error: churn_rate: period_end 1970-01-11T00:00:00 is not after period_start 1970-01-21T00:00:00"
        );
    }
}
