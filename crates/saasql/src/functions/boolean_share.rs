//! Shared kernel of the "share of true" aggregates: `renewal_rate`,
//! `upsell_rate`, `trial_conversion_rate` and `first_contact_resolution`.

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Documentation;

use crate::aggregate::{SumsKernel, for_each_row};
use crate::args::{Param, Params};
use crate::breakdown::{Explain, Part};

/// 100 × true rows / non-NULL rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BooleanShare {
    name: &'static str,
    doc: &'static Documentation,
    params: Params,
}

impl BooleanShare {
    /// The kernel named `name`, with its one BOOLEAN parameter.
    pub fn new(
        name: &'static str,
        params: &'static [Param; 1],
        doc: &'static Documentation,
    ) -> Self {
        Self {
            name,
            doc,
            params: Params::new(name, params, &[1]),
        }
    }
}

impl SumsKernel<2> for BooleanShare {
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
        ["rows", "true_rows"]
    }
    fn required_args(&self) -> &'static [usize] {
        &[0]
    }
    fn configure(&self, _literals: &[Option<ScalarValue>]) -> Result<Self> {
        Ok(self.clone())
    }
    fn contributions<F: FnMut(usize, [f64; 2])>(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        mut emit: F,
    ) -> Result<()> {
        let values = args[0].as_boolean().values();
        for_each_row(values.len(), mask, |i| {
            emit(i, [1.0, f64::from(values.value(i))]);
            Ok(())
        })
    }
    fn finish(&self, s: &[f64; 2]) -> Option<f64> {
        (s[0] > 0.0).then(|| 100.0 * s[1] / s[0])
    }
}

const SHARE_PARTS: [Part; 2] = [Part::count("numerator"), Part::count("denominator")];

impl Explain<2> for BooleanShare {
    fn parts(&self) -> &'static [Part] {
        &SHARE_PARTS
    }
    fn part(&self, index: usize, s: &[f64; 2]) -> f64 {
        if index == 0 { s[1] } else { s[0] }
    }
}

#[cfg(test)]
mod tests {
    use crate::aggregate::testing::{check_agree, check_sizes};
    use crate::functions::lifecycle::{renewal_rate, trial_conversion_rate, upsell_rate};
    use crate::functions::support::first_contact_resolution;
    use datafusion::arrow::array::{ArrayRef, BooleanArray};
    use datafusion::common::ScalarValue;
    use std::sync::Arc;

    #[test]
    fn share_of_true_among_non_null() {
        for f in [
            renewal_rate::udaf(),
            upsell_rate::udaf(),
            trial_conversion_rate::udaf(),
            first_contact_resolution::udaf(),
        ] {
            // true, false, NULL, true → 2 of 3 = 66.67 %
            let a: ArrayRef = Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ]));
            assert_eq!(
                check_agree(&f, &[a], &[], 1),
                vec![ScalarValue::Float64(Some(200.0 / 3.0))]
            );
            check_sizes(&f, &[], |n| {
                let v: BooleanArray = (0..n).map(|i| (i % 6 != 0).then_some(i % 4 == 1)).collect();
                vec![Arc::new(v) as ArrayRef]
            });
        }
    }
}
