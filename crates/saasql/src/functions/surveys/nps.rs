//! `nps(score)`: Net Promoter Score of 0–10 survey answers.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::Float64Type;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::{SumsAggregate, SumsKernel, for_each_row};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;
use crate::util::numbers::fmt_num;

/// Promoter/passive/detractor class of one 0–10 answer, or an error naming
/// `function` when the score is outside 0..10. Shared by `nps`,
/// `nps_breakdown` and `nps_category`.
#[inline]
pub fn classify(function: &str, score: f64) -> Result<NpsClass> {
    if !(0.0..=10.0).contains(&score) {
        return exec_err!("{function}: score {} is outside 0..10", fmt_num(score));
    }
    Ok(if score >= 9.0 {
        NpsClass::Promoter
    } else if score <= 6.0 {
        NpsClass::Detractor
    } else {
        NpsClass::Passive
    })
}

/// The class of one NPS answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpsClass {
    /// 9 or 10.
    Promoter,
    /// Above 6 and below 9.
    Passive,
    /// 0 to 6.
    Detractor,
}

impl NpsClass {
    /// The SQL label.
    pub fn as_str(self) -> &'static str {
        match self {
            NpsClass::Promoter => "promoter",
            NpsClass::Passive => "passive",
            NpsClass::Detractor => "detractor",
        }
    }
}

/// Adds `[responses, promoters, detractors]` of each counted row.
pub fn nps_contributions<F: FnMut(usize, [f64; 3])>(
    function: &str,
    args: &[ArrayRef],
    mask: Option<&BooleanBuffer>,
    mut emit: F,
) -> Result<()> {
    let scores = args[0].as_primitive::<Float64Type>().values();
    // Validate first, so the counting loop below has no error path and
    // inlines (NaN fails the range check too).
    let in_range = |s: &f64| (0.0..=10.0).contains(s);
    if !scores.iter().all(in_range) {
        for_each_row(scores.len(), mask, |i| {
            classify(function, scores[i]).map(|_| ())
        })?;
    }
    for_each_row(scores.len(), mask, |i| {
        let s = scores[i];
        // [response, promoter (9..10), detractor (0..6)], as `classify`
        emit(
            i,
            [
                1.0,
                f64::from(u8::from(s >= 9.0)),
                f64::from(u8::from(s <= 6.0)),
            ],
        );
        Ok(())
    })
}

/// The one parameter of `nps`, `nps_breakdown` and `nps_category`.
pub const SCORE: [Param; 1] = [Param::number("score")];

/// NPS from `[responses, promoters, detractors]` (counts, scaled or not);
/// NULL without responses.
pub fn nps_value(s: &[f64; 3]) -> Option<f64> {
    (s[0] > 0.0).then(|| 100.0 * (s[1] - s[2]) / s[0])
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Net Promoter Score: 100 × (promoters − detractors) / responses, in [-100, 100]. \
         Promoters answer 9 or 10, detractors 0 to 6, passives 7 or 8 (fractional answers \
         between 6 and 9 are passive). NULL answers are skipped; no answers gives NULL. \
         An answer outside 0..10 is an error.",
        "nps(score)",
    )
    .with_argument("score", "Survey answer on the 0–10 scale (any numeric type).")
    .with_sql_example(
        "SELECT c.segment, nps(s.score) AS nps\nFROM surveys s JOIN customers c USING (customer_id)\nWHERE s.kind = 'nps'\nGROUP BY c.segment;",
    )
    .with_related_udf("nps_breakdown")
    .with_related_udf("nps_category")
    .build()
});

/// The `nps` kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nps {
    params: Params,
}

impl Default for Nps {
    fn default() -> Self {
        Self {
            params: Params::new("nps", &SCORE, &[1]),
        }
    }
}

impl SumsKernel<3> for Nps {
    fn name(&self) -> &'static str {
        "nps"
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
        nps_contributions("nps", args, mask, emit)
    }
    fn finish(&self, s: &[f64; 3]) -> Option<f64> {
        nps_value(s)
    }
}

/// The `nps` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(SumsAggregate(Nps::default()))));
    Arc::clone(&UDAF)
}

/// The `nps` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(nps(score));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::Float64Array;
    use datafusion::common::ScalarValue;

    #[test]
    fn hand_computed_nps() {
        // 10, 9 promoters; 7 passive; 3, 0 detractors; NULL skipped: 100*(2-2)/5 = 0
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(10.0),
            Some(9.0),
            Some(7.0),
            None,
            Some(3.0),
            Some(0.0),
        ]));
        assert_eq!(
            check_agree(&udaf(), &[a], &[], 1),
            vec![ScalarValue::Float64(Some(0.0))]
        );
        // 9, 9, 6: 100*(2-1)/3
        let a: ArrayRef = Arc::new(Float64Array::from(vec![9.0, 9.0, 6.0]));
        let v = check_agree(&udaf(), &[a], &[], 1);
        assert_eq!(v, vec![ScalarValue::Float64(Some(100.0 / 3.0))]);
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            vec![Arc::new(Float64Array::from(
                (0..n)
                    .map(|i| (i % 13 != 0).then_some((i * 7 % 11) as f64))
                    .collect::<Vec<_>>(),
            )) as ArrayRef]
        });
    }

    #[test]
    fn out_of_range_score_is_an_error() {
        assert_eq!(
            classify("nps", 11.0).unwrap_err().strip_backtrace(),
            "Execution error: nps: score 11 is outside 0..10"
        );
        assert!(classify("nps", -0.5).is_err());
        assert!(classify("nps", f64::NAN).is_err());
    }
}
