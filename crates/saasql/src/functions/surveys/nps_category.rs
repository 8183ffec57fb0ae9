//! `nps_category(score)`: promoter, passive or detractor.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::args::Params;
use crate::docs;
use crate::functions::surveys::nps::{SCORE, classify};
use crate::hooks::Function;
use crate::util::rows::map_floats_to_label;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The NPS class of one answer: 'promoter' (9–10), 'passive' (above 6, below 9) or \
         'detractor' (0–6), the same rule as `nps`. NULL gives NULL; an answer outside \
         0..10 is an error.",
        "nps_category(score)",
    )
    .with_argument("score", "Survey answer on the 0–10 scale (any numeric type).")
    .with_sql_example(
        "SELECT nps_category(score) AS category, count(*)\nFROM surveys WHERE kind = 'nps'\nGROUP BY 1 ORDER BY 1;",
    )
    .with_related_udf("nps")
    .build()
});

/// The `nps_category` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NpsCategory {
    params: Params,
}

impl Default for NpsCategory {
    fn default() -> Self {
        Self {
            params: Params::new("nps_category", &SCORE, &[1]),
        }
    }
}

impl ScalarUDFImpl for NpsCategory {
    fn name(&self) -> &str {
        "nps_category"
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
        map_floats_to_label::<1>(&args.args, args.number_rows, |[s]| {
            Ok(classify("nps_category", s)?.as_str())
        })
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The `nps_category` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(NpsCategory::default())));
    Arc::clone(&UDF)
}

/// The `nps_category` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(nps_category(score));

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::config::ConfigOptions;

    #[test]
    fn classifies_and_keeps_nulls() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(9.0),
            Some(8.9),
            Some(6.0),
            None,
        ]));
        let out = udf()
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(a)],
                arg_fields: vec![Arc::new(Field::new("s", DataType::Float64, true))],
                number_rows: 4,
                return_field: Arc::new(Field::new("r", DataType::Utf8, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap()
            .to_array(4)
            .unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "promoter");
        assert_eq!(out.value(1), "passive");
        assert_eq!(out.value(2), "detractor");
        assert!(out.is_null(3));
    }
}
