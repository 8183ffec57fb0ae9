//! `engagement_weight(event_name [, weights])`: the weight an event name has
//! in the engagement model, or NULL when the model does not list it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use super::engagement_score::{WEIGHTS, parse_weights};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::{Function, Hooks};
use crate::settings::SettingValues;

const NAME: &str = "engagement_weight";

/// `engagement_weight(e)` gets `saasql.engagement_weights`.
const HOOKS: Hooks = Hooks {
    settings: &[&WEIGHTS],
    extra_args: Some(settings_args),
    ..Hooks::NONE
};

fn settings_args(n: usize, settings: &SettingValues) -> Option<Vec<Expr>> {
    match n {
        1 => Some(vec![settings.lit(&WEIGHTS)]),
        _ => None,
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The weight event_name has in the engagement model: its weight in the weights \
         string (as engagement_score reads it: 'event:weight, event:weight'; default: the \
         saasql.engagement_weights setting), or NULL when the string does not list it. \
         engagement_score counts an unlisted name with its default weight (0 unless \
         saasql.engagement_default_weight or its third argument says otherwise), so \
         `count(*) FILTER (WHERE engagement_weight(event_name) IS NULL)` counts the events \
         the model does not know; the bundled report sql/event_coverage.sql lists them by \
         name with their share of all events. Names are compared exactly (case and \
         spaces matter, as in engagement_score). A NULL event_name gives NULL. A weights \
         string that is not 'event:weight' entries, or that is not a constant, is an \
         error naming it.",
        "engagement_weight(event_name [, weights])",
    )
    .with_argument("event_name", "The event's name, as engagement_score receives it.")
    .with_argument(
        "weights",
        "Constant 'event:weight, …' string; default: the saasql.engagement_weights setting.",
    )
    .with_sql_example(
        "SELECT event_name, count(*) AS events\nFROM events\nWHERE engagement_weight(event_name) IS NULL\nGROUP BY event_name ORDER BY events DESC;",
    )
    .with_related_udf("engagement_score")
    .build()
});

/// The `engagement_weight` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EngagementWeight {
    params: Params,
}

impl Default for EngagementWeight {
    fn default() -> Self {
        const PARAMS: [Param; 2] = [Param::text("event_name"), Param::text("weights")];
        Self {
            params: Params::new(NAME, &PARAMS, &[1, 2]),
        }
    }
}

/// The weights of a call: its constant second argument.
fn weights_of(arg: &ColumnarValue) -> Result<HashMap<String, f64>> {
    let ColumnarValue::Scalar(value) = arg else {
        return plan_err!("{NAME}: weights must be a constant string, not a column or expression");
    };
    let text = match value {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.as_deref(),
        ScalarValue::Dictionary(_, inner) => match inner.as_ref() {
            ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
                s.as_deref()
            }
            other => return plan_err!("{NAME}: weights must be a string, got {other}"),
        },
        other => return plan_err!("{NAME}: weights must be a string, got {other}"),
    };
    let Some(text) = text else {
        return plan_err!("{NAME}: weights is NULL; expected 'event:weight, event:weight'");
    };
    Ok(parse_weights(NAME, text)?.into_iter().collect())
}

impl ScalarUDFImpl for EngagementWeight {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        self.params.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.params.coerce(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.params.check(arg_types)?;
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(weights_arg) = args.args.get(1) else {
            return plan_err!("{NAME}: no weights (register the saasql functions on the session)");
        };
        let weights = weights_of(weights_arg)?;
        match &args.args[0] {
            ColumnarValue::Scalar(name) => {
                let text = cast(&name.to_array()?, &DataType::Utf8)?;
                let text = text.as_string::<i32>();
                let weight = (!text.is_null(0))
                    .then(|| weights.get(text.value(0)).copied())
                    .flatten();
                Ok(ColumnarValue::Scalar(ScalarValue::Float64(weight)))
            }
            ColumnarValue::Array(names) => {
                let text = cast(names, &DataType::Utf8)?;
                let text = text.as_string::<i32>();
                let out: Float64Array = text
                    .iter()
                    .map(|name| name.and_then(|n| weights.get(n).copied()))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
        }
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The `engagement_weight` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(EngagementWeight::default())));
    Arc::clone(&UDF)
}

/// The `engagement_weight` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(engagement_weight(event_name); optional);

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;

    async fn run(sql: &str) -> String {
        let ctx = crate::context();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test]
    async fn listed_names_have_their_weight_and_others_null() {
        let out = run(
            "SELECT e, engagement_weight(e) AS w, engagement_weight(e, 'x:2.5, login:-1') AS w2 \
             FROM (VALUES ('login'), ('report_created'), ('page_view'), (NULL)) AS t(e) ORDER BY e",
        )
        .await;
        let expected = [
            "+----------------+-----+------+",
            "| e              | w   | w2   |",
            "+----------------+-----+------+",
            "| login          | 1.0 | -1.0 |",
            "| page_view      |     |      |",
            "| report_created | 5.0 |      |",
            "|                |     |      |",
            "+----------------+-----+------+",
        ];
        assert_eq!(out, expected.join("\n"));
    }

    #[tokio::test]
    async fn the_setting_and_bad_weights() {
        let ctx = crate::context();
        ctx.sql("SET saasql.engagement_weights = 'page_view:3'")
            .await
            .unwrap();
        let batches = ctx
            .sql("SELECT engagement_weight('page_view') AS w")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert!(
            pretty_format_batches(&batches)
                .unwrap()
                .to_string()
                .contains("| 3.0 |")
        );
        let err = ctx
            .sql("SELECT engagement_weight('a', 'login') AS w")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("engagement_weight: weights entry 'login' is not 'event:weight'"),
            "{err}"
        );
    }
}
