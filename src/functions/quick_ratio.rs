//! `quick_ratio(new_mrr, expansion_mrr, reactivation_mrr, contraction_mrr, churned_mrr)`.

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::docs;
use crate::functions::simple_scalar::FloatScalar;
use crate::util::{check_non_negative, finite_or_null};

const NAME: &str = "quick_ratio";
const ARGS: [&str; 5] = [
    "new_mrr",
    "expansion_mrr",
    "reactivation_mrr",
    "contraction_mrr",
    "churned_mrr",
];

fn row(r: &[f64]) -> Result<Option<f64>> {
    let mut v = [0.0; 5];
    for (k, name) in ARGS.iter().enumerate() {
        v[k] = check_non_negative(NAME, name, r[k])?;
    }
    let lost = v[3] + v[4];
    Ok(if lost == 0.0 {
        None
    } else {
        finite_or_null((v[0] + v[1] + v[2]) / lost)
    })
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "SaaS quick ratio: (new + expansion + reactivation MRR) / (contraction + churned \
         MRR). All amounts are positive numbers (pass contraction and churn as amounts \
         lost, not as negative MRR; a negative input is an error). No lost MRR gives \
         NULL; NULL inputs give NULL.",
        "quick_ratio(new_mrr, expansion_mrr, reactivation_mrr, contraction_mrr, churned_mrr)",
    )
    .with_argument("new_mrr", "MRR from new customers (≥ 0).")
    .with_argument("expansion_mrr", "MRR added by upgrades (≥ 0).")
    .with_argument("reactivation_mrr", "MRR from returning customers (≥ 0).")
    .with_argument(
        "contraction_mrr",
        "MRR lost to downgrades, as a positive amount.",
    )
    .with_argument("churned_mrr", "MRR lost to churn, as a positive amount.")
    .with_sql_example(
        "SELECT quick_ratio(5000, 2000, 500, 1000, 1500) AS quick_ratio;  -- 7500 / 2500 = 3",
    )
    .with_related_udf("mrr_movement")
    .build()
});

/// The `quick_ratio` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(FloatScalar::new(NAME, &[5], &DOC, row))));
    Arc::clone(&UDF)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ratio_and_errors() {
        assert_eq!(
            super::row(&[5000.0, 2000.0, 500.0, 1000.0, 1500.0]).unwrap(),
            Some(3.0)
        );
        assert_eq!(super::row(&[5000.0, 0.0, 0.0, 0.0, 0.0]).unwrap(), None);
        assert_eq!(
            super::row(&[1.0, 1.0, 1.0, -5.0, 1.0])
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: quick_ratio: contraction_mrr -5 is outside 0..∞"
        );
    }
}
