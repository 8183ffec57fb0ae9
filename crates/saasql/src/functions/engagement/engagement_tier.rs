//! `engagement_tier(score)`: the label of an engagement score.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;
use crate::util::numbers::check_finite;
use crate::util::rows::map_floats_to_label;

/// The tier of one engagement score.
pub fn tier(score: f64) -> Result<&'static str> {
    let s = check_finite("engagement_tier", "score", score)?;
    Ok(if s < 0.0 {
        "churn_risk"
    } else if s <= 40.0 {
        "disengaged"
    } else if s <= 70.0 {
        "somewhat_engaged"
    } else if s <= 100.0 {
        "highly_engaged"
    } else {
        "power_user"
    })
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Engagement tier of a score: below 0 'churn_risk'; [0, 40] 'disengaged'; \
         (40, 70] 'somewhat_engaged'; (70, 100] 'highly_engaged'; above 100 'power_user'. \
         Upper bounds are inclusive (40 is disengaged, 40.5 somewhat_engaged). NULL gives \
         NULL; NaN or ±Inf is an error.",
        "engagement_tier(score)",
    )
    .with_argument("score", "An engagement score, usually from engagement_score.")
    .with_sql_example(
        "SELECT engagement_tier(engagement_score(event_name)) AS tier, count(*) AS customers\nFROM events GROUP BY customer_id;",
    )
    .with_related_udf("engagement_score")
    .build()
});

/// The `engagement_tier` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EngagementTier {
    params: Params,
}

impl Default for EngagementTier {
    fn default() -> Self {
        const PARAMS: [Param; 1] = [Param::number("score")];
        Self {
            params: Params::new("engagement_tier", &PARAMS, &[1]),
        }
    }
}

impl ScalarUDFImpl for EngagementTier {
    fn name(&self) -> &str {
        "engagement_tier"
    }
    fn signature(&self) -> &Signature {
        self.params.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.params.coerce(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.params.check(arg_types)?;
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_floats_to_label::<1>(&args.args, args.number_rows, |[s]| tier(s))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The `engagement_tier` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(EngagementTier::default())));
    Arc::clone(&UDF)
}

/// The `engagement_tier` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(engagement_tier(score));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_boundaries() {
        let cases = [
            (-0.01, "churn_risk"),
            (0.0, "disengaged"),
            (40.0, "disengaged"),
            (40.5, "somewhat_engaged"),
            (70.0, "somewhat_engaged"),
            (70.01, "highly_engaged"),
            (100.0, "highly_engaged"),
            (100.01, "power_user"),
        ];
        for (s, t) in cases {
            assert_eq!(tier(s).unwrap(), t, "score {s}");
        }
        assert!(tier(f64::NAN).is_err());
    }
}
