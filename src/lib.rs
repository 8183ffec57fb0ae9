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
//! Or register the functions on your own registry with [`register_all`].

pub mod aggregate;
pub mod args;
pub mod breakdown;
pub mod builtins;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod config;
pub mod docs;
pub mod functions;
pub mod hooks;
pub mod keyed;
pub mod planner;
pub mod private_files;
pub mod reference;
pub mod rewrite;
pub mod session;
pub mod settings;
pub mod storage;
pub mod util;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;

use hooks::Udf;

pub use datafusion;
pub use session::{context, context_with, session_config, with_saasql_settings};

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
    for f in builtins::replacements() {
        registry.register_udf(f)?;
    }
    registry.register_function_rewrite(Arc::new(rewrite::SettingsRewrite))?;
    Ok(())
}
