//! Shared kernel of the survey aggregates on a 1..scale_max scale:
//! `csat`, `csat_top2box` and `customer_effort_score`.

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::Float64Type;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::Documentation;

use crate::aggregate::{SumsKernel, for_each_row};
use crate::args::{Param, Params};
use crate::breakdown::{Explain, Part};
use crate::hooks::Hooks;
use crate::util::literals::{constant_arg, scalar_f64};
use crate::util::numbers::fmt_num;

/// Which survey metric a [`SurveyKernel`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SurveyMetric {
    /// 100 × Σ score / (responses × scale_max).
    Csat,
    /// 100 × responses ≥ scale_max − 1 / responses.
    TopTwoBox,
    /// Mean response.
    Effort,
}

/// The hooks of every survey aggregate: its constant `scale_max` is checked
/// while SQL is planned.
pub const HOOKS: Hooks = Hooks {
    check_constants: Some(check_scale_max),
    ..Hooks::NONE
};

fn check_scale_max(name: &str, literals: &[Option<ScalarValue>]) -> Result<()> {
    scale_max_param(name, literals, 1, 5)?;
    Ok(())
}

/// Reads the optional `scale_max` literal of the survey aggregates.
pub fn scale_max_param(
    function: &str,
    literals: &[Option<ScalarValue>],
    index: usize,
    default: u32,
) -> Result<u32> {
    let Some(value) = constant_arg(function, "scale_max", literals, index)? else {
        return Ok(default);
    };
    match scalar_f64(function, "scale_max", value)? {
        Some(v) if (2.0..=1000.0).contains(&v) && v.fract() == 0.0 => Ok(v as u32),
        Some(v) => plan_err!(
            "{function}: scale_max {} is not a whole number in 2..1000",
            fmt_num(v)
        ),
        None => plan_err!("{function}: scale_max must not be NULL"),
    }
}

const PARAMS: [Param; 2] = [Param::number("score"), Param::number("scale_max")];

/// A survey aggregate over answers on a 1..scale_max scale.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SurveyKernel {
    name: &'static str,
    metric: SurveyMetric,
    scale_max: u32,
    doc: &'static Documentation,
    params: Params,
}

impl SurveyKernel {
    /// A kernel with its default scale.
    pub fn new(
        name: &'static str,
        metric: SurveyMetric,
        default_scale: u32,
        doc: &'static Documentation,
    ) -> Self {
        Self {
            name,
            metric,
            scale_max: default_scale,
            doc,
            params: Params::new(name, &PARAMS, &[1, 2]),
        }
    }
}

impl SumsKernel<2> for SurveyKernel {
    fn name(&self) -> &'static str {
        self.name
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        self.doc
    }
    fn state_names(&self) -> [&'static str; 2] {
        match self.metric {
            SurveyMetric::TopTwoBox => ["responses", "top2"],
            _ => ["responses", "score_sum"],
        }
    }
    fn required_args(&self) -> &'static [usize] {
        &[0]
    }
    fn configure(&self, literals: &[Option<ScalarValue>]) -> Result<Self> {
        let mut k = self.clone();
        k.scale_max = scale_max_param(self.name, literals, 1, self.scale_max)?;
        Ok(k)
    }
    fn contributions<F: FnMut(usize, [f64; 2])>(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        mut emit: F,
    ) -> Result<()> {
        let scores = args[0].as_primitive::<Float64Type>().values();
        let max = self.scale_max as f64;
        let top = max - 1.0;
        for_each_row(scores.len(), mask, |i| {
            let s = scores[i];
            if !(1.0..=max).contains(&s) {
                return exec_err!(
                    "{}: score {} is outside 1..{}",
                    self.name,
                    fmt_num(s),
                    self.scale_max
                );
            }
            let v = match self.metric {
                SurveyMetric::TopTwoBox => f64::from(s >= top),
                _ => s,
            };
            emit(i, [1.0, v]);
            Ok(())
        })
    }
    fn finish(&self, s: &[f64; 2]) -> Option<f64> {
        if s[0] <= 0.0 {
            return None;
        }
        Some(match self.metric {
            SurveyMetric::Csat => 100.0 * s[1] / (s[0] * self.scale_max as f64),
            SurveyMetric::TopTwoBox => 100.0 * s[1] / s[0],
            SurveyMetric::Effort => s[1] / s[0],
        })
    }
}

const CSAT_PARTS: [Part; 3] = [
    Part::amount("numerator"),
    Part::amount("denominator"),
    Part::count("responses"),
];
const SHARE_PARTS: [Part; 3] = [
    Part::count("numerator"),
    Part::count("denominator"),
    Part::count("responses"),
];

/// CSAT: Σ score / (responses × scale_max); top-2-box: top-two answers /
/// responses. (The effort score is a mean, not a rate: it has no breakdown.)
impl Explain<2> for SurveyKernel {
    fn parts(&self) -> &'static [Part] {
        match self.metric {
            SurveyMetric::Csat => &CSAT_PARTS,
            _ => &SHARE_PARTS,
        }
    }
    fn part(&self, index: usize, s: &[f64; 2]) -> f64 {
        match (index, self.metric) {
            (0, _) => s[1],
            (1, SurveyMetric::Csat) => s[0] * f64::from(self.scale_max),
            _ => s[0],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::aggregate::testing::{check_agree, check_sizes};
    use crate::functions::surveys::{csat, csat_top2box, customer_effort_score};
    use datafusion::arrow::array::{ArrayRef, Float64Array};
    use datafusion::common::ScalarValue;
    use std::sync::Arc;

    fn answers() -> Vec<ArrayRef> {
        vec![Arc::new(Float64Array::from(vec![
            Some(5.0),
            Some(4.0),
            None,
            Some(3.0),
            Some(1.0),
        ]))]
    }

    fn one(v: f64) -> Vec<ScalarValue> {
        vec![ScalarValue::Float64(Some(v))]
    }

    #[test]
    fn hand_computed_survey_metrics() {
        // Σ = 13 over 4 answers on 1..5: csat = 100 × 13 / 20 = 65
        assert_eq!(check_agree(&csat::udaf(), &answers(), &[], 1), one(65.0));
        // 5 and 4 of 4 → 50 %
        assert_eq!(
            check_agree(&csat_top2box::udaf(), &answers(), &[], 1),
            one(50.0)
        );
        // mean 13 / 4 on the default 1..7 scale
        assert_eq!(
            check_agree(&customer_effort_score::udaf(), &answers(), &[], 1),
            one(3.25)
        );
        // scale 10: csat = 100 × 13 / 40
        let ten = [ScalarValue::Int64(Some(10))];
        assert_eq!(check_agree(&csat::udaf(), &answers(), &ten, 1), one(32.5));
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        for f in [
            csat::udaf(),
            csat_top2box::udaf(),
            customer_effort_score::udaf(),
        ] {
            check_sizes(&f, &[], |n| {
                let v: Float64Array = (0..n)
                    .map(|i| (i % 7 != 2).then_some((1 + i % 5) as f64))
                    .collect();
                vec![Arc::new(v) as ArrayRef]
            });
        }
    }
}
