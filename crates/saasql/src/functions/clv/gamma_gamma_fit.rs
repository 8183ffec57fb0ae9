//! `gamma_gamma_fit(frequency, monetary)`: the Gamma-Gamma model of spend
//! per transaction, fitted by maximum likelihood on repeat buyers.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{FieldRef, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use super::model::{ClvError, FitOptions, GammaGammaObs, check_gg_row, fit_gamma_gamma};
use super::support::{
    FitRow, PatternGroups, StructAggregate, StructKernel, clv_error, fit_fields,
    pattern_state_fields,
};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;

const NAME: &str = "gamma_gamma_fit";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Fits the Gamma-Gamma model of spend (Fader, Hardie & Lee 2005, \"RFM and CLV\"; \
         Hardie's note 025) by maximum likelihood over one row per customer: a struct \
         {p, q, v, log_likelihood, customers, converged}. A customer's transaction values \
         are Gamma(p, ν) with ν ~ Gamma(q, v) across customers (v is the papers' γ, in \
         currency units). The mean m of a customer's x repeat transactions has density \
         f(m | x) = Γ(px+q) / (Γ(px) Γ(q)) · v^q · m^(px−1) · x^(px) ÷ (v + x·m)^(px+q); \
         the fit maximises Σ ln f over ln p, ln q, ln v with Nelder-Mead (restarted \
         until a restart confirms the optimum), as the `lifetimes` package's \
         GammaGammaFitter does without a penalizer. Only repeat buyers (frequency > 0) \
         carry spend information: rows with frequency 0 are skipped, and customers counts \
         the repeat buyers used. Rows with a NULL argument are skipped; no rows gives NULL; \
         a group without a repeat buyer has NULL estimates and converged false. frequency \
         must be a whole number ≥ 0 and monetary > 0 for a repeat buyer; anything else \
         is an error. The model assumes spend is independent of frequency: check \
         corr(frequency, monetary) over the repeat buyers is near 0.",
        "gamma_gamma_fit(frequency, monetary)",
    )
    .with_argument("frequency", "Repeat purchases x (rfm's frequency).")
    .with_argument("monetary", "Mean value of the repeat purchases (rfm's monetary).")
    .with_sql_example(
        "SELECT gamma_gamma_fit(s['frequency'], s['monetary']) AS spend_model\nFROM (SELECT rfm(paid_at, amount, TIMESTAMP '2025-06-30 00:00:00') AS s FROM invoices GROUP BY customer_id);",
    )
    .with_related_udf("rfm")
    .with_related_udf("gamma_gamma_expected_spend")
    .with_related_udf("predicted_clv")
    .build()
});

const ESTIMATES: [&str; 4] = ["p", "q", "v", "log_likelihood"];

/// The `gamma_gamma_fit` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GammaGammaFit {
    params: Params,
}

impl Default for GammaGammaFit {
    fn default() -> Self {
        const PARAMS: [Param; 2] = [Param::number("frequency"), Param::number("monetary")];
        Self {
            params: Params::new(NAME, &PARAMS, &[2]),
        }
    }
}

/// Checks one customer (as the fit does). One-time buyers are kept (the
/// fit leaves them out), so a group of them is told from an empty one.
fn keep(row: &[f64; 2]) -> Result<bool, ClvError> {
    check_gg_row(row[0], row[1])?;
    Ok(true)
}

/// Fits one group's repeat buyers.
fn fit(rows: &[([f64; 2], f64)]) -> Result<FitRow> {
    let obs: Vec<GammaGammaObs> = rows
        .iter()
        .map(|&([x, monetary], weight)| GammaGammaObs {
            x,
            monetary,
            weight,
        })
        .collect();
    let customers = rows
        .iter()
        .filter(|r| r.0[0] > 0.0)
        .map(|r| r.1)
        .sum::<f64>() as i64;
    match fit_gamma_gamma(&obs, &FitOptions::default()) {
        Ok(f) => Ok(FitRow {
            values: [f.p, f.q, f.v, f.log_likelihood].map(Some).to_vec(),
            customers,
            converged: f.converged,
        }),
        Err(ClvError::NoRepeatBuyers) => Ok(FitRow {
            values: vec![None; ESTIMATES.len()],
            customers,
            converged: false,
        }),
        Err(e) => Err(clv_error(NAME, e)),
    }
}

impl StructKernel for GammaGammaFit {
    type Groups = PatternGroups<2>;
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
        Ok(pattern_state_fields(&args, &["frequency", "monetary"]))
    }
    fn groups(&self, _args: &AccumulatorArgs) -> Result<PatternGroups<2>> {
        Ok(PatternGroups::new(NAME, self.fields(), keep, fit))
    }
}

/// The `gamma_gamma_fit` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(
            StructAggregate(GammaGammaFit::default()),
        ))
    });
    Arc::clone(&UDAF)
}

/// The `gamma_gamma_fit` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(gamma_gamma_fit(frequency, monetary));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};
    use datafusion::common::ScalarValue;

    /// lifetimes' summary of the CDNOW transactions: unrounded repeat spends.
    const RFM: &str = include_str!("../../../tests/data/cdnow/cdnow_rfm_lifetimes.csv");

    #[test]
    fn cdnow_reproduces_hardie_note_025() {
        // p = 6.25, q = 3.74, γ = 15.44 on the 946 repeat buyers.
        let (mut x, mut m) = (vec![], vec![]);
        for line in RFM.lines().skip(1).filter(|l| !l.is_empty()) {
            let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
            x.push(f[1]);
            m.push(f[4]);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(x)),
            Arc::new(Float64Array::from(m)),
        ];
        let out = check_agree(&udaf(), &cols, &[], 1);
        let ScalarValue::Struct(s) = &out[0] else {
            panic!("{:?}", out[0])
        };
        let v = |i: usize| s.column(i).as_primitive::<Float64Type>().value(0);
        let round2 = |v: f64| (v * 100.0).round() / 100.0;
        assert_eq!(
            (round2(v(0)), round2(v(1)), round2(v(2))),
            (6.25, 3.74, 15.44)
        );
        assert_eq!(s.column(4).as_primitive::<Int64Type>().value(0), 946);
        assert!(s.column(5).as_boolean().value(0));
    }

    #[test]
    fn one_time_buyers_only_give_null_estimates_and_bad_rows_errors() {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![0.0, 0.0])),
            Arc::new(Float64Array::from(vec![0.0, 0.0])),
        ];
        let out = check_agree(&udaf(), &cols, &[], 1);
        let ScalarValue::Struct(s) = &out[0] else {
            unreachable!()
        };
        assert!(s.is_valid(0) && s.column(0).is_null(0));
        assert_eq!(
            keep(&[2.0, 0.0]).unwrap_err().to_string(),
            "monetary value of a repeat buyer must be > 0 for Gamma-Gamma, got 0"
        );
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            let x: Float64Array = (0..n)
                .map(|i| (i % 17 != 0).then_some((i % 5) as f64))
                .collect();
            let m: Float64Array = (0..n).map(|i| Some(5.0 + (i * 7 % 23) as f64)).collect();
            vec![Arc::new(x) as ArrayRef, Arc::new(m) as ArrayRef]
        });
    }
}
