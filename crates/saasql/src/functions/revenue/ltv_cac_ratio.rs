//! `ltv_cac_ratio(ltv, cac)`: lifetime value per acquisition cost.

use std::sync::{Arc, LazyLock};

use datafusion::common::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::args::Param;
use crate::docs;
use crate::functions::simple_scalar::FloatScalar;
use crate::hooks::Function;
use crate::util::numbers::{check_finite, check_non_negative, finite_result, fmt_num};

const NAME: &str = "ltv_cac_ratio";

fn row(r: &[f64]) -> Result<Option<f64>> {
    let ltv = check_finite(NAME, "ltv", r[0])?;
    let cac = check_non_negative(NAME, "cac", r[1])?;
    if cac == 0.0 {
        return Ok(None);
    }
    finite_result(NAME, ltv / cac, || {
        format!("ltv {} / cac {}", fmt_num(ltv), fmt_num(cac))
    })
    .map(Some)
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "LTV:CAC ratio: ltv / cac (3 is the usual healthy target). A zero CAC gives NULL; \
         NULL inputs give NULL; a negative CAC, a non-finite input, or a ratio beyond the \
         DOUBLE range (±1.8e308), is an error.",
        "ltv_cac_ratio(ltv, cac)",
    )
    .with_argument("ltv", "Customer lifetime value, e.g. from ltv().")
    .with_argument("cac", "Customer acquisition cost, same currency (≥ 0).")
    .with_sql_example(
        "SELECT ltv_cac_ratio(ltv(120, 2.5, 80), 1200) AS ratio;  -- 3840 / 1200 = 3.2",
    )
    .with_related_udf("ltv")
    .build()
});

const PARAMS: [Param; 2] = [Param::number("ltv"), Param::number("cac")];

/// The `ltv_cac_ratio` scalar function.
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

/// The `ltv_cac_ratio` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(ltv_cac_ratio(ltv, cac));

#[cfg(test)]
mod tests {
    #[test]
    fn ratio_and_zero_cac() {
        assert_eq!(super::row(&[3840.0, 1200.0]).unwrap(), Some(3.2));
        assert_eq!(super::row(&[3840.0, 0.0]).unwrap(), None);
        assert!(super::row(&[3840.0, -1.0]).is_err());
        assert_eq!(
            super::row(&[-1e308, 0.5]).unwrap_err().strip_backtrace(),
            "Execution error: ltv_cac_ratio: ltv -1e308 / cac 0.5 is beyond the DOUBLE range (±1.8e308)"
        );
    }
}
