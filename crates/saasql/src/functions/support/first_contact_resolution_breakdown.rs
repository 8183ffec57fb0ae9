//! `first_contact_resolution_breakdown(resolved_on_first_contact)`: the arithmetic behind `first_contact_resolution`, for reconciling a number.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::breakdown::Breakdown;
use crate::docs;
use crate::functions::boolean_share::BooleanShare;
use crate::functions::support::first_contact_resolution::PARAMS;
use crate::hooks::Function;

const NAME: &str = "first_contact_resolution_breakdown";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The arithmetic behind `first_contact_resolution`, with the same argument and NULL rules: a struct {first_contact_resolution, numerator, denominator, excluded_null}. first_contact_resolution = 100 × numerator / denominator is the value first_contact_resolution gives on the same rows; numerator: rows where `resolved_on_first_contact` is TRUE; denominator: rows where it is not NULL; excluded_null: rows where it is NULL (tickets not resolved yet). With no rows the counts are 0 and first_contact_resolution is NULL. Read fields with `b['numerator']`.",
        "first_contact_resolution_breakdown(resolved_on_first_contact)",
    )
    .with_argument("resolved_on_first_contact", "BOOLEAN, as for first_contact_resolution.")
    .with_sql_example(
        "SELECT b['first_contact_resolution'] AS pct, b['numerator'] AS yes, b['denominator'] AS answered, b['excluded_null'] AS unknown\nFROM (SELECT first_contact_resolution_breakdown(resolved_on_first_contact) AS b FROM t);",
    )
    .with_related_udf("first_contact_resolution")
    .build()
});

/// The `first_contact_resolution_breakdown` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate::<_, 3>(
            Breakdown::<_, 2>(BooleanShare::new(NAME, &PARAMS, &DOC)),
        )))
    });
    Arc::clone(&UDAF)
}

/// The `first_contact_resolution_breakdown` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(first_contact_resolution_breakdown(
    resolved_on_first_contact
));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::check_sizes;
    use crate::breakdown::testing::{check_breakdown, float, int};
    use crate::functions::support::first_contact_resolution;
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
        let b = &check_breakdown(&first_contact_resolution::udaf(), &udaf(), &[a], &[], 1)[0];
        assert_eq!(b["first_contact_resolution"], float(200.0 / 3.0));
        assert_eq!(b["numerator"], int(2));
        assert_eq!(b["denominator"], int(3));
        assert_eq!(b["excluded_null"], int(1));
    }

    #[test]
    fn value_equals_first_contact_resolution_on_all_sizes() {
        let make = |n: usize| {
            let v: BooleanArray = (0..n).map(|i| (i % 6 != 0).then_some(i % 4 == 1)).collect();
            vec![Arc::new(v) as ArrayRef]
        };
        check_breakdown(
            &first_contact_resolution::udaf(),
            &udaf(),
            &make(3000),
            &[],
            7,
        );
        check_sizes(&udaf(), &[], make);
    }
}
