//! Checks of saasql calls while SQL is turned into a plan.
//!
//! [`SaasqlPlanner`], an [`ExprPlanner`], sees every aggregate and window call
//! as the SQL planner builds it. It checks the constant parameters of saasql
//! aggregates there (`csat(s, 1)`, a malformed weights string, DISTINCT) with
//! the same check the settings rewrite runs later
//! ([`crate::rewrite::check_aggregate_call`]), so the error is one line:
//! DataFusion prefixes errors raised in its analyzer with the rule's name.
//!
//! # A window function called without OVER
//!
//! DataFusion 55's SQL planner looks up a call without OVER among scalar and
//! aggregate functions only; `SELECT mrr_movement(m, d) FROM t` fails with
//! "Invalid function 'mrr_movement'. Did you mean 'array_element'?", and the
//! planner has no hook for names it does not know. So every saasql window
//! function is also registered as an aggregate of the same name,
//! [`WindowOnly`], whose only answer is a planning error saying how to call
//! it. With OVER the planner prefers an aggregate of that name as well (its
//! `find_window_func` looks aggregates up first), so [`SaasqlPlanner`] swaps
//! the window function back in before the call is typed. (A scalar of the same name would not do: scalars are looked up
//! first, OVER or not, and the OVER clause would be silently dropped.)
//!
//! The cost: `information_schema.routines` also lists an AGGREGATE row
//! without return type for each window function.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, plan_datafusion_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::planner::{
    ExprPlanner, PlannerResult, RawAggregateExpr, RawWindowExpr,
};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility,
    WindowFunctionDefinition, WindowUDF,
};

use crate::functions::FunctionKind;
use crate::rewrite::check_aggregate_call;

/// The aggregate standing in for window function `window` when it is
/// called without OVER: every use is a planning error.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowOnly {
    window: Arc<WindowUDF>,
    signature: Signature,
}

impl WindowOnly {
    /// The stand-in for `window`.
    pub fn new(window: Arc<WindowUDF>) -> Self {
        Self {
            window,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// `mrr_movement is a window function: call it with OVER (PARTITION BY … ORDER BY …), as in …`
    pub fn error(&self) -> DataFusionError {
        let name = self.window.name();
        let example = self
            .window
            .documentation()
            .map(|d| format!(", as in {}", d.syntax_example.trim()))
            .unwrap_or_default();
        plan_datafusion_err!(
            "{name} is a window function: call it with OVER (PARTITION BY … ORDER BY …){example}"
        )
    }
}

impl AggregateUDFImpl for WindowOnly {
    fn name(&self) -> &str {
        self.window.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types.to_vec())
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(self.error())
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Err(self.error())
    }
}

/// The stand-in aggregates of the saasql window functions.
pub fn stand_ins() -> Vec<Arc<AggregateUDF>> {
    crate::functions::window_functions()
        .into_iter()
        .map(|w| Arc::new(AggregateUDF::from(WindowOnly::new(w))))
        .collect()
}

/// Whether `f` is a saasql aggregate and a call with `args` has an accepted argument count and
/// accepted types of its literal arguments (the others cannot be typed here
/// and count as NULL). A wrong call is left to be reported, with the real
/// types, when DataFusion types it: that error is the one to show, before
/// any complaint about a constant's value.
fn well_typed(f: &AggregateUDF, args: &[Expr]) -> bool {
    // Only saasql aggregates: built-ins may index their argument types
    // before checking their count.
    if !crate::functions::by_name(f.name()).is_some_and(|a| a.kind() == FunctionKind::Aggregate) {
        return false;
    }
    let types: Vec<DataType> = args
        .iter()
        .map(|a| match a {
            Expr::Literal(v, _) => v.data_type(),
            _ => DataType::Null,
        })
        .collect();
    f.return_type(&types).is_ok()
}

/// Checks saasql aggregate calls, puts the window function back into calls
/// of a stand-in with OVER, and rejects stand-in calls without OVER.
#[derive(Debug, Default)]
pub struct SaasqlPlanner;

impl ExprPlanner for SaasqlPlanner {
    fn plan_aggregate(&self, expr: RawAggregateExpr) -> Result<PlannerResult<RawAggregateExpr>> {
        if let Some(w) = expr.func.inner().downcast_ref::<WindowOnly>() {
            return Err(w.error());
        }
        if well_typed(&expr.func, &expr.args) {
            check_aggregate_call(expr.func.name(), &expr.args, expr.distinct)?;
        }
        Ok(PlannerResult::Original(expr))
    }

    fn plan_window(&self, mut expr: RawWindowExpr) -> Result<PlannerResult<RawWindowExpr>> {
        if let WindowFunctionDefinition::AggregateUDF(f) = &expr.func_def {
            match f.inner().downcast_ref::<WindowOnly>() {
                Some(w) => {
                    expr.func_def = WindowFunctionDefinition::WindowUDF(Arc::clone(&w.window))
                }
                None if well_typed(f, &expr.args) => {
                    check_aggregate_call(f.name(), &expr.args, false)?
                }
                None => {}
            }
        }
        Ok(PlannerResult::Original(expr))
    }
}

#[cfg(test)]
mod tests {
    use crate::session::context;

    #[tokio::test]
    async fn bad_constants_are_one_line_errors_while_sql_is_planned() {
        let ctx = context();
        for (sql, want) in [
            (
                "SELECT csat(s, 1) FROM (VALUES (5)) AS t(s)",
                "Error during planning: csat: scale_max 1 is not a whole number in 2..1000",
            ),
            (
                "SELECT nps(DISTINCT s) FROM (VALUES (5)) AS t(s)",
                "Error during planning: nps: DISTINCT is not supported; remove duplicates in a subquery first",
            ),
            (
                "SELECT engagement_score(e, 'oops') OVER () FROM (VALUES ('a')) AS t(e)",
                "Error during planning: engagement_score: weights entry 'oops' is not 'event:weight' (e.g. 'login:1, report_created:5')",
            ),
        ] {
            let err = ctx.sql(sql).await.unwrap_err().strip_backtrace();
            assert_eq!(err, want, "{sql}");
        }
    }

    #[tokio::test]
    async fn without_over_is_a_planning_error_and_with_over_still_works() {
        let ctx = context();
        let t = "(VALUES (1, DATE '2025-01-01', 10.0), (1, DATE '2025-02-01', 20.0)) AS t(c, d, m)";
        let err = ctx
            .sql(&format!("SELECT mrr_movement(m, d) FROM {t}"))
            .await
            .unwrap_err()
            .strip_backtrace();
        assert_eq!(
            err,
            "Error during planning: mrr_movement is a window function: call it with OVER \
             (PARTITION BY … ORDER BY …), as in mrr_movement(mrr [, month]) OVER \
             (PARTITION BY customer_id ORDER BY month)"
        );
        let rows = ctx
            .sql(&format!(
                "SELECT mrr_movement(m, d) OVER (PARTITION BY c ORDER BY d) AS mv FROM {t} ORDER BY d"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&rows)
            .unwrap()
            .to_string();
        assert!(
            text.contains("| new       |") && text.contains("| expansion |"),
            "{text}"
        );
    }
}
