//! Building a DataFusion session with every saasql function and setting.

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::config::SaasqlConfig;
use crate::register_all;
use crate::safe_rules::safe_optimizer_rules;

/// A [`SessionConfig`] with `information_schema` on and the `saasql.*`
/// settings registered (at their defaults).
pub fn session_config() -> SessionConfig {
    with_saasql_settings(SessionConfig::new())
}

/// Adds `information_schema` and the `saasql.*` settings to `config`
/// (keeping any values it already has).
pub fn with_saasql_settings(config: SessionConfig) -> SessionConfig {
    let mut config = config.with_information_schema(true);
    if config.options().extensions.get::<SaasqlConfig>().is_none() {
        config = config.with_option_extension(SaasqlConfig::default());
    }
    config
}

/// A [`SessionContext`] with every saasql function registered, the
/// `saasql.*` settings, and `information_schema` on (and DataFusion 55's
/// `eliminate_join` replaced: see [`crate::safe_rules`]; eager aggregation
/// before joins: see [`crate::eager`]; hash joins build on a GROUP BY side:
/// see [`crate::join_order`]; `metric_anomaly` streams: see
/// [`crate::series_window`]).
pub fn context() -> SessionContext {
    context_with(session_config(), Arc::new(RuntimeEnv::default()))
}

/// Like [`context`], with your own config and runtime (memory limit, spill
/// directory, target partitions, …).
pub fn context_with(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionContext {
    let state = SessionStateBuilder::new()
        .with_config(with_saasql_settings(config))
        .with_runtime_env(runtime)
        .with_default_features()
        .with_optimizer_rules({
            let mut rules = safe_optimizer_rules(&datafusion::optimizer::Optimizer::new().rules);
            rules.push(Arc::new(crate::eager::EagerAggregation));
            rules
        })
        .with_physical_optimizer_rules(crate::series_window::with_streaming_windows(
            crate::join_order::physical_rules(),
        ))
        .build();
    let mut ctx = SessionContext::new_with_state(state);
    register_all(&mut ctx).expect("registering saasql functions on a SessionContext cannot fail");
    register_table_functions(&ctx);
    ctx
}

/// Registers saasql's table functions (`mrr_ledger`) on `ctx`; [`context`]
/// does this, and so must a context of your own that wants them (they are
/// not in a [`FunctionRegistry`](datafusion::execution::FunctionRegistry)).
pub fn register_table_functions(ctx: &SessionContext) {
    ctx.register_udtf(
        "mrr_ledger",
        crate::functions::revenue::mrr_ledger::table_function(),
    );
}
