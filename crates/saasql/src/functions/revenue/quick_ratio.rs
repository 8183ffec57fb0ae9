//! `quick_ratio(new_mrr, expansion_mrr, reactivation_mrr, contraction_mrr, churned_mrr)`.

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::args::Param;
use crate::docs;
use crate::functions::simple_scalar::FloatScalar;
use crate::hooks::Function;
use crate::util::numbers::{check_non_negative, finite_result, fmt_num};

const NAME: &str = "quick_ratio";
const PARAMS: [Param; 5] = [
    Param::number("new_mrr"),
    Param::number("expansion_mrr"),
    Param::number("reactivation_mrr"),
    Param::number("contraction_mrr"),
    Param::number("churned_mrr"),
];

fn row(r: &[f64]) -> Result<Option<f64>> {
    let mut v = [0.0; 5];
    for (k, p) in PARAMS.iter().enumerate() {
        v[k] = check_non_negative(NAME, p.name, r[k])?;
    }
    let (mut gained, mut lost) = (v[0] + v[1] + v[2], v[3] + v[4]);
    if lost == 0.0 {
        return Ok(None);
    }
    if !gained.is_finite() || !lost.is_finite() {
        // Sums of amounts near 1.8e308 overflow: sum quarters instead (exact
        // scaling by a power of two; the ratio is the same).
        gained = v[0] * 0.25 + v[1] * 0.25 + v[2] * 0.25;
        lost = v[3] * 0.25 + v[4] * 0.25;
    }
    finite_result(NAME, gained / lost, || {
        format!(
            "(new + expansion + reactivation) / (contraction + churned) = ({} + {} + {}) / ({} + {})",
            fmt_num(v[0]),
            fmt_num(v[1]),
            fmt_num(v[2]),
            fmt_num(v[3]),
            fmt_num(v[4])
        )
    })
    .map(Some)
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "SaaS quick ratio: (new + expansion + reactivation MRR) / (contraction + churned \
         MRR). All amounts are positive numbers (pass contraction and churn as amounts \
         lost, not as negative MRR; a negative or non-finite input is an error). No lost \
         MRR gives NULL; NULL inputs give NULL. Sums of amounts near 1.8e308 do not \
         overflow; a ratio beyond the DOUBLE range (±1.8e308) is an error.",
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
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        Arc::new(ScalarUDF::from(FloatScalar::new(
            NAME,
            &PARAMS,
            &[5],
            &DOC,
            row,
        )))
    });
    Arc::clone(&UDF)
}

/// The `quick_ratio` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(quick_ratio(
    new_mrr,
    expansion_mrr,
    reactivation_mrr,
    contraction_mrr,
    churned_mrr
));

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

    #[test]
    fn sums_near_the_double_limit_do_not_overflow() {
        // (1e308 + 1e308 + 1e308) / (1e308 + 1e308) = 1.5
        assert_eq!(
            super::row(&[1e308, 1e308, 1e308, 1e308, 1e308]).unwrap(),
            Some(1.5)
        );
        assert_eq!(
            super::row(&[1e308, 0.0, 0.0, 1e-10, 0.0])
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: quick_ratio: (new + expansion + reactivation) / (contraction + churned) = (1e308 + 0 + 0) / (1e-10 + 0) is beyond the DOUBLE range (±1.8e308)"
        );
    }
}
