//! `purchase_ltv(avg_order_value, purchases_per_year, retention_years)`: purchase-based LTV.

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::docs;
use crate::functions::simple_scalar::FloatScalar;
use crate::util::{check_non_negative, finite_or_null};

const NAME: &str = "purchase_ltv";

fn row(r: &[f64]) -> Result<Option<f64>> {
    let aov = check_non_negative(NAME, "avg_order_value", r[0])?;
    let freq = check_non_negative(NAME, "purchases_per_year", r[1])?;
    let years = check_non_negative(NAME, "retention_years", r[2])?;
    Ok(finite_or_null(aov * freq * years))
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Purchase-based lifetime value: avg_order_value × purchases_per_year × \
         retention_years, in the unit of avg_order_value. NULL inputs give NULL; a \
         negative input is an error.",
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

/// The `purchase_ltv` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(FloatScalar::new(NAME, &[3], &DOC, row))));
    Arc::clone(&UDF)
}

#[cfg(test)]
mod tests {
    #[test]
    fn product_of_the_three() {
        assert_eq!(super::row(&[80.0, 4.0, 3.0]).unwrap(), Some(960.0));
        assert!(super::row(&[80.0, -4.0, 3.0]).is_err());
    }
}
