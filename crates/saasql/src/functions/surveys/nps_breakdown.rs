//! `nps_breakdown(score)`: the counts behind `nps`, for reconciling a number.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StructArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::{SUM_UNSCALE, SumsAggregate, SumsKernel};
use crate::args::Params;
use crate::docs;
use crate::functions::surveys::nps::{SCORE, nps_contributions, nps_value};
use crate::hooks::Function;

fn fields() -> Fields {
    Fields::from(vec![
        Field::new("responses", DataType::Int64, false),
        Field::new("promoters", DataType::Int64, false),
        Field::new("passives", DataType::Int64, false),
        Field::new("detractors", DataType::Int64, false),
        Field::new("nps", DataType::Float64, true),
    ])
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The arithmetic behind `nps`: a struct {responses, promoters, passives, detractors, \
         nps} with the same classification (promoter ≥ 9, detractor ≤ 6) and the same \
         NPS. NULL answers are skipped; with no answers the counts are 0 and `nps` is NULL. \
         An answer outside 0..10 is an error. Read fields with `nps_breakdown(score)['promoters']`.",
        "nps_breakdown(score)",
    )
    .with_argument("score", "Survey answer on the 0–10 scale (any numeric type).")
    .with_sql_example(
        "SELECT b['responses'] AS responses, b['promoters'] AS promoters, b['detractors'] AS detractors, b['nps'] AS nps\nFROM (SELECT nps_breakdown(score) AS b FROM surveys WHERE kind = 'nps');",
    )
    .with_related_udf("nps")
    .build()
});

/// The `nps_breakdown` kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NpsBreakdown {
    params: Params,
}

impl Default for NpsBreakdown {
    fn default() -> Self {
        Self {
            params: Params::new("nps_breakdown", &SCORE, &[1]),
        }
    }
}

impl SumsKernel<3> for NpsBreakdown {
    fn name(&self) -> &'static str {
        "nps_breakdown"
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        &DOC
    }
    fn state_names(&self) -> [&'static str; 3] {
        ["responses", "promoters", "detractors"]
    }
    fn return_type(&self) -> DataType {
        DataType::Struct(fields())
    }
    fn required_args(&self) -> &'static [usize] {
        &[0]
    }
    fn configure(&self, _literals: &[Option<ScalarValue>]) -> Result<Self> {
        Ok(self.clone())
    }
    fn contributions<F: FnMut(usize, [f64; 3])>(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        emit: F,
    ) -> Result<()> {
        nps_contributions("nps_breakdown", args, mask, emit)
    }
    fn finish(&self, s: &[f64; 3]) -> Option<f64> {
        nps_value(s)
    }
    fn evaluate(&self, sums: &[[f64; 3]]) -> Result<ArrayRef> {
        // The sums are scaled counts: unscaling is exact.
        let count = |k: usize| -> ArrayRef {
            Arc::new(
                sums.iter()
                    .map(|s| (s[k] * SUM_UNSCALE) as i64)
                    .collect::<Int64Array>(),
            )
        };
        let passives: ArrayRef = Arc::new(
            sums.iter()
                .map(|s| ((s[0] - s[1] - s[2]) * SUM_UNSCALE) as i64)
                .collect::<Int64Array>(),
        );
        let nps: ArrayRef = Arc::new(sums.iter().map(nps_value).collect::<Float64Array>());
        Ok(Arc::new(StructArray::try_new(
            fields(),
            vec![count(0), count(1), passives, count(2), nps],
            None,
        )?))
    }
}

/// The `nps_breakdown` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(SumsAggregate(NpsBreakdown::default()))));
    Arc::clone(&UDAF)
}

/// The `nps_breakdown` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(nps_breakdown(score));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::common::ScalarValue;

    #[test]
    fn breakdown_of_a_small_sample() {
        // 10, 9 promoters; 8, 7 passives; 6 detractor; NULL skipped; nps = 100*(2-1)/5 = 20
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(10.0),
            Some(9.0),
            Some(8.0),
            Some(7.0),
            Some(6.0),
            None,
        ]));
        let out = check_agree(&udaf(), &[a], &[], 1);
        let ScalarValue::Struct(s) = &out[0] else {
            panic!("not a struct: {:?}", out[0])
        };
        let col = |i: usize| ScalarValue::try_from_array(s.column(i), 0).unwrap();
        assert_eq!(col(0), ScalarValue::Int64(Some(5)));
        assert_eq!(col(1), ScalarValue::Int64(Some(2)));
        assert_eq!(col(2), ScalarValue::Int64(Some(2)));
        assert_eq!(col(3), ScalarValue::Int64(Some(1)));
        assert_eq!(col(4), ScalarValue::Float64(Some(20.0)));
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            vec![Arc::new(Float64Array::from(
                (0..n)
                    .map(|i| (i % 11 != 3).then_some((i % 11) as f64))
                    .collect::<Vec<_>>(),
            )) as ArrayRef]
        });
    }
}
