//! `gamma_gamma_expected_spend(model, frequency, monetary)`: a customer's
//! expected value per transaction under a fitted Gamma-Gamma model.

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use super::model::{GammaGammaParams, expected_spend};
use super::support::{GAMMA_GAMMA_FIELDS, ModelScalar, clv_error};
use crate::args::Param;
use crate::docs;
use crate::hooks::Function;

const NAME: &str = "gamma_gamma_expected_spend";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "A customer's expected value per transaction under a Gamma-Gamma model (Fader, \
         Hardie & Lee 2005, \"RFM and CLV\", eq. 5): E[M | x, m] = (q−1)/(px+q−1) · vp/(q−1) \
         + px/(px+q−1) · m, a weighted mean of the population mean vp/(q−1) and the \
         customer's own mean m = monetary of x = frequency repeat transactions (x = 0 \
         gives the population mean). Matches the `lifetimes` package's \
         conditional_expected_average_profit. model is the struct gamma_gamma_fit returns \
         (fields p, q, v read by name). NULL arguments, or a model with NULL estimates, \
         give NULL. Negative frequency or monetary, a parameter ≤ 0, or q ≤ 1 (no \
         population mean) is an error.",
        "gamma_gamma_expected_spend(model, frequency, monetary)",
    )
    .with_argument("model", "A fitted Gamma-Gamma model: the struct gamma_gamma_fit returns.")
    .with_argument("frequency", "The customer's repeat purchases (rfm's frequency).")
    .with_argument("monetary", "Mean value of the customer's repeat purchases (rfm's monetary).")
    .with_sql_example(
        "SELECT customer_id, gamma_gamma_expected_spend(m.model, s.frequency, s.monetary) AS spend\nFROM summaries s CROSS JOIN (SELECT gamma_gamma_fit(frequency, monetary) AS model FROM summaries) m;",
    )
    .with_related_udf("gamma_gamma_fit")
    .with_related_udf("predicted_clv")
    .build()
});

/// One row: `[p, q, v, frequency, monetary]`.
pub fn expected_spend_row(row: &[f64]) -> Result<Option<f64>> {
    let model = GammaGammaParams {
        p: row[0],
        q: row[1],
        v: row[2],
    };
    expected_spend(&model, row[3], row[4])
        .map(Some)
        .map_err(|e| clv_error(NAME, e))
}

/// The `gamma_gamma_expected_spend` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        const PARAMS: [Param; 3] = [
            Param::structure("model", GAMMA_GAMMA_FIELDS),
            Param::number("frequency"),
            Param::number("monetary"),
        ];
        Arc::new(ScalarUDF::from(ModelScalar::new(
            NAME,
            &PARAMS,
            &[3],
            &DOC,
            expected_spend_row,
        )))
    });
    Arc::clone(&UDF)
}

/// The `gamma_gamma_expected_spend` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(gamma_gamma_expected_spend(model, frequency, monetary));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_lifetimes_and_rejects_q_at_most_1() {
        // lifetimes 0.11.3 on CDNOW, customer 1 (x = 2, m = 22.35)
        let (p, q, v) = (6.248802496075312, 3.744588460923114, 15.44774806492914);
        let got = expected_spend_row(&[p, q, v, 2.0, 22.35]).unwrap().unwrap();
        assert!((got / 24.658616189236472 - 1.0).abs() < 1e-12, "{got}");
        // x = 0: the population mean vp/(q-1)
        let mean = expected_spend_row(&[p, q, v, 0.0, 0.0]).unwrap().unwrap();
        assert!((mean - v * p / (q - 1.0)).abs() < 1e-12);
        assert_eq!(
            expected_spend_row(&[p, 1.0, v, 2.0, 3.0])
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: gamma_gamma_expected_spend: model parameter q = 1 is invalid: expected spend needs q > 1 (population mean γp/(q-1))"
        );
    }
}
