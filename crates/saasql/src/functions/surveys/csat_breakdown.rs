//! `csat_breakdown(score [, scale_max])`: the arithmetic behind `csat`, for reconciling a number.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::breakdown::Breakdown;
use crate::docs;
use crate::functions::surveys::survey::{HOOKS, SurveyKernel, SurveyMetric};
use crate::hooks::Function;

const NAME: &str = "csat_breakdown";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The arithmetic behind `csat`, with the same arguments, NULL rules and errors: a struct {csat, numerator, denominator, responses, excluded_null}. csat = 100 × numerator / denominator is the value csat gives on the same rows; numerator: Σ score; denominator: responses × scale_max; responses: non-NULL answers; excluded_null: NULL answers. With no answers the counts are 0 and csat is NULL. An answer outside 1..scale_max is an execution error; a bad scale_max a planning error. Read fields with `b['numerator']`.",
        "csat_breakdown(score [, scale_max])",
    )
    .with_argument("score", "Survey answer (any numeric type).")
    .with_argument("scale_max", "Optional constant top of the scale (default 5).")
    .with_sql_example(
        "SELECT b['csat'] AS pct, b['numerator'] AS numerator, b['denominator'] AS denominator\nFROM (SELECT csat_breakdown(score) AS b FROM surveys WHERE kind = 'csat');",
    )
    .with_related_udf("csat")
    .build()
});

/// The `csat_breakdown` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate::<_, 3>(
            Breakdown::<_, 2>(SurveyKernel::new(NAME, SurveyMetric::Csat, 5, &DOC)),
        )))
    });
    Arc::clone(&UDAF)
}

/// The `csat_breakdown` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(csat_breakdown(score); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::check_sizes;
    use crate::breakdown::testing::{check_breakdown, float, int};
    use crate::functions::surveys::csat;
    use datafusion::arrow::array::ArrayRef;
    use datafusion::arrow::array::Float64Array;
    use datafusion::common::ScalarValue;

    #[test]
    fn answers_explained() {
        // 5, 4, NULL, 3, 1 on 1..5
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(5.0),
            Some(4.0),
            None,
            Some(3.0),
            Some(1.0),
        ]));
        let b = &check_breakdown(&csat::udaf(), &udaf(), &[a], &[], 1)[0];
        assert_eq!(b["csat"], float(65.0));
        assert_eq!(b["numerator"], float(13.0));
        assert_eq!(b["denominator"], float(20.0));
        assert_eq!(b["responses"], int(4));
        assert_eq!(b["excluded_null"], int(1));
    }

    #[test]
    fn value_equals_csat_on_all_sizes() {
        let make = |n: usize| {
            let v: Float64Array = (0..n)
                .map(|i| (i % 7 != 2).then_some((1 + i % 5) as f64))
                .collect();
            vec![Arc::new(v) as ArrayRef]
        };
        let ten = [ScalarValue::Int64(Some(10))];
        check_breakdown(&csat::udaf(), &udaf(), &make(3000), &ten, 7);
        check_sizes(&udaf(), &[], make);
    }
}
