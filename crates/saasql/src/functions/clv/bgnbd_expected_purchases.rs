//! `bgnbd_expected_purchases(model, horizon, frequency, recency, t)`: a
//! customer's expected purchases in the next `horizon`, under a fitted BG/NBD model.

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use super::model::{BgNbdParams, bgnbd_expected_purchases as model_bgnbd_expected_purchases};
use super::support::{BGNBD_FIELDS, ModelScalar, clv_error};
use crate::args::Param;
use crate::docs;
use crate::hooks::Function;

const NAME: &str = "bgnbd_expected_purchases";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The number of purchases a customer with history (x = frequency, t_x = recency, \
         T = t) is expected to make in the next `horizon` time units, under a BG/NBD model \
         (Fader, Hardie & Lee 2005, eq. 10): E[Y(h)] = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+h))^(r+x) \
         · ₂F₁(r+x, b+x; a+b+x−1; h/(α+T+h))] ÷ [1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)]. \
         ₂F₁ is summed as a power series after Euler's transformation (which keeps every \
         term finite), until the bounded tail is below 1e-16 of the sum; a series that has \
         not converged after 200,000 terms is an error. model is the struct bgnbd_fit \
         returns (its fields r, alpha, a and b are read by name; other fields are ignored). \
         horizon, recency and t are in the time unit the model was fitted in (weeks for \
         rfm's default). Matches the `lifetimes` package's \
         conditional_expected_number_of_purchases_up_to_time. NULL arguments, or a model \
         with NULL estimates, give NULL. A negative horizon, a history rfm cannot produce \
         (frequency not a whole number ≥ 0, recency outside 0..t, t < 0), a parameter ≤ 0 \
         or a = 1 is an error. t = 0 (a customer first seen at the observation end) is allowed.",
        "bgnbd_expected_purchases(model, horizon, frequency, recency, t)",
    )
    .with_argument("model", "A fitted BG/NBD model: the struct bgnbd_fit returns.")
    .with_argument("horizon", "Length of the future period, in the model's time unit (≥ 0).")
    .with_argument("frequency", "The customer's repeat purchases (rfm's frequency).")
    .with_argument("recency", "Time of the customer's last purchase after the first (rfm's recency).")
    .with_argument("t", "Time from the customer's first purchase to the observation end (rfm's t).")
    .with_sql_example(
        "SELECT customer_id, bgnbd_expected_purchases(m.model, 52, s.frequency, s.recency, s.t) AS next_year\nFROM summaries s CROSS JOIN (SELECT bgnbd_fit(frequency, recency, t) AS model FROM summaries WHERE t > 0) m;",
    )
    .with_related_udf("bgnbd_fit")
    .with_related_udf("bgnbd_p_alive")
    .build()
});

/// One row: `[r, alpha, a, b, horizon, frequency, recency, t]`.
pub fn expected_purchases_row(row: &[f64]) -> Result<Option<f64>> {
    let model = BgNbdParams {
        r: row[0],
        alpha: row[1],
        a: row[2],
        b: row[3],
    };
    model_bgnbd_expected_purchases(&model, row[4], row[5], row[6], row[7])
        .map(Some)
        .map_err(|e| clv_error(NAME, e))
}

/// The `bgnbd_expected_purchases` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        const PARAMS: [Param; 5] = [
            Param::structure("model", BGNBD_FIELDS),
            Param::number("horizon"),
            Param::number("frequency"),
            Param::number("recency"),
            Param::number("t"),
        ];
        Arc::new(ScalarUDF::from(ModelScalar::new(
            NAME,
            &PARAMS,
            &[5],
            &DOC,
            expected_purchases_row,
        )))
    });
    Arc::clone(&UDF)
}

/// The `bgnbd_expected_purchases` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(bgnbd_expected_purchases(
    model, horizon, frequency, recency, t
));

#[cfg(test)]
mod tests {
    use super::*;

    /// lifetimes 0.11.3 on CDNOW (`tests/data/cdnow/reference_*.csv`).
    const LIFETIMES: [f64; 4] = [
        0.24259292827982182,
        4.413532265271819,
        0.7928859664406882,
        2.42575238262586,
    ];

    #[test]
    fn matches_lifetimes_for_cdnow_customer_1() {
        let [r, alpha, a, b] = LIFETIMES;
        let got = expected_purchases_row(&[r, alpha, a, b, 39.0, 2.0, 30.43, 38.86])
            .unwrap()
            .unwrap();
        assert!((got / 1.2259104241743999 - 1.0).abs() < 1e-9, "{got}");
        // a customer first seen at the observation end
        let new = expected_purchases_row(&[r, alpha, a, b, 39.0, 0.0, 0.0, 0.0])
            .unwrap()
            .unwrap();
        assert!(new > 0.0 && new.is_finite());
    }

    #[test]
    fn bad_history_is_an_error() {
        let [r, alpha, a, b] = LIFETIMES;
        assert_eq!(
            expected_purchases_row(&[r, alpha, a, b, 39.0, 2.0, 40.0, 38.0])
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: bgnbd_expected_purchases: recency 40 is greater than customer age T 38"
        );
        assert_eq!(
            expected_purchases_row(&[r, alpha, a, b, -1.0, 2.0, 4.0, 38.0])
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: bgnbd_expected_purchases: horizon must be >= 0, got -1"
        );
    }
}
