//! `upsell_rate_breakdown(upsold)`: the arithmetic behind `upsell_rate`, for reconciling a number.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::breakdown::Breakdown;
use crate::docs;
use crate::functions::boolean_share::BooleanShare;
use crate::functions::lifecycle::upsell_rate::PARAMS;
use crate::hooks::Function;

const NAME: &str = "upsell_rate_breakdown";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The arithmetic behind `upsell_rate`, with the same argument and NULL rules: a struct {upsell_rate, numerator, denominator, excluded_null}. upsell_rate = 100 × numerator / denominator is the value upsell_rate gives on the same rows; numerator: rows where `upsold` is TRUE; denominator: rows where it is not NULL; excluded_null: rows where it is NULL (customers with no answer). With no rows the counts are 0 and upsell_rate is NULL. Read fields with `b['numerator']`.",
        "upsell_rate_breakdown(upsold)",
    )
    .with_argument("upsold", "BOOLEAN, as for upsell_rate.")
    .with_sql_example(
        "SELECT b['upsell_rate'] AS pct, b['numerator'] AS yes, b['denominator'] AS answered, b['excluded_null'] AS unknown\nFROM (SELECT upsell_rate_breakdown(upsold) AS b FROM t);",
    )
    .with_related_udf("upsell_rate")
    .build()
});

/// The `upsell_rate_breakdown` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate::<_, 3>(
            Breakdown::<_, 2>(BooleanShare::new(NAME, &PARAMS, &DOC)),
        )))
    });
    Arc::clone(&UDAF)
}

/// The `upsell_rate_breakdown` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(upsell_rate_breakdown(upsold));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::check_sizes;
    use crate::breakdown::testing::{check_breakdown, float, int};
    use crate::functions::lifecycle::upsell_rate;
    use datafusion::arrow::array::ArrayRef;
    use datafusion::arrow::array::BooleanArray;

    #[test]
    fn true_false_and_null_rows() {
        // true, false, NULL, true → 2 of 3, one excluded
        let a: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(true),
        ]));
        let b = &check_breakdown(&upsell_rate::udaf(), &udaf(), &[a], &[], 1)[0];
        assert_eq!(b["upsell_rate"], float(200.0 / 3.0));
        assert_eq!(b["numerator"], int(2));
        assert_eq!(b["denominator"], int(3));
        assert_eq!(b["excluded_null"], int(1));
    }

    #[test]
    fn value_equals_upsell_rate_on_all_sizes() {
        let make = |n: usize| {
            let v: BooleanArray = (0..n).map(|i| (i % 6 != 0).then_some(i % 4 == 1)).collect();
            vec![Arc::new(v) as ArrayRef]
        };
        check_breakdown(&upsell_rate::udaf(), &udaf(), &make(3000), &[], 7);
        check_sizes(&udaf(), &[], make);
    }
}
