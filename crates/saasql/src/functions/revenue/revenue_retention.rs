//! Shared kernel of the MRR retention aggregates over one row per customer
//! `(start_mrr, end_mrr)`: `mrr_churn_rate`, `net_revenue_retention` and
//! `gross_revenue_retention`.
//!
//! Customers with `start_mrr` NULL or 0 (new in the period) are left out (and
//! counted, for the breakdowns); an
//! `end_mrr` of NULL counts as 0 (the customer is gone, as in a LEFT JOIN of
//! the start month to the end month). Negative MRR is an error.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::Float64Type;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::Documentation;

use crate::aggregate::{MIN_SUMMABLE, SumsKernel, for_each_row};
use crate::args::{Param, Params};
use crate::breakdown::{Explain, Part};
use crate::functions::convention::Convention;
use crate::hooks::Hooks;
use crate::util::literals::constant_arg;
use crate::util::numbers::fmt_num;

/// Which ratio a [`RetentionKernel`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetentionMetric {
    /// 100 × MRR lost / Σ start: churned MRR (customers whose end is 0),
    /// plus contraction when the call names the ChartMogul or Baremetrics
    /// convention.
    MrrChurn,
    /// 100 × Σ end / Σ start.
    Net,
    /// 100 × Σ min(end, start) / Σ start.
    Gross,
}

/// An MRR retention aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetentionKernel {
    name: &'static str,
    metric: RetentionMetric,
    doc: &'static Documentation,
    params: Params,
    /// The call's convention; `None` without one (for MRR churn: churned
    /// MRR only, the original definition).
    convention: Option<Convention>,
}

const PARAMS: [Param; 3] = [
    Param::number("start_mrr"),
    Param::number("end_mrr"),
    Param::dict_text("convention"),
];

/// The hooks of a retention aggregate that takes a convention (third
/// argument): checked while SQL is planned, passed as a one-value dictionary.
pub const CONVENTION_HOOKS: Hooks = Hooks {
    check_constants: Some(check_convention),
    string_constants: &[2],
    ..Hooks::NONE
};

fn check_convention(name: &str, literals: &[Option<ScalarValue>]) -> Result<()> {
    Convention::from_literals(name, literals, 2).map(|_| ())
}

impl RetentionKernel {
    /// The kernel for `metric`, named `name`.
    pub fn new(name: &'static str, metric: RetentionMetric, doc: &'static Documentation) -> Self {
        Self {
            name,
            metric,
            doc,
            params: Params::new(name, &PARAMS, &[2]),
            convention: None,
        }
    }

    /// The same kernel taking an optional third argument, the convention.
    pub fn with_convention(self) -> Self {
        Self {
            params: Params::new(self.name, &PARAMS, &[2, 3]),
            ..self
        }
    }

    /// The metric.
    pub fn metric(&self) -> RetentionMetric {
        self.metric
    }

    fn check(&self, argument: &str, v: f64) -> Result<f64> {
        if v >= MIN_SUMMABLE && v.is_finite() || v == 0.0 {
            Ok(v)
        } else if v > 0.0 {
            exec_err!(
                "{}: {argument} {} is below 1e-288, the smallest amount summed at full precision",
                self.name,
                fmt_num(v)
            )
        } else {
            exec_err!("{}: {argument} {} is outside 0..∞", self.name, fmt_num(v))
        }
    }
}

/// The sums of a [`RetentionKernel`]: customers with start MRR, their
/// start MRR, the MRR the metric keeps (retained, or lost for MRR churn),
/// churned MRR, contraction MRR, expansion MRR, and customers left out as
/// new (start MRR 0).
pub const SUMS: usize = 7;

impl SumsKernel<SUMS> for RetentionKernel {
    fn name(&self) -> &'static str {
        self.name
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        self.doc
    }
    fn state_names(&self) -> [&'static str; SUMS] {
        [
            "customers",
            "start_mrr",
            "kept_mrr",
            "churned_mrr",
            "contraction_mrr",
            "expansion_mrr",
            "new_customers",
        ]
    }
    fn required_args(&self) -> &'static [usize] {
        &[0]
    }
    fn configure(&self, literals: &[Option<ScalarValue>]) -> Result<Self> {
        Ok(Self {
            convention: match constant_arg(self.name, "convention", literals, 2)? {
                None => None,
                Some(v) => Some(Convention::from_literal(self.name, v)?),
            },
            ..self.clone()
        })
    }
    fn contributions<F: FnMut(usize, [f64; SUMS])>(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        mut emit: F,
    ) -> Result<()> {
        let start = args[0].as_primitive::<Float64Type>().values();
        let end_arr = args[1].as_primitive::<Float64Type>();
        let end = end_arr.values();
        let end_nulls = end_arr.logical_nulls();
        for_each_row(start.len(), mask, |i| {
            let s = self.check("start_mrr", start[i])?;
            let e = if end_nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                0.0
            } else {
                self.check("end_mrr", end[i])?
            };
            if s > 0.0 {
                let churned = if e == 0.0 { s } else { 0.0 };
                let contraction = if e > 0.0 && e < s { s - e } else { 0.0 };
                let expansion = if e > s { e - s } else { 0.0 };
                let kept = match self.metric {
                    RetentionMetric::MrrChurn => match self.convention {
                        Some(Convention::ChartMogul | Convention::Baremetrics) => s - e.min(s),
                        None | Some(Convention::Stripe | Convention::ProfitWell) => churned,
                    },
                    RetentionMetric::Net => e,
                    RetentionMetric::Gross => e.min(s),
                };
                emit(i, [1.0, s, kept, churned, contraction, expansion, 0.0]);
            } else {
                emit(i, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
            }
            Ok(())
        })
    }
    /// The customer count, not the MRR sum, decides emptiness: in sliding
    /// windows retracted float sums can leave rounding residue.
    fn finish(&self, s: &[f64; SUMS]) -> Option<f64> {
        (s[0] > 0.0 && s[1] > 0.0).then(|| 100.0 * s[2] / s[1])
    }
}

const RETENTION_PARTS: [Part; 7] = [
    Part::amount("numerator"),
    Part::amount("denominator"),
    Part::count("customers"),
    Part::amount("churned_mrr"),
    Part::amount("contraction_mrr"),
    Part::amount("expansion_mrr"),
    Part::count("excluded_new"),
];

impl Explain<SUMS> for RetentionKernel {
    fn parts(&self) -> &'static [Part] {
        &RETENTION_PARTS
    }
    fn part(&self, index: usize, s: &[f64; SUMS]) -> f64 {
        match index {
            0 => s[2],
            1 => s[1],
            2 => s[0],
            k => s[k],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::aggregate::testing::{check_agree, check_sizes};
    use crate::functions::revenue::{
        gross_revenue_retention, mrr_churn_rate, net_revenue_retention,
    };
    use datafusion::arrow::array::{ArrayRef, Float64Array};
    use datafusion::common::ScalarValue;
    use std::sync::Arc;

    fn sample() -> Vec<ArrayRef> {
        // customers: 100→120 (expansion), 200→0 (churn), 50→NULL (churn),
        // 0→80 (new, excluded), NULL→10 (excluded), 300→250 (contraction)
        vec![
            Arc::new(Float64Array::from(vec![
                Some(100.0),
                Some(200.0),
                Some(50.0),
                Some(0.0),
                None,
                Some(300.0),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(120.0),
                Some(0.0),
                None,
                Some(80.0),
                Some(10.0),
                Some(250.0),
            ])),
        ]
    }

    fn one(v: f64) -> Vec<ScalarValue> {
        vec![ScalarValue::Float64(Some(v))]
    }

    fn text(s: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(s.into()))
    }

    /// ChartMogul's Gross MRR churn rate example ("Metric: MRR Churn
    /// Rate"): $100 MRR at the start; $10 lost to churn, $10 to
    /// contraction, while one customer adds $10 → 20 %. Stripe and
    /// ProfitWell count the churned $10 only.
    #[test]
    fn chartmogul_gross_mrr_churn_example() {
        let data: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![10.0, 20.0, 30.0, 40.0])),
            Arc::new(Float64Array::from(vec![0.0, 10.0, 40.0, 40.0])),
        ];
        assert_eq!(
            check_agree(&mrr_churn_rate::udaf(), &data, &[text("chartmogul")], 1),
            one(20.0)
        );
        assert_eq!(
            check_agree(&mrr_churn_rate::udaf(), &data, &[text("stripe")], 1),
            one(10.0)
        );
        // Without a convention: churned MRR only (the original definition).
        assert_eq!(
            check_agree(&mrr_churn_rate::udaf(), &data, &[], 1),
            one(10.0)
        );
        // the same rows: GRR is 100 − ChartMogul's gross MRR churn
        assert_eq!(
            check_agree(&gross_revenue_retention::udaf(), &data, &[], 1),
            one(80.0)
        );
    }

    #[test]
    fn hand_computed_ratios() {
        // start Σ = 650; churned = 250, contraction 50 (300 → 250)
        assert_eq!(
            check_agree(&mrr_churn_rate::udaf(), &sample(), &[], 1),
            one(100.0 * 250.0 / 650.0)
        );
        for (c, lost) in [
            ("chartmogul", 300.0),
            ("baremetrics", 300.0),
            ("stripe", 250.0),
            ("profitwell", 250.0),
        ] {
            assert_eq!(
                check_agree(&mrr_churn_rate::udaf(), &sample(), &[text(c)], 1),
                one(100.0 * lost / 650.0),
                "{c}"
            );
        }
        // end Σ = 120 + 0 + 0 + 250 = 370
        assert_eq!(
            check_agree(&net_revenue_retention::udaf(), &sample(), &[], 1),
            one(100.0 * 370.0 / 650.0)
        );
        // capped: 100 + 0 + 0 + 250 = 350
        assert_eq!(
            check_agree(&gross_revenue_retention::udaf(), &sample(), &[], 1),
            one(100.0 * 350.0 / 650.0)
        );
    }

    #[test]
    fn mrr_near_the_double_limit_does_not_overflow() {
        // Σ start = Σ end = 2e308: NRR and GRR 100, nothing churned
        let big = || -> Vec<ArrayRef> {
            vec![
                Arc::new(Float64Array::from(vec![1e308, 1e308])),
                Arc::new(Float64Array::from(vec![1e308, 1e308])),
            ]
        };
        assert_eq!(
            check_agree(&net_revenue_retention::udaf(), &big(), &[], 1),
            one(100.0)
        );
        assert_eq!(
            check_agree(&gross_revenue_retention::udaf(), &big(), &[], 1),
            one(100.0)
        );
        assert_eq!(
            check_agree(&mrr_churn_rate::udaf(), &big(), &[], 1),
            one(0.0)
        );
        // one of the two churned: 50 %
        let half: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![1.5e308, 1.5e308])),
            Arc::new(Float64Array::from(vec![Some(1.5e308), None])),
        ];
        for f in [mrr_churn_rate::udaf(), net_revenue_retention::udaf()] {
            let v = check_agree(&f, &half, &[], 1);
            let ScalarValue::Float64(Some(v)) = v[0] else {
                panic!("{}: {v:?}", f.name())
            };
            assert!((v - 50.0).abs() < 1e-12, "{}: {v}", f.name());
        }
    }

    #[test]
    fn retention_beyond_double_range_is_an_error() {
        use crate::aggregate::testing::with_args;
        use datafusion::arrow::datatypes::DataType;
        let data: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![1e-288])),
            Arc::new(Float64Array::from(vec![1e308])),
        ];
        let err = with_args(&data, &[], DataType::Float64, |args| {
            let mut acc = net_revenue_retention::udaf().accumulator(args).unwrap();
            acc.update_batch(&data).unwrap();
            acc.evaluate().unwrap_err()
        });
        assert_eq!(
            err.strip_backtrace(),
            "Execution error: net_revenue_retention: the result is beyond the DOUBLE range (±1.8e308)"
        );
    }

    /// Amounts too small for the scaled sums are an error naming the value,
    /// never a NULL or a ratio that lost precision; from 1e-288 up the ratio
    /// is exact.
    #[test]
    fn tiny_mrr_is_an_error_or_exact() {
        use crate::aggregate::testing::with_args;
        use datafusion::arrow::datatypes::DataType;
        let run = |start: f64, end: f64| {
            let data: Vec<ArrayRef> = vec![
                Arc::new(Float64Array::from(vec![start])),
                Arc::new(Float64Array::from(vec![end])),
            ];
            with_args(&data, &[], DataType::Float64, |args| {
                let mut acc = net_revenue_retention::udaf().accumulator(args).unwrap();
                acc.update_batch(&data)
                    .and_then(|()| acc.evaluate())
                    .map_err(|e| e.strip_backtrace())
            })
        };
        assert_eq!(
            run(3e-308, 1e-300).unwrap_err(),
            "Execution error: net_revenue_retention: start_mrr 3e-308 is below 1e-288, \
             the smallest amount summed at full precision"
        );
        assert_eq!(
            run(1.0, 1e-300).unwrap_err(),
            "Execution error: net_revenue_retention: end_mrr 1e-300 is below 1e-288, \
             the smallest amount summed at full precision"
        );
        let ScalarValue::Float64(Some(v)) = run(1e-288, 1.0).unwrap() else {
            panic!("a number")
        };
        assert!((v / 1e290 - 1.0).abs() <= 4.0 * f64::EPSILON, "{v}");
        let ScalarValue::Float64(Some(v)) = run(2e-288, 4e-288).unwrap() else {
            panic!("a number")
        };
        assert!((v - 200.0).abs() <= 200.0 * f64::EPSILON, "{v}");
    }

    proptest::proptest! {
        // No regression files: a failure found here becomes a named unit test.
        #![proptest_config(proptest::test_runner::Config {
            cases: 64,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Whatever the magnitudes (up to the largest DOUBLE), GRR and MRR
        /// churn stay within 0..100 and every accumulator path agrees.
        #[test]
        fn shares_stay_within_0_to_100(
            rows in proptest::collection::vec(
                (0.0..=f64::MAX, proptest::option::of(0.0..=f64::MAX)),
                1..40,
            )
        ) {
            let data: Vec<ArrayRef> = vec![
                Arc::new(rows.iter().map(|r| Some(r.0)).collect::<Float64Array>()),
                Arc::new(rows.iter().map(|r| r.1).collect::<Float64Array>()),
            ];
            for f in [gross_revenue_retention::udaf(), mrr_churn_rate::udaf()] {
                let groups = 1 + rows.len() % 3;
                for v in check_agree(&f, &data, &[], groups) {
                    match v {
                        ScalarValue::Float64(Some(v)) => proptest::prop_assert!(
                            (0.0..=100.0 + 1e-9).contains(&v),
                            "{}: {v}",
                            f.name()
                        ),
                        ScalarValue::Float64(None) => {}
                        other => proptest::prop_assert!(false, "{other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        for f in [
            mrr_churn_rate::udaf(),
            net_revenue_retention::udaf(),
            gross_revenue_retention::udaf(),
        ] {
            check_sizes(&f, &[], |n| {
                let s: Float64Array = (0..n)
                    .map(|i| (i % 9 != 0).then_some((i % 5) as f64 * 10.0))
                    .collect();
                let e: Float64Array = (0..n)
                    .map(|i| (i % 7 != 0).then_some((i % 4) as f64 * 10.0))
                    .collect();
                vec![Arc::new(s) as ArrayRef, Arc::new(e) as ArrayRef]
            });
        }
        check_sizes(&mrr_churn_rate::udaf(), &[text("stripe")], |n| {
            let s: Float64Array = (0..n).map(|i| Some((i % 5) as f64 * 10.0)).collect();
            let e: Float64Array = (0..n).map(|i| Some((i % 4) as f64 * 10.0)).collect();
            vec![Arc::new(s) as ArrayRef, Arc::new(e) as ArrayRef]
        });
    }
}
