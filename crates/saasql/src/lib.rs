//! saasql: SaaS customer metrics as Apache DataFusion SQL functions.
//!
//! ```no_run
//! # async fn demo() -> datafusion::common::Result<()> {
//! let ctx = saasql::context();
//! ctx.sql("SELECT nps(score) FROM (VALUES (10), (9), (3)) AS t(score)")
//!     .await?
//!     .show()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Or register the functions on your own context with [`register_all`], and
//! build the same calls with DataFusion's DataFrame API from [`expr_fn`]:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::common::Result<()> {
//! use datafusion::prelude::{SessionContext, col};
//! use saasql::expr_fn::{engagement_score, engagement_tier, nps};
//!
//! let mut ctx = SessionContext::new();
//! saasql::register_all(&mut ctx)?;
//! let answers = ctx.sql("SELECT * FROM (VALUES (10), (10), (9), (3)) AS t(score)").await?;
//! let batches = answers.aggregate(vec![], vec![nps(col("score")).alias("nps")])?.collect().await?;
//! assert_eq!(datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string(),
//!     "+------+\n| nps  |\n+------+\n| 50.0 |\n+------+");
//!
//! // Settings and constant checks apply as in SQL: `engagement_score` reads
//! // `saasql.engagement_weights` from the session.
//! let events = ctx.sql("SELECT * FROM (VALUES ('login'), ('export')) AS t(event_name)").await?;
//! let tier = events.aggregate(
//!     vec![],
//!     vec![engagement_tier(engagement_score(col("event_name"))).alias("tier")],
//! )?;
//! tier.show().await?;
//! # Ok(()) }
//! ```

/// `define_expr_fn!(name(arg, …))` in a function's file defines its DataFrame
/// helper, re-exported in [`expr_fn`]: `pub fn name(arg: Expr, …) -> Expr`,
/// the call of the file's `function()` with these arguments.
/// `; optional` says the SQL function has optional trailing arguments
/// ([`expr_fn::call`] passes them); `(..args)` takes a `Vec<Expr>` (the
/// variadic `health_score`: value, weight pairs and an optional `missing` rule).
macro_rules! define_expr_fn {
    ($name:ident($($arg:ident),+)) => {
        $crate::define_expr_fn!(@define $name($($arg),+) "");
    };
    ($name:ident($($arg:ident),+); optional) => {
        $crate::define_expr_fn!(@define $name($($arg),+)
            " (its optional arguments: [`call`](crate::expr_fn::call))");
    };
    (@define $name:ident($($arg:ident),+) $note:literal) => {
        #[doc = concat!(
            "`", stringify!($name), "(", stringify!($($arg),+), ")` as a DataFusion expression ",
            "for the DataFrame API: the SQL function `", stringify!($name),
            "` (see `saasql functions ", stringify!($name), "` or docs/functions.md) with these ",
            "arguments", $note, ". Arguments SQL wants constant are `lit(…)`. Its settings and ",
            "checks apply when the session has [`register_all`](crate::register_all).")]
        // The SQL function's own argument list.
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: datafusion::logical_expr::Expr),+) -> datafusion::logical_expr::Expr {
            function().call(vec![$($arg),+])
        }
    };
    ($name:ident(..$args:ident)) => {
        #[doc = concat!(
            "`", stringify!($name), "(", stringify!($args), ")` as a DataFusion expression ",
            "for the DataFrame API: the SQL function `", stringify!($name),
            "` (see `saasql functions ", stringify!($name), "` or docs/functions.md) with the ",
            "arguments `", stringify!($args), "` as in SQL. Arguments SQL wants constant are ",
            "`lit(…)`. Its settings and checks apply when the session has ",
            "[`register_all`](crate::register_all).")]
        pub fn $name($args: Vec<datafusion::logical_expr::Expr>) -> datafusion::logical_expr::Expr {
            function().call($args)
        }
    };
}
pub(crate) use define_expr_fn;

pub mod aggregate;
pub mod args;
pub mod breakdown;
pub mod builtins;
pub mod config;
pub mod docs;
pub mod eager;
pub mod functions;
pub mod hooks;
pub mod join_order;
pub mod keyed;
pub mod ledger_exec;
pub mod models;
pub mod planner;
pub mod reference;
pub mod rewrite;
pub mod safe_rules;
pub mod series_window;
pub mod session;
pub mod settings;
pub mod util;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;

use hooks::Udf;

pub use datafusion;
pub use functions::expr_fn;
pub use session::{
    context, context_with, register_table_functions, session_config, with_saasql_settings,
};

/// Registers every saasql function (scalar, aggregate and window), the
/// analyzer rewrite that resolves `saasql.*` settings at planning time,
/// saasql's faster drop-in `date_trunc` ([`builtins`]), and the SQL planner
/// hook that checks constant parameters early and explains a window function
/// called without OVER ([`planner`]).
///
/// The registry's session should also carry the settings extension
/// ([`with_saasql_settings`]); without it the defaults apply.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for f in functions::functions() {
        match &f.udf {
            Udf::Scalar(u) => {
                registry.register_udf(Arc::clone(u))?;
            }
            Udf::Aggregate(u) => {
                registry.register_udaf(Arc::clone(u))?;
            }
            Udf::Window(u) => {
                registry.register_udwf(Arc::clone(u))?;
            }
        }
    }
    for f in planner::stand_ins() {
        registry.register_udaf(f)?;
    }
    // Only registries that plan SQL (session states and contexts) take
    // planners; an executor's plain registry needs none.
    match registry.register_expr_planner(Arc::new(planner::SaasqlPlanner)) {
        Ok(()) | Err(datafusion::error::DataFusionError::NotImplemented(_)) => {}
        Err(e) => return Err(e),
    }
    // The internal functions of `mrr_ledger`: the one it reports bad rows
    // with, and its movement columns.
    registry.register_udf(functions::revenue::mrr_ledger::error_udf())?;
    registry.register_udwf(functions::revenue::mrr_ledger_moves::udwf())?;
    for f in builtins::replacements() {
        registry.register_udf(f)?;
    }
    registry.register_function_rewrite(Arc::new(rewrite::SettingsRewrite))?;
    Ok(())
}
