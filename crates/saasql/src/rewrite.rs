//! Resolves the `saasql.*` settings while a query is planned.
//!
//! DataFusion 55 gives aggregates no session options, and a plan shipped to
//! another process (Ballista) must carry its settings with it. So this
//! [`FunctionRewrite`] runs in the analyzer and appends the settings a
//! function reads as literal arguments, as the function's
//! [`extra_args`](crate::hooks::Hooks::extra_args) hook says. For example:
//!
//! | call | becomes |
//! | --- | --- |
//! | `engagement_score(e)` | `engagement_score(e, <saasql.engagement_weights>, <saasql.engagement_default_weight>)` |
//! | `ltv(a, c)` | `ltv(a, c, 100, <saasql.ltv_churn_floor>)` |
//!
//! An aggregate's constant string arguments (its
//! [`string_constants`](crate::hooks::Hooks::string_constants), such as the
//! weights of `engagement_score`) are then wrapped in one-value dictionaries,
//! which DataFusion expands per batch without copying the string for every
//! row ([`constant_literal`](crate::util::literals::constant_literal)).
//!
//! Output column names are kept as written (the analyzer restores them).
//!
//! The same pass checks the constant parameters of saasql aggregates (their
//! [`check_constants`](crate::hooks::Hooks::check_constants) hooks), so a bad
//! constant is a planning error even for `EXPLAIN` or `CREATE VIEW`, and
//! rejects `DISTINCT`, which the saasql aggregates do not implement.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, plan_err};
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{Expr, WindowFunctionDefinition};

use crate::config::SaasqlConfig;
use crate::functions::{FunctionKind, by_name};
use crate::util::literals::{constant_literal, logical_literals};

/// Checks a call of aggregate `name` with `args`: the constant parameters of
/// a saasql aggregate (its [`check_constants`](crate::hooks::Hooks::check_constants)
/// hook), and that it is not DISTINCT. Run here and, earlier, while SQL is
/// planned ([`crate::planner`]).
pub fn check_aggregate_call(name: &str, args: &[Expr], distinct: bool) -> Result<()> {
    let Some(f) = by_name(name).filter(|f| f.kind() == FunctionKind::Aggregate) else {
        return Ok(());
    };
    if let Some(check) = f.hooks.check_constants {
        check(name, &logical_literals(args))?;
    }
    if distinct {
        return plan_err!(
            "{name}: DISTINCT is not supported; remove duplicates in a subquery first"
        );
    }
    Ok(())
}

/// The analyzer rewrite that turns `saasql.*` settings into literal arguments.
#[derive(Debug, Default)]
pub struct SettingsRewrite;

/// Arguments to append to a call of saasql function `name` with `args`
/// arguments (its [`extra_args`](crate::hooks::Hooks::extra_args) hook), or
/// `None` when the call already has them all.
fn extra_args(name: &str, args: &[Expr], config: &ConfigOptions) -> Option<Vec<Expr>> {
    let hook = by_name(name)?.hooks.extra_args?;
    match config.extensions.get::<SaasqlConfig>() {
        Some(c) => hook(args.len(), c.values()),
        None => hook(args.len(), SaasqlConfig::default().values()),
    }
}

/// Wraps the literal constant string parameters of aggregate `name` (its
/// [`string_constants`](crate::hooks::Hooks::string_constants)) in one-value
/// dictionaries; true when an argument changed.
fn wrap_constants(name: &str, args: &mut [Expr]) -> bool {
    let Some(f) = by_name(name) else {
        return false;
    };
    let mut changed = false;
    for &i in f.hooks.string_constants {
        if let Some(Expr::Literal(value, meta)) = args.get(i) {
            let wrapped = constant_literal(value.clone());
            if wrapped != *value {
                args[i] = Expr::Literal(wrapped, meta.clone());
                changed = true;
            }
        }
    }
    changed
}

impl FunctionRewrite for SettingsRewrite {
    fn name(&self) -> &str {
        "saasql_settings"
    }

    fn rewrite(
        &self,
        expr: Expr,
        _schema: &DFSchema,
        config: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        Ok(match expr {
            Expr::AggregateFunction(mut f) => {
                let extra = extra_args(f.func.name(), &f.params.args, config);
                let mut changed = extra.is_some();
                f.params.args.extend(extra.unwrap_or_default());
                changed |= wrap_constants(f.func.name(), &mut f.params.args);
                check_aggregate_call(f.func.name(), &f.params.args, f.params.distinct)?;
                if changed {
                    Transformed::yes(Expr::AggregateFunction(f))
                } else {
                    Transformed::no(Expr::AggregateFunction(f))
                }
            }
            Expr::ScalarFunction(mut f) => match extra_args(f.func.name(), &f.args, config) {
                Some(extra) => {
                    f.args.extend(extra);
                    Transformed::yes(Expr::ScalarFunction(f))
                }
                None => Transformed::no(Expr::ScalarFunction(f)),
            },
            Expr::WindowFunction(mut w) => {
                let name = match &w.fun {
                    WindowFunctionDefinition::AggregateUDF(u) => Some(u.name().to_string()),
                    _ => None,
                };
                let Some(name) = name else {
                    return Ok(Transformed::no(Expr::WindowFunction(w)));
                };
                let extra = extra_args(&name, &w.params.args, config);
                let mut changed = extra.is_some();
                w.params.args.extend(extra.unwrap_or_default());
                changed |= wrap_constants(&name, &mut w.params.args);
                check_aggregate_call(&name, &w.params.args, false)?;
                if changed {
                    Transformed::yes(Expr::WindowFunction(w))
                } else {
                    Transformed::no(Expr::WindowFunction(w))
                }
            }
            other => Transformed::no(other),
        })
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;

    use crate::session::context;

    /// The optimised plan of `sql` and its result, as text.
    async fn plan_and_rows(sql: &str) -> (String, String) {
        let ctx = context();
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.clone().into_optimized_plan().unwrap();
        let rows = pretty_format_batches(&df.collect().await.unwrap())
            .unwrap()
            .to_string();
        (plan.display_indent().to_string(), rows)
    }

    #[tokio::test]
    async fn weights_strings_reach_the_plan_as_one_value_dictionaries() {
        let values = "(VALUES ('login', 9), ('export', 10), ('other', 3)) AS t(e, v)";
        let (plan, rows) = plan_and_rows(&format!(
            "SELECT engagement_score(e, 'login:1, export:5', 2) AS s, csat(v, 10) AS c FROM {values}"
        ))
        .await;
        assert!(
            plan.contains(r#"Dictionary(Int8, Utf8("login:1, export:5"))"#),
            "{plan}"
        );
        // Numbers stay plain: a fill is cheaper than a dictionary's key check.
        assert!(!plan.contains("Dictionary(Int8, Float64"), "{plan}");
        // login 1 + export 5 + other (default 2) = 8; CSAT: mean score 22/3
        // on a 10-point scale.
        assert!(rows.contains("| 8.0 | 73.33333333333333 |"), "{rows}");

        let (plan, rows) = plan_and_rows(&format!(
            "SELECT e, engagement_score(e, 'export:5') OVER (ORDER BY e) AS w FROM {values} ORDER BY e"
        ))
        .await;
        assert!(
            plan.contains(r#"Dictionary(Int8, Utf8("export:5"))"#),
            "{plan}"
        );
        // Running sums in name order: export 5, login 5, other 5.
        assert!(rows.contains("| export | 5.0 |"), "{rows}");
        assert!(rows.contains("| other  | 5.0 |"), "{rows}");
    }
}
