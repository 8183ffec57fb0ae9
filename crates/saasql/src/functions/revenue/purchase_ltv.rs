//! `purchase_ltv(avg_order_value, purchases_per_year, retention_years)`: purchase-based LTV.

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::args::Param;
use crate::docs;
use crate::functions::simple_scalar::FloatScalar;
use crate::hooks::Function;
use crate::util::numbers::{check_non_negative, finite_result, fmt_num};

const NAME: &str = "purchase_ltv";

fn row(r: &[f64]) -> Result<Option<f64>> {
    let aov = check_non_negative(NAME, "avg_order_value", r[0])?;
    let freq = check_non_negative(NAME, "purchases_per_year", r[1])?;
    let years = check_non_negative(NAME, "retention_years", r[2])?;
    let mut v = aov * freq * years;
    if !v.is_finite() || (v == 0.0 && aov != 0.0 && freq != 0.0 && years != 0.0) {
        // An intermediate product left the DOUBLE range (1e200 × 1e200 ×
        // 1e-200): multiply the largest by the smallest factor first.
        let mut f = [aov, freq, years];
        f.sort_by(f64::total_cmp);
        v = f[0] * f[2] * f[1];
    }
    finite_result(NAME, v, || {
        format!(
            "avg_order_value {} × purchases_per_year {} × retention_years {}",
            fmt_num(aov),
            fmt_num(freq),
            fmt_num(years)
        )
    })
    .map(Some)
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Purchase-based lifetime value: avg_order_value × purchases_per_year × \
         retention_years, in the unit of avg_order_value. NULL inputs give NULL; a \
         negative or non-finite input, or a product beyond the DOUBLE range (±1.8e308), \
         is an error.",
        "purchase_ltv(avg_order_value, purchases_per_year, retention_years)",
    )
    .with_argument("avg_order_value", "Average order value (≥ 0).")
    .with_argument(
        "purchases_per_year",
        "Purchases per customer per year (≥ 0).",
    )
    .with_argument(
        "retention_years",
        "Expected customer lifetime in years (≥ 0).",
    )
    .with_sql_example("SELECT purchase_ltv(80, 4, 3) AS ltv;  -- 960")
    .with_related_udf("ltv")
    .build()
});

const PARAMS: [Param; 3] = [
    Param::number("avg_order_value"),
    Param::number("purchases_per_year"),
    Param::number("retention_years"),
];

/// The `purchase_ltv` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        Arc::new(ScalarUDF::from(FloatScalar::new(
            NAME,
            &PARAMS,
            &[3],
            &DOC,
            row,
        )))
    });
    Arc::clone(&UDF)
}

/// The `purchase_ltv` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(purchase_ltv(
    avg_order_value,
    purchases_per_year,
    retention_years
));

#[cfg(test)]
mod tests {
    #[test]
    fn product_of_the_three() {
        assert_eq!(super::row(&[80.0, 4.0, 3.0]).unwrap(), Some(960.0));
        assert!(super::row(&[80.0, -4.0, 3.0]).is_err());
    }

    #[test]
    fn products_leave_the_double_range_only_when_the_answer_does() {
        // 1e200 × 1e200 overflows and 1e-200 × 1e-200 underflows on the way
        assert_eq!(super::row(&[1e200, 1e200, 1e-200]).unwrap(), Some(1e200));
        assert_eq!(super::row(&[1e-200, 1e-200, 1e200]).unwrap(), Some(1e-200));
        assert_eq!(
            super::row(&[1e200, 1e200, 1.0])
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: purchase_ltv: avg_order_value 1e200 × purchases_per_year 1e200 × retention_years 1 is beyond the DOUBLE range (±1.8e308)"
        );
    }
}
