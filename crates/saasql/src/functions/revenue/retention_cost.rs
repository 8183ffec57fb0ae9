//! `retention_cost(total_retention_cost, retained_customers)`: cost per retained customer.

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::args::Param;
use crate::docs;
use crate::functions::simple_scalar::FloatScalar;
use crate::hooks::Function;
use crate::util::numbers::{check_non_negative, finite_result, fmt_num};

const NAME: &str = "retention_cost";

fn row(r: &[f64]) -> Result<Option<f64>> {
    let cost = check_non_negative(NAME, "total_retention_cost", r[0])?;
    let kept = check_non_negative(NAME, "retained_customers", r[1])?;
    if kept == 0.0 {
        return Ok(None);
    }
    finite_result(NAME, cost / kept, || {
        format!(
            "total_retention_cost {} / retained_customers {}",
            fmt_num(cost),
            fmt_num(kept)
        )
    })
    .map(Some)
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Retention cost per retained customer: total_retention_cost / retained_customers, \
         in the unit of the cost. Zero retained customers gives NULL; NULL inputs give \
         NULL; a negative or non-finite input, or a quotient beyond the DOUBLE range \
         (±1.8e308), is an error.",
        "retention_cost(total_retention_cost, retained_customers)",
    )
    .with_argument(
        "total_retention_cost",
        "Spend on retention in the period (≥ 0).",
    )
    .with_argument(
        "retained_customers",
        "Customers retained in the period (≥ 0).",
    )
    .with_sql_example("SELECT retention_cost(50000, 400) AS cost_per_customer;  -- 125")
    .with_related_udf("ltv_cac_ratio")
    .build()
});

const PARAMS: [Param; 2] = [
    Param::number("total_retention_cost"),
    Param::number("retained_customers"),
];

/// The `retention_cost` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        Arc::new(ScalarUDF::from(FloatScalar::new(
            NAME,
            &PARAMS,
            &[2],
            &DOC,
            row,
        )))
    });
    Arc::clone(&UDF)
}

/// The `retention_cost` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(retention_cost(total_retention_cost, retained_customers));

#[cfg(test)]
mod tests {
    #[test]
    fn divides_and_nulls_on_zero() {
        assert_eq!(super::row(&[50000.0, 400.0]).unwrap(), Some(125.0));
        assert_eq!(super::row(&[50000.0, 0.0]).unwrap(), None);
        assert_eq!(
            super::row(&[1e308, 0.5]).unwrap_err().strip_backtrace(),
            "Execution error: retention_cost: total_retention_cost 1e308 / retained_customers 0.5 is beyond the DOUBLE range (±1.8e308)"
        );
    }
}
