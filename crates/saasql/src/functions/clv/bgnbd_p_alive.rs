//! `bgnbd_p_alive(model, frequency, recency, t)`: the probability that a
//! customer has not dropped out, under a fitted BG/NBD model.

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use super::model::{BgNbdParams, bgnbd_p_alive as model_bgnbd_p_alive};
use super::support::{BGNBD_FIELDS, ModelScalar, clv_error};
use crate::args::Param;
use crate::docs;
use crate::hooks::Function;

const NAME: &str = "bgnbd_p_alive";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The probability that a customer with history (x = frequency, t_x = recency, T = t) \
         is still alive (has not dropped out) at the observation end, under a BG/NBD model \
         (Fader, Hardie & Lee 2005; Hardie's note 021): P(alive) = 1 ÷ [1 + δ(x>0) · \
         a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)], between 0 and 1, computed as a logistic of \
         the log ratio so it never overflows. A customer without repeat purchases is alive \
         (1): in BG/NBD a customer can only drop out right after a purchase. Matches the \
         `lifetimes` package's conditional_probability_alive. model is the struct \
         bgnbd_fit returns (fields r, alpha, a, b read by name). NULL arguments, or a \
         model with NULL estimates, give NULL. A history rfm cannot produce (frequency \
         not a whole number ≥ 0, recency outside 0..t, t < 0) or a parameter ≤ 0 is an error.",
        "bgnbd_p_alive(model, frequency, recency, t)",
    )
    .with_argument("model", "A fitted BG/NBD model: the struct bgnbd_fit returns.")
    .with_argument("frequency", "The customer's repeat purchases (rfm's frequency).")
    .with_argument("recency", "Time of the customer's last purchase after the first (rfm's recency).")
    .with_argument("t", "Time from the customer's first purchase to the observation end (rfm's t).")
    .with_sql_example(
        "SELECT customer_id, bgnbd_p_alive(m.model, s.frequency, s.recency, s.t) AS p_alive\nFROM summaries s CROSS JOIN (SELECT bgnbd_fit(frequency, recency, t) AS model FROM summaries WHERE t > 0) m;",
    )
    .with_related_udf("bgnbd_fit")
    .with_related_udf("bgnbd_expected_purchases")
    .build()
});

/// One row: `[r, alpha, a, b, frequency, recency, t]`.
pub fn p_alive_row(row: &[f64]) -> Result<Option<f64>> {
    let model = BgNbdParams {
        r: row[0],
        alpha: row[1],
        a: row[2],
        b: row[3],
    };
    model_bgnbd_p_alive(&model, row[4], row[5], row[6])
        .map(Some)
        .map_err(|e| clv_error(NAME, e))
}

/// The `bgnbd_p_alive` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        const PARAMS: [Param; 4] = [
            Param::structure("model", BGNBD_FIELDS),
            Param::number("frequency"),
            Param::number("recency"),
            Param::number("t"),
        ];
        Arc::new(ScalarUDF::from(ModelScalar::new(
            NAME,
            &PARAMS,
            &[4],
            &DOC,
            p_alive_row,
        )))
    });
    Arc::clone(&UDF)
}

/// The `bgnbd_p_alive` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(bgnbd_p_alive(model, frequency, recency, t));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_lifetimes_and_bounds() {
        let m = [
            0.24259292827982182,
            4.413532265271819,
            0.7928859664406882,
            2.42575238262586,
        ];
        let p = |x: f64, tx: f64, t: f64| p_alive_row(&[m[0], m[1], m[2], m[3], x, tx, t]);
        // CDNOW customer 1 in lifetimes 0.11.3
        let got = p(2.0, 30.43, 38.86).unwrap().unwrap();
        assert!((got / 0.726609136799059 - 1.0).abs() < 1e-12, "{got}");
        assert_eq!(p(0.0, 0.0, 10.0).unwrap(), Some(1.0));
        assert_eq!(p(0.0, 0.0, 0.0).unwrap(), Some(1.0));
        let lapsed = p(500.0, 0.5, 39.0).unwrap().unwrap();
        assert!((0.0..1e-100).contains(&lapsed));
        assert_eq!(
            p(1.5, 1.0, 3.0).unwrap_err().strip_backtrace(),
            "Execution error: bgnbd_p_alive: frequency must be a whole number of repeat purchases, got 1.5"
        );
    }
}
