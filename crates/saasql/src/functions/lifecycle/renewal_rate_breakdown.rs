//! `renewal_rate_breakdown(renewed)`: the arithmetic behind `renewal_rate`, for reconciling a number.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::breakdown::Breakdown;
use crate::docs;
use crate::functions::boolean_share::BooleanShare;
use crate::functions::lifecycle::renewal_rate::PARAMS;
use crate::hooks::Function;

const NAME: &str = "renewal_rate_breakdown";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The arithmetic behind `renewal_rate`, with the same argument and NULL rules: a struct {renewal_rate, numerator, denominator, excluded_null}. renewal_rate = 100 × numerator / denominator is the value renewal_rate gives on the same rows; numerator: rows where `renewed` is TRUE; denominator: rows where it is not NULL; excluded_null: rows where it is NULL (contracts not decided yet). With no rows the counts are 0 and renewal_rate is NULL. Read fields with `b['numerator']`.",
        "renewal_rate_breakdown(renewed)",
    )
    .with_argument("renewed", "BOOLEAN, as for renewal_rate.")
    .with_sql_example(
        "SELECT b['renewal_rate'] AS pct, b['numerator'] AS yes, b['denominator'] AS answered, b['excluded_null'] AS unknown\nFROM (SELECT renewal_rate_breakdown(renewed) AS b FROM t);",
    )
    .with_related_udf("renewal_rate")
    .build()
});

/// The `renewal_rate_breakdown` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate::<_, 3>(
            Breakdown::<_, 2>(BooleanShare::new(NAME, &PARAMS, &DOC)),
        )))
    });
    Arc::clone(&UDAF)
}

/// The `renewal_rate_breakdown` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(renewal_rate_breakdown(renewed));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::check_sizes;
    use crate::breakdown::testing::{check_breakdown, float, int};
    use crate::functions::lifecycle::renewal_rate;
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
        let b = &check_breakdown(&renewal_rate::udaf(), &udaf(), &[a], &[], 1)[0];
        assert_eq!(b["renewal_rate"], float(200.0 / 3.0));
        assert_eq!(b["numerator"], int(2));
        assert_eq!(b["denominator"], int(3));
        assert_eq!(b["excluded_null"], int(1));
    }

    #[test]
    fn value_equals_renewal_rate_on_all_sizes() {
        let make = |n: usize| {
            let v: BooleanArray = (0..n).map(|i| (i % 6 != 0).then_some(i % 4 == 1)).collect();
            vec![Arc::new(v) as ArrayRef]
        };
        check_breakdown(&renewal_rate::udaf(), &udaf(), &make(3000), &[], 7);
        check_sizes(&udaf(), &[], make);
    }
}
