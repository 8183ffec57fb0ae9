//! `stickiness_breakdown(user_id, event_time [, days])`: the arithmetic behind `stickiness`, for reconciling a number.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::docs;
use crate::functions::engagement::stickiness::{HOOKS, Stickiness};
use crate::hooks::Function;
use crate::keyed::KeyedAggregate;

const NAME: &str = "stickiness_breakdown";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The arithmetic behind `stickiness`, with the same arguments, NULL rules and errors: a \
         struct {stickiness, numerator, denominator, user_days, days, excluded_null}. \
         stickiness = 100 × numerator / denominator is the value stickiness gives on the same \
         rows. numerator: average daily active users = user_days / days; denominator: distinct \
         active users (DOUBLE, as in the other breakdowns); user_days: distinct (user, UTC day) \
         pairs; days: the days divided by (the `days` argument, or the group's active span \
         from its first to its last active day); excluded_null: rows (passing FILTER) with a \
         NULL user_id or event_time. With no rows: stickiness and numerator NULL, the counts \
         0, days the `days` argument if one was given. Read fields with `b['numerator']`.",
        "stickiness_breakdown(user_id, event_time [, days])",
    )
    .with_argument("user_id", "The active user (integer or string).")
    .with_argument("event_time", "When the user was active (DATE or TIMESTAMP; days are UTC).")
    .with_argument(
        "days",
        "Optional number of days in the period: a constant, or the same value for every row of a group.",
    )
    .with_sql_example(
        "SELECT month, b['stickiness'] AS pct, b['numerator'] AS avg_dau, b['denominator'] AS mau, b['days'] AS days\nFROM (SELECT date_trunc('month', event_time) AS month, stickiness_breakdown(user_id, event_time) AS b\n      FROM events GROUP BY 1) ORDER BY month;",
    )
    .with_related_udf("stickiness")
    .build()
});

/// The `stickiness_breakdown` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(KeyedAggregate(Stickiness::breakdown(
            NAME, &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `stickiness_breakdown` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(stickiness_breakdown(user_id, event_time); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use crate::functions::engagement::stickiness;
    use datafusion::arrow::array::{ArrayRef, Int64Array, TimestampSecondArray};
    use datafusion::common::ScalarValue;

    const DAY: i64 = 86_400;

    /// Users 1 and 2 over three days (1: days 0 and 2; 2: day 1), one row
    /// with a NULL user and one with a NULL time.
    fn rows() -> Vec<ArrayRef> {
        vec![
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(1),
                Some(2),
                None,
                Some(2),
                Some(1),
            ])),
            Arc::new(TimestampSecondArray::from(vec![
                Some(0),
                Some(2 * DAY),
                Some(DAY),
                Some(DAY),
                None,
                Some(2 * DAY + 60),
            ])),
        ]
    }

    fn field(v: &ScalarValue, name: &str) -> ScalarValue {
        let ScalarValue::Struct(s) = v else {
            panic!("not a struct: {v:?}")
        };
        let i = s
            .fields()
            .iter()
            .position(|f| f.name() == name)
            .expect("field");
        ScalarValue::try_from_array(s.column(i), 0).expect("value")
    }

    #[test]
    fn parts_and_the_plain_value() {
        check_sizes(&udaf(), &[], |n| {
            vec![
                Arc::new(Int64Array::from_iter(
                    (0..n as i64).map(|i| (i % 5 != 4).then_some(i % 7)),
                )),
                Arc::new(TimestampSecondArray::from_iter_values(
                    (0..n as i64).map(|i| (i % 11) * DAY),
                )),
            ]
        });
        let b = &check_agree(&udaf(), &rows(), &[], 1)[0];
        // 3 user-days over the 3-day span, 2 users: 100 × (3 / 3) / 2 = 50.
        assert_eq!(field(b, "stickiness"), ScalarValue::Float64(Some(50.0)));
        assert_eq!(field(b, "numerator"), ScalarValue::Float64(Some(1.0)));
        assert_eq!(field(b, "denominator"), ScalarValue::Float64(Some(2.0)));
        assert_eq!(field(b, "user_days"), ScalarValue::Int64(Some(3)));
        assert_eq!(field(b, "days"), ScalarValue::Int64(Some(3)));
        assert_eq!(field(b, "excluded_null"), ScalarValue::Int64(Some(2)));
        let plain = &check_agree(&stickiness::udaf(), &rows(), &[], 1)[0];
        assert_eq!(&field(b, "stickiness"), plain);
        // A 30-day period: 100 × (3 / 30) / 2 = 5.
        let b = &check_agree(&udaf(), &rows(), &[ScalarValue::Int64(Some(30))], 1)[0];
        assert_eq!(field(b, "stickiness"), ScalarValue::Float64(Some(5.0)));
        assert_eq!(field(b, "days"), ScalarValue::Int64(Some(30)));
    }
}
