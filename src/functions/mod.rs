//! Every saasql SQL function, one file each in a family folder (`surveys`,
//! `revenue`, `lifecycle`, `engagement`, `support`, `health`, `clv`), the kernels
//! that functions of several families share (`boolean_share`,
//! `simple_scalar`), and the one list of them.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation, ScalarUDF, WindowUDF};

pub use crate::hooks::FunctionKind;
use crate::hooks::{Function, Udf};
use crate::settings::Setting;

pub mod boolean_share;
pub mod clv;
pub mod convention;
pub mod engagement;
pub mod health;
pub mod lifecycle;
pub mod revenue;
pub mod simple_scalar;
pub mod support;
pub mod surveys;

/// Every saasql function, one line each: scalars, then aggregates, then
/// window functions (the order of `all_functions`). A new function is its own
/// file (declared with `pub mod` in its family's `mod.rs`) plus one line here.
fn list() -> Vec<Function> {
    vec![
        engagement::engagement_tier::function(),
        health::health_score::function(),
        health::health_tier::function(),
        surveys::nps_category::function(),
        revenue::to_mrr::function(),
        revenue::ltv::function(),
        revenue::purchase_ltv::function(),
        revenue::retention_cost::function(),
        revenue::ltv_cac_ratio::function(),
        revenue::quick_ratio::function(),
        clv::bgnbd_expected_purchases::function(),
        clv::bgnbd_p_alive::function(),
        clv::gamma_gamma_expected_spend::function(),
        clv::predicted_clv::function(),
        engagement::engagement_score::function(),
        surveys::nps::function(),
        surveys::nps_breakdown::function(),
        surveys::csat::function(),
        surveys::csat_breakdown::function(),
        surveys::csat_top2box::function(),
        surveys::csat_top2box_breakdown::function(),
        surveys::customer_effort_score::function(),
        clv::rfm::function(),
        clv::bgnbd_fit::function(),
        clv::gamma_gamma_fit::function(),
        lifecycle::churn_rate::function(),
        lifecycle::churn_rate_breakdown::function(),
        revenue::mrr_churn_rate::function(),
        revenue::mrr_churn_rate_breakdown::function(),
        revenue::net_revenue_retention::function(),
        revenue::net_revenue_retention_breakdown::function(),
        revenue::gross_revenue_retention::function(),
        revenue::gross_revenue_retention_breakdown::function(),
        revenue::arpa::function(),
        lifecycle::renewal_rate::function(),
        lifecycle::renewal_rate_breakdown::function(),
        lifecycle::upsell_rate::function(),
        lifecycle::upsell_rate_breakdown::function(),
        lifecycle::trial_conversion_rate::function(),
        lifecycle::trial_conversion_rate_breakdown::function(),
        support::first_contact_resolution::function(),
        support::first_contact_resolution_breakdown::function(),
        engagement::stickiness::function(),
        engagement::stickiness_breakdown::function(),
        lifecycle::retention::function(),
        support::avg_resolution_time::function(),
        revenue::mrr_movement::function(),
    ]
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
    fns.iter()
        .flat_map(|f| f.hooks.settings.iter().copied())
        .collect()
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
    use std::collections::HashSet;

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
        assert_eq!(checked, all_functions().len() - 1);
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
