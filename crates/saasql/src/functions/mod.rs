//! Every saasql SQL function, one file each in a family folder (`surveys`,
//! `revenue`, `lifecycle`, `engagement`, `support`, `health`, `clv`,
//! `monitoring`), the kernels
//! that functions of several families share (`boolean_share`,
//! `simple_scalar`), and the one list of them.

use std::sync::{Arc, LazyLock};

use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{AggregateUDF, Documentation, Expr, ScalarUDF, WindowUDF};

pub use crate::hooks::FunctionKind;
use crate::hooks::{Function, Udf};
use crate::settings::Setting;

pub mod boolean_share;
pub mod clv;
pub mod convention;
pub mod engagement;
pub mod health;
pub mod lifecycle;
pub mod monitoring;
pub mod revenue;
pub mod simple_scalar;
pub mod support;
pub mod surveys;

/// The one list of saasql functions: scalars, then aggregates, then window
/// functions (the order of `all_functions`). A new function is its own file
/// (declared with `pub mod` in its family's `mod.rs`, with its `function()`
/// and its `define_expr_fn!` helper) plus one line here. The list makes `list()`
/// and the re-exports of [`expr_fn`].
macro_rules! function_list {
    ($($family:ident::$name:ident,)+) => {
        fn list() -> Vec<Function> {
            vec![$($family::$name::function(),)+]
        }

        /// Every saasql function as a DataFusion expression, for the
        /// DataFrame API (as DataFusion's own `expr_fn` modules): `nps(col("score"))`
        /// is `nps(score)` in SQL. Each takes the function's required
        /// arguments; [`call`] takes any argument list, optional ones included.
        /// Register the functions on the session ([`register_all`](crate::register_all))
        /// so that their `saasql.*` settings and argument checks apply.
        pub mod expr_fn {
            $(pub use super::$family::$name::$name;)+
            pub use super::call;
        }
    };
}

function_list! {
    engagement::engagement_tier,
    engagement::engagement_weight,
    health::health_score,
    health::health_tier,
    surveys::nps_category,
    revenue::to_mrr,
    revenue::ltv,
    revenue::purchase_ltv,
    revenue::retention_cost,
    revenue::ltv_cac_ratio,
    revenue::quick_ratio,
    clv::bgnbd_expected_purchases,
    clv::bgnbd_p_alive,
    clv::gamma_gamma_expected_spend,
    clv::predicted_clv,
    engagement::engagement_score,
    surveys::nps,
    surveys::nps_breakdown,
    surveys::csat,
    surveys::csat_breakdown,
    surveys::csat_top2box,
    surveys::csat_top2box_breakdown,
    surveys::customer_effort_score,
    clv::rfm,
    clv::bgnbd_fit,
    clv::gamma_gamma_fit,
    lifecycle::churn_rate,
    lifecycle::churn_rate_breakdown,
    revenue::mrr_churn_rate,
    revenue::mrr_churn_rate_breakdown,
    revenue::net_revenue_retention,
    revenue::net_revenue_retention_breakdown,
    revenue::gross_revenue_retention,
    revenue::gross_revenue_retention_breakdown,
    revenue::arpa,
    lifecycle::renewal_rate,
    lifecycle::renewal_rate_breakdown,
    lifecycle::upsell_rate,
    lifecycle::upsell_rate_breakdown,
    lifecycle::trial_conversion_rate,
    lifecycle::trial_conversion_rate_breakdown,
    support::first_contact_resolution,
    support::first_contact_resolution_breakdown,
    engagement::stickiness,
    engagement::stickiness_breakdown,
    lifecycle::retention,
    support::avg_resolution_time,
    monitoring::metric_anomaly,
    revenue::mrr_movement,
}

/// The saasql function `name` called with `args` (any of its argument lists,
/// optional arguments included), as a DataFusion expression; an unknown name
/// is an error that suggests the closest one.
pub fn call(name: &str, args: Vec<Expr>) -> Result<Expr> {
    if let Some(f) = functions()
        .iter()
        .find(|f| f.name().eq_ignore_ascii_case(name))
    {
        return Ok(f.call(args));
    }
    match crate::util::names::closest(name, functions().iter().map(|f| f.name())) {
        Some(known) => {
            plan_err!("saasql::expr_fn::call: no saasql function '{name}'; did you mean '{known}'?")
        }
        None => plan_err!(
            "saasql::expr_fn::call: no saasql function '{name}' (saasql::functions::all_functions lists them)"
        ),
    }
}

/// Every saasql function with its hooks, built once.
pub fn functions() -> &'static [Function] {
    static LIST: LazyLock<Vec<Function>> = LazyLock::new(list);
    &LIST
}

/// The saasql function named `name` (exactly, as DataFusion names it).
pub fn by_name(name: &str) -> Option<&'static Function> {
    functions().iter().find(|f| f.name() == name)
}

/// Scalar functions, in reference order.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    functions()
        .iter()
        .filter_map(|f| match &f.udf {
            Udf::Scalar(u) => Some(Arc::clone(u)),
            _ => None,
        })
        .collect()
}

/// Aggregate functions, in reference order.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    functions()
        .iter()
        .filter_map(|f| match &f.udf {
            Udf::Aggregate(u) => Some(Arc::clone(u)),
            _ => None,
        })
        .collect()
}

/// Window functions, in reference order.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    functions()
        .iter()
        .filter_map(|f| match &f.udf {
            Udf::Window(u) => Some(Arc::clone(u)),
            _ => None,
        })
        .collect()
}

/// Every `saasql.*` setting, as its functions declare them: functions in
/// name order, each function's settings in its own order.
pub fn settings() -> Vec<&'static Setting> {
    let mut fns: Vec<&Function> = functions().iter().collect();
    fns.sort_by(|a, b| a.name().cmp(b.name()));
    // A setting read by two functions (engagement_weights) is listed once.
    let mut out: Vec<&'static Setting> = vec![];
    for setting in fns.iter().flat_map(|f| f.hooks.settings.iter().copied()) {
        if !out.iter().any(|s| std::ptr::eq(*s, setting)) {
            out.push(setting);
        }
    }
    // The ledger's (a table function, not in the list) and the planner's.
    out.push(&revenue::mrr_ledger::REPORTING_CURRENCY);
    out.push(&crate::eager::SETTING);
    out
}

/// A function's name, kind and documentation.
#[derive(Debug, Clone)]
pub struct FunctionInfo {
    /// SQL name.
    pub name: String,
    /// Scalar, aggregate or window.
    pub kind: FunctionKind,
    /// Its documentation.
    pub doc: Documentation,
}

/// Every saasql function with its documentation. Panics if a function has
/// no documentation (a test guards this).
pub fn all_functions() -> Vec<FunctionInfo> {
    functions()
        .iter()
        .map(|f| FunctionInfo {
            name: f.name().to_string(),
            kind: f.kind(),
            doc: f
                .documentation()
                .unwrap_or_else(|| panic!("saasql function {} has no documentation", f.name()))
                .clone(),
        })
        .chain(std::iter::once(FunctionInfo {
            name: "mrr_ledger".to_string(),
            kind: FunctionKind::Table,
            doc: revenue::mrr_ledger::documentation().clone(),
        }))
        .collect()
}

/// Looks a function up by name (case-insensitive).
pub fn find_function(name: &str) -> Option<FunctionInfo> {
    all_functions()
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::logical_expr::ExprFunctionExt;
    use datafusion::prelude::{DataFrame, SessionContext, col, lit};
    use std::collections::HashSet;

    async fn table(df: DataFrame) -> String {
        pretty_format_batches(&df.collect().await.unwrap())
            .unwrap()
            .to_string()
    }

    async fn sql(ctx: &SessionContext, query: &str) -> String {
        table(ctx.sql(query).await.unwrap()).await
    }

    /// The `expr_fn` helpers build the same calls as SQL: a scalar, an
    /// aggregate with a setting (`saasql.engagement_weights`, applied by the
    /// session's rewrite), a window function, optional arguments through
    /// `call`, and an unknown name.
    #[tokio::test]
    async fn expr_fn_matches_sql() {
        let ctx = crate::context();
        ctx.sql("SET saasql.engagement_weights = 'login:2,export:5'")
            .await
            .unwrap();
        ctx.sql(
            "CREATE VIEW t AS SELECT * FROM (VALUES \
             (1, 'login', 10, 5, DATE '2026-01-01', 100.0), \
             (1, 'export', 9, 4, DATE '2026-02-01', 150.0), \
             (2, 'login', 3, 2, DATE '2026-01-01', 80.0), \
             (2, 'search', 7, 3, DATE '2026-02-01', 0.0)) \
             AS t(customer_id, event_name, score, rating, month, mrr)",
        )
        .await
        .unwrap();
        let t = ctx.table("t").await.unwrap();

        let by_api = t
            .clone()
            .aggregate(
                vec![col("customer_id")],
                vec![
                    expr_fn::engagement_score(col("event_name")).alias("engagement"),
                    expr_fn::nps(col("score")).alias("nps"),
                    expr_fn::csat(col("rating")).alias("csat"),
                    expr_fn::call("csat", vec![col("rating"), lit(10)])
                        .unwrap()
                        .alias("csat10"),
                ],
            )
            .unwrap()
            .sort(vec![col("customer_id").sort(true, false)])
            .unwrap();
        assert_eq!(
            table(by_api).await,
            sql(
                &ctx,
                "SELECT customer_id, engagement_score(event_name) AS engagement, \
                 nps(score) AS nps, csat(rating) AS csat, csat(rating, 10) AS csat10 \
                 FROM t GROUP BY customer_id ORDER BY customer_id"
            )
            .await
        );

        let tiers = t
            .clone()
            .select(vec![
                col("customer_id"),
                expr_fn::nps_category(col("score")).alias("category"),
                expr_fn::mrr_movement(col("mrr"))
                    .partition_by(vec![col("customer_id")])
                    .order_by(vec![col("month").sort(true, false)])
                    .build()
                    .unwrap()
                    .alias("movement"),
            ])
            .unwrap()
            .sort(vec![
                col("customer_id").sort(true, false),
                col("category").sort(true, false),
            ])
            .unwrap();
        assert_eq!(
            table(tiers).await,
            sql(
                &ctx,
                "SELECT customer_id, nps_category(score) AS category, \
                 mrr_movement(mrr) OVER (PARTITION BY customer_id ORDER BY month) AS movement \
                 FROM t ORDER BY customer_id, category"
            )
            .await
        );

        // The helpers work on a context that registered the functions itself.
        let mut own = SessionContext::new();
        crate::register_all(&mut own).unwrap();
        let one = own
            .read_empty()
            .unwrap()
            .select(vec![expr_fn::health_tier(lit(72.0)).alias("tier")])
            .unwrap();
        assert_eq!(
            table(one).await,
            sql(&own, "SELECT health_tier(72.0) AS tier").await
        );

        let e = expr_fn::call("nsp", vec![col("score")]).unwrap_err();
        assert_eq!(
            e.strip_backtrace(),
            "Error during planning: saasql::expr_fn::call: no saasql function 'nsp'; did you mean 'nps'?"
        );
    }

    #[test]
    fn names_are_unique_and_documented() {
        let fns = all_functions();
        let names: HashSet<&str> = fns.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), fns.len(), "duplicate function names");
        let keys: HashSet<&str> = settings().iter().map(|s| s.key).collect();
        assert_eq!(keys.len(), settings().len(), "duplicate setting keys");
        for f in &fns {
            let d = &f.doc;
            assert!(
                d.description.len() > 40,
                "{}: description too short",
                f.name
            );
            assert!(d.syntax_example.starts_with(&f.name), "{}: syntax", f.name);
            assert!(d.sql_example.is_some(), "{}: no SQL example", f.name);
            assert!(
                d.arguments.as_ref().is_some_and(|a| !a.is_empty()),
                "{}: no arguments",
                f.name
            );
        }
    }

    /// A sample argument of the class a declarative form asks for, and one
    /// of the wrong type (string for a number, number for a string or time…).
    fn samples(c: &datafusion::logical_expr::Coercion) -> (&'static str, &'static str) {
        use datafusion::common::types::NativeType;
        use datafusion::logical_expr::TypeSignatureClass;
        match c.desired_type() {
            TypeSignatureClass::Native(l) => match l.native() {
                NativeType::Float64 => ("50", "'x'"),
                NativeType::String => ("'month'", "50"),
                NativeType::Boolean => ("true", "50"),
                // a model struct: every field 2 (valid for every model)
                NativeType::Struct(fields) => {
                    let args: Vec<String> =
                        fields.iter().map(|f| format!("'{}', 2", f.name)).collect();
                    let sample = format!("named_struct({})", args.join(", "));
                    (&*Box::leak(sample.into_boxed_str()), "50")
                }
                other => panic!("no sample for {other:?}"),
            },
            TypeSignatureClass::Timestamp => ("TIMESTAMP '2025-01-01 00:00:00'", "50"),
            TypeSignatureClass::Any => ("1", "true"),
            other => panic!("no sample for {other:?}"),
        }
    }

    /// The declarative forms of a function: each a list of argument classes.
    fn forms(sig: &datafusion::logical_expr::Signature) -> Vec<Vec<(&'static str, &'static str)>> {
        use datafusion::arrow::datatypes::DataType;
        use datafusion::logical_expr::TypeSignature;
        let form = |s: &TypeSignature| match s {
            TypeSignature::Coercible(c) => Some(c.iter().map(samples).collect()),
            TypeSignature::Exact(types) => Some(
                types
                    .iter()
                    .map(|t| match t {
                        DataType::Boolean => ("true", "50"),
                        other => panic!("no sample for {other}"),
                    })
                    .collect(),
            ),
            _ => None,
        };
        match &sig.type_signature {
            TypeSignature::OneOf(sigs) => sigs.iter().filter_map(form).collect(),
            other => form(other).into_iter().collect(),
        }
    }

    /// Every function with no arguments, one too many, and each argument of
    /// each form of the wrong type: a one-line planning error naming the
    /// function (never DataFusion's "Internal error … bug in DataFusion").
    #[tokio::test]
    async fn wrong_arguments_are_one_line_planning_errors() {
        let ctx = crate::session::context();
        let mut calls: Vec<(String, String, String)> = vec![];
        let mut add = |name: &str, window: bool, args: &[&str], expect: String| {
            let over = if window { " OVER ()" } else { "" };
            let sql = format!("SELECT {name}({}){over}", args.join(", "));
            calls.push((name.to_string(), sql, expect));
        };
        let sigs: Vec<(String, bool, datafusion::logical_expr::Signature)> = scalar_functions()
            .iter()
            .map(|f| (f.name().to_string(), false, f.signature().clone()))
            .chain(
                aggregate_functions()
                    .iter()
                    .map(|f| (f.name().to_string(), false, f.signature().clone())),
            )
            .chain(
                window_functions()
                    .iter()
                    .map(|f| (f.name().to_string(), true, f.signature().clone())),
            )
            .collect();
        let mut checked = 0;
        for (name, window, sig) in &sigs {
            let forms = forms(sig);
            if name == "health_score" {
                let cases: [&[&str]; 5] = [
                    &[],
                    &["50"],
                    &["'x'", "1"],
                    &["50", "'x'"],
                    &["50", "1", "50"],
                ];
                for args in cases {
                    add(name, false, args, String::new());
                }
                continue;
            }
            assert!(!forms.is_empty(), "{name}: no declarative forms");
            checked += 1;
            add(name, *window, &[], "takes".into());
            let longest = forms.iter().max_by_key(|f| f.len()).unwrap();
            let mut too_many: Vec<&str> = longest.iter().map(|s| s.0).collect();
            too_many.push("1");
            add(name, *window, &too_many, "takes".into());
            for form in &forms {
                for i in 0..form.len() {
                    let args: Vec<&str> = form
                        .iter()
                        .enumerate()
                        .map(|(k, s)| if k == i { s.1 } else { s.0 })
                        .collect();
                    add(name, *window, &args, format!("argument {} (", i + 1));
                }
            }
        }
        assert_eq!(checked, functions().len() - 1);
        let mut failures = vec![];
        for (name, sql, expect) in calls {
            let err = match ctx.sql(&sql).await {
                Ok(df) => match df.into_optimized_plan() {
                    Ok(_) => {
                        failures.push(format!("{sql}: planned without error"));
                        continue;
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            }
            .strip_backtrace();
            let prefix = format!("Error during planning: {name}: ");
            let internal = [
                "Internal error",
                "bug in DataFusion",
                "likely caused by a bug",
            ]
            .iter()
            .any(|bad| err.contains(bad));
            if internal || !err.starts_with(&prefix) || !err.contains(&expect) || err.contains('\n')
            {
                failures.push(format!("{sql}\n    {}", err.replace('\n', "\n    ")));
            }
        }
        assert!(
            failures.is_empty(),
            "{} bad errors:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// Whether every DOUBLE in `arr` (also inside structs) is NULL or finite.
    fn all_finite_or_null(arr: &dyn datafusion::arrow::array::Array) -> bool {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::{DataType, Float64Type};
        match arr.data_type() {
            DataType::Float64 => arr
                .as_primitive::<Float64Type>()
                .iter()
                .all(|v| v.is_none_or(f64::is_finite)),
            DataType::Struct(_) => arr
                .as_struct()
                .columns()
                .iter()
                .all(|c| all_finite_or_null(c.as_ref())),
            _ => true,
        }
    }

    /// Every numeric argument of every form set to NULL, NaN, ±∞, ±1e308, 0,
    /// −1, 1e-300 and 5e-324 (the smallest DOUBLE; the others valid): the answer is NULL, a finite number
    /// or a one-line error naming the function; never ±∞, NaN, an internal
    /// error or a panic. Aggregates run over two equal rows (so sums of
    /// 1e308 overflow unless handled), per group, and over no rows.
    #[tokio::test]
    async fn bad_numbers_give_null_a_finite_number_or_a_one_line_error() {
        use datafusion::arrow::array::Array;
        let ctx = crate::session::context();
        let bad = [
            "NULL",
            "CAST('NaN' AS DOUBLE)",
            "CAST('Infinity' AS DOUBLE)",
            "CAST('-Infinity' AS DOUBLE)",
            "1e308",
            "-1e308",
            "0",
            "-1",
            "1e-300",
            "5e-324",
        ];
        let rows = "FROM (VALUES (1, 1), (2, 1)) AS t(k, g)";
        let mut sqls: Vec<(String, String)> = vec![];
        // (one row, two equal rows) of the same aggregate call
        let mut pairs: Vec<(String, String)> = vec![];
        let kinds = scalar_functions()
            .iter()
            .map(|f| {
                (
                    f.name().to_string(),
                    FunctionKind::Scalar,
                    f.signature().clone(),
                )
            })
            .chain(aggregate_functions().iter().map(|f| {
                (
                    f.name().to_string(),
                    FunctionKind::Aggregate,
                    f.signature().clone(),
                )
            }))
            .chain(window_functions().iter().map(|f| {
                (
                    f.name().to_string(),
                    FunctionKind::Window,
                    f.signature().clone(),
                )
            }))
            .collect::<Vec<_>>();
        for (name, kind, sig) in &kinds {
            let mut forms = forms(sig);
            if name == "health_score" {
                forms = vec![vec![("50", "'x'"); 4]];
            }
            for mut form in forms {
                if name == "engagement_score" && form.len() > 1 {
                    // events named 'month' weigh 1e308: two rows overflow
                    form[1].0 = "'month:1e308'";
                }
                let numeric: Vec<usize> = (0..form.len()).filter(|&i| form[i].1 == "'x'").collect();
                for v in bad {
                    // one numeric argument bad, then all of them
                    let mut variants: Vec<Vec<&str>> = numeric
                        .iter()
                        .map(|&i| {
                            (0..form.len())
                                .map(|k| if k == i { v } else { form[k].0 })
                                .collect()
                        })
                        .collect();
                    variants.push(
                        (0..form.len())
                            .map(|k| if numeric.contains(&k) { v } else { form[k].0 })
                            .collect(),
                    );
                    for args in variants {
                        let call = format!("{name}({})", args.join(", "));
                        let shapes = match kind {
                            FunctionKind::Scalar => vec![format!("SELECT {call}")],
                            FunctionKind::Aggregate => vec![
                                format!("SELECT {call} {rows}"),
                                format!("SELECT g, {call} {rows} GROUP BY g"),
                                format!("SELECT {call} {rows} WHERE k > 5"),
                                format!("SELECT {call} OVER (ORDER BY k) {rows}"),
                            ],
                            FunctionKind::Window => {
                                vec![format!(
                                    "SELECT {call} OVER (PARTITION BY g ORDER BY k) {rows}"
                                )]
                            }
                            // Table functions are not in the UDF lists walked here.
                            FunctionKind::Table => vec![],
                        };
                        for sql in shapes {
                            sqls.push((name.clone(), sql));
                        }
                        if *kind == FunctionKind::Aggregate {
                            pairs.push((format!("SELECT {call}"), format!("SELECT {call} {rows}")));
                        }
                    }
                }
            }
        }
        let mut failures = vec![];
        for (name, sql) in &sqls {
            let result = match ctx.sql(sql).await {
                Ok(df) => df.collect().await,
                Err(e) => Err(e),
            };
            match result {
                Ok(batches) => {
                    if !batches
                        .iter()
                        .all(|b| b.columns().iter().all(|c| all_finite_or_null(c.as_ref())))
                    {
                        failures.push(format!("{sql}: a non-finite result"));
                    }
                }
                Err(e) => {
                    // DataFusion wraps errors raised while it analyses or
                    // optimises a plan in its rule's name ("Optimizer rule
                    // '…' failed caused by …"): judge the error inside.
                    let full = e.strip_backtrace();
                    let err = e.find_root().strip_backtrace();
                    let named = err.starts_with(&format!("Execution error: {name}: "))
                        || err.starts_with(&format!("Error during planning: {name}: "))
                        || err.starts_with(&format!("Error during planning: {name} "));
                    let internal = [
                        "Internal error",
                        "bug in DataFusion",
                        "likely caused by a bug",
                    ]
                    .iter()
                    .any(|bad| full.contains(bad));
                    if !named || internal || err.contains('\n') {
                        failures.push(format!("{sql}\n    {}", full.replace('\n', "\n    ")));
                    }
                }
            }
        }
        // Overflowing sums must not turn an answer into NULL: when one row
        // has a value, two equal rows have one too (or fail).
        let value = |batches: &[datafusion::arrow::array::RecordBatch]| {
            batches
                .first()
                .is_some_and(|b| b.num_rows() > 0 && b.column(0).is_valid(0))
        };
        for (one, two) in &pairs {
            let run = |sql: String| {
                let ctx = ctx.clone();
                async move { ctx.sql(&sql).await?.collect().await }
            };
            if let (Ok(a), Ok(b)) = (run(one.clone()).await, run(two.clone()).await)
                && value(&a)
                && !value(&b)
            {
                failures.push(format!("{two}: NULL, but one row gives a value"));
            }
        }
        assert!(sqls.len() > 1000, "only {} queries", sqls.len());
        assert!(
            failures.is_empty(),
            "{} bad answers:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
