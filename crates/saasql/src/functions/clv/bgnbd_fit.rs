//! `bgnbd_fit(frequency, recency, t)`: the BG/NBD model of repeat buying,
//! fitted by maximum likelihood.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{FieldRef, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use super::model::{BgNbdObs, ClvError, FitOptions, fit_bgnbd, validate_summary};
use super::support::{
    FitRow, PatternGroups, StructAggregate, StructKernel, clv_error, fit_fields,
    pattern_state_fields,
};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;

const NAME: &str = "bgnbd_fit";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Fits the BG/NBD model of Fader, Hardie & Lee (2005), \"Counting Your Customers the \
         Easy Way\", by maximum likelihood, over one row per customer: a struct {r, alpha, a, \
         b, log_likelihood, customers, converged}. While alive a customer buys at rate λ ~ \
         Gamma(r, α); after each purchase they drop out with probability p ~ Beta(a, b). \
         The likelihood of a customer with x repeat purchases, the last at t_x, observed \
         for T is L = Γ(r+x) α^r / Γ(r) · B(a, b+x) / B(a, b) · [(α+T)^−(r+x) + δ(x>0) · \
         a/(b+x−1) · (α+t_x)^−(r+x)] (their eq. 6); the fit maximises Σ ln L over \
         ln r, ln α, ln a, ln b with L-BFGS and the analytic gradient (Nelder-Mead if that \
         fails), as the `lifetimes` package's BetaGeoFitter does without a penalizer. \
         alpha is in the time unit of recency and t. log_likelihood is Σ ln L at the \
         estimate; customers counts the rows used; converged is true when the gradient \
         norm ended below 1e-7 (or Nelder-Mead met its tolerance). Rows with a NULL \
         argument are skipped; no rows gives NULL. A group where nobody bought twice has \
         no maximum: its estimates and log_likelihood are NULL and converged is false. \
         frequency must be a whole number ≥ 0, t > 0 (leave out customers first seen at \
         the observation end), 0 ≤ recency ≤ t, and recency 0 when frequency is 0; \
         anything else is an error. Customers with equal (frequency, recency, t) are \
         kept once with a count, so a million customers fit in seconds.",
        "bgnbd_fit(frequency, recency, t)",
    )
    .with_argument("frequency", "Repeat purchases x (rfm's frequency).")
    .with_argument("recency", "Time t_x of the last purchase after the first (rfm's recency).")
    .with_argument("t", "Time T from the first purchase to the observation end (rfm's t), in the unit of recency.")
    .with_sql_example(
        "SELECT bgnbd_fit(s['frequency'], s['recency'], s['t']) AS model\nFROM (SELECT rfm(paid_at, amount, TIMESTAMP '2025-06-30 00:00:00') AS s FROM invoices GROUP BY customer_id)\nWHERE s['t'] > 0;",
    )
    .with_related_udf("rfm")
    .with_related_udf("bgnbd_expected_purchases")
    .with_related_udf("bgnbd_p_alive")
    .build()
});

const ESTIMATES: [&str; 5] = ["r", "alpha", "a", "b", "log_likelihood"];

/// The `bgnbd_fit` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BgNbdFit {
    params: Params,
}

impl Default for BgNbdFit {
    fn default() -> Self {
        const PARAMS: [Param; 3] = [
            Param::number("frequency"),
            Param::number("recency"),
            Param::number("t"),
        ];
        Self {
            params: Params::new(NAME, &PARAMS, &[3]),
        }
    }
}

/// Checks one customer's (x, t_x, T).
fn keep(row: &[f64; 3]) -> Result<bool, ClvError> {
    validate_summary(row[0], row[1], row[2])?;
    Ok(true)
}

/// Fits one group's patterns.
fn fit(rows: &[([f64; 3], f64)]) -> Result<FitRow> {
    let obs: Vec<BgNbdObs> = rows
        .iter()
        .map(|&([x, t_x, t], weight)| BgNbdObs { x, t_x, t, weight })
        .collect();
    let customers = rows.iter().map(|r| r.1).sum::<f64>() as i64;
    match fit_bgnbd(&obs, &FitOptions::default()) {
        Ok(f) => Ok(FitRow {
            values: [f.r, f.alpha, f.a, f.b, f.log_likelihood]
                .map(Some)
                .to_vec(),
            customers,
            converged: f.converged,
        }),
        Err(ClvError::NoRepeatPurchases) => Ok(FitRow {
            values: vec![None; ESTIMATES.len()],
            customers,
            converged: false,
        }),
        Err(e) => Err(clv_error(NAME, e)),
    }
}

impl StructKernel for BgNbdFit {
    type Groups = PatternGroups<3>;
    fn name(&self) -> &'static str {
        NAME
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        &DOC
    }
    fn fields(&self) -> Fields {
        fit_fields(&ESTIMATES)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(pattern_state_fields(&args, &["frequency", "recency", "t"]))
    }
    fn groups(&self, _args: &AccumulatorArgs) -> Result<PatternGroups<3>> {
        Ok(PatternGroups::new(NAME, self.fields(), keep, fit))
    }
}

/// The `bgnbd_fit` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(StructAggregate(BgNbdFit::default()))));
    Arc::clone(&UDAF)
}

/// The `bgnbd_fit` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(bgnbd_fit(frequency, recency, t));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};
    use datafusion::common::ScalarValue;

    const SUMMARY: &str = include_str!("../../../tests/data/cdnow/cdnow_customers_summary.csv");

    /// The CDNOW summary as (frequency, recency, T) columns.
    fn cdnow() -> Vec<ArrayRef> {
        let mut cols = [vec![], vec![], vec![]];
        for line in SUMMARY.lines().skip(1).filter(|l| !l.is_empty()) {
            let f: Vec<f64> = line
                .split(',')
                .skip(1)
                .map(|v| v.parse().unwrap())
                .collect();
            for (c, v) in cols.iter_mut().zip(f) {
                c.push(v);
            }
        }
        cols.into_iter()
            .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
            .collect()
    }

    fn double(s: &ScalarValue, i: usize) -> Option<f64> {
        let ScalarValue::Struct(s) = s else {
            panic!("{s:?}")
        };
        let c = s.column(i).as_primitive::<Float64Type>();
        (!s.is_null(0) && c.is_valid(0)).then(|| c.value(0))
    }

    #[test]
    fn cdnow_reproduces_the_published_estimates() {
        // Fader, Hardie & Lee (2005), section 5: r = 0.243, α = 4.414,
        // a = 0.793, b = 2.426, LL = -9582.4; 2,357 customers in 3 groups.
        let out = check_agree(&udaf(), &cdnow(), &[], 1);
        let round = |v: Option<f64>, d: i32| (v.unwrap() * 10f64.powi(d)).round() / 10f64.powi(d);
        assert_eq!(round(double(&out[0], 0), 3), 0.243);
        assert_eq!(round(double(&out[0], 1), 3), 4.414);
        assert_eq!(round(double(&out[0], 2), 3), 0.793);
        assert_eq!(round(double(&out[0], 3), 3), 2.426);
        assert_eq!(round(double(&out[0], 4), 1), -9582.4);
        let ScalarValue::Struct(s) = &out[0] else {
            unreachable!()
        };
        assert_eq!(s.column(5).as_primitive::<Int64Type>().value(0), 2357);
        assert!(s.column(6).as_boolean().value(0));
    }

    #[test]
    fn nobody_bought_twice_gives_null_estimates() {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![0.0, 0.0])),
            Arc::new(Float64Array::from(vec![0.0, 0.0])),
            Arc::new(Float64Array::from(vec![3.0, 5.0])),
        ];
        let out = check_agree(&udaf(), &cols, &[], 1);
        assert_eq!(double(&out[0], 0), None);
        let ScalarValue::Struct(s) = &out[0] else {
            unreachable!()
        };
        assert!(s.is_valid(0));
        assert_eq!(s.column(5).as_primitive::<Int64Type>().value(0), 2);
        assert!(!s.column(6).as_boolean().value(0));
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            let x: Float64Array = (0..n)
                .map(|i| (i % 17 != 0).then_some((i % 4) as f64))
                .collect();
            let tx: Float64Array = (0..n)
                .map(|i| Some(if i % 4 == 0 { 0.0 } else { (i % 9) as f64 }))
                .collect();
            let t: Float64Array = (0..n).map(|i| Some(10.0 + (i % 3) as f64)).collect();
            vec![
                Arc::new(x) as ArrayRef,
                Arc::new(tx) as ArrayRef,
                Arc::new(t) as ArrayRef,
            ]
        });
    }
}
