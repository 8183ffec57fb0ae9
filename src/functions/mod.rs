//! Every saasql SQL function, one file each, and the one list of them.

use std::sync::Arc;

use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{AggregateUDF, Documentation, ScalarUDF, WindowUDF};

pub mod arpa;
pub mod avg_resolution_time;
pub mod boolean_share;
pub mod churn_rate;
pub mod csat;
pub mod csat_top2box;
pub mod customer_effort_score;
pub mod engagement_score;
pub mod engagement_tier;
pub mod first_contact_resolution;
pub mod gross_revenue_retention;
pub mod health_score;
pub mod health_tier;
pub mod ltv;
pub mod ltv_cac_ratio;
pub mod mrr_churn_rate;
pub mod mrr_movement;
pub mod net_revenue_retention;
pub mod nps;
pub mod nps_breakdown;
pub mod nps_category;
pub mod purchase_ltv;
pub mod quick_ratio;
pub mod renewal_rate;
pub mod retention_cost;
pub mod revenue_retention;
pub mod simple_scalar;
pub mod stickiness;
pub mod survey;
pub mod to_mrr;
pub mod trial_conversion_rate;
pub mod upsell_rate;

/// Scalar functions, in reference order.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        engagement_tier::udf(),
        health_score::udf(),
        health_tier::udf(),
        nps_category::udf(),
        to_mrr::udf(),
        ltv::udf(),
        purchase_ltv::udf(),
        retention_cost::udf(),
        ltv_cac_ratio::udf(),
        quick_ratio::udf(),
    ]
}

/// Aggregate functions, in reference order.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        engagement_score::udaf(),
        nps::udaf(),
        nps_breakdown::udaf(),
        csat::udaf(),
        csat_top2box::udaf(),
        customer_effort_score::udaf(),
        churn_rate::udaf(),
        mrr_churn_rate::udaf(),
        net_revenue_retention::udaf(),
        gross_revenue_retention::udaf(),
        arpa::udaf(),
        renewal_rate::udaf(),
        upsell_rate::udaf(),
        trial_conversion_rate::udaf(),
        first_contact_resolution::udaf(),
        stickiness::udaf(),
        avg_resolution_time::udaf(),
    ]
}

/// Window functions, in reference order.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![mrr_movement::udwf()]
}

/// Checks the constant parameters of a call to a saasql aggregate while the
/// query is analysed. Returns whether `name` is a saasql aggregate.
pub fn check_aggregate_constants(name: &str, literals: &[Option<ScalarValue>]) -> Result<bool> {
    use crate::aggregate::SumsKernel;
    match name {
        "engagement_score" => {
            engagement_score::EngagementScore::default().configure(literals)?;
        }
        "csat" | "csat_top2box" | "customer_effort_score" => {
            crate::util::scale_max_param(name, literals, 1, 5)?;
        }
        "stickiness" => {
            stickiness::days_param(literals)?;
        }
        _ => return Ok(aggregate_functions().iter().any(|f| f.name() == name)),
    }
    Ok(true)
}

/// Argument positions of a saasql aggregate that take a constant string (the
/// weights); the analyzer passes them as one-value dictionaries (see
/// [`crate::util::constant_literal`]).
pub fn string_constant_params(name: &str) -> &'static [usize] {
    match name {
        "engagement_score" => &[1],
        _ => &[],
    }
}

/// What kind of SQL function an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// One value per row.
    Scalar,
    /// One value per group.
    Aggregate,
    /// One value per row, computed over a window.
    Window,
}

impl FunctionKind {
    /// Label used in docs and `SHOW FUNCTIONS`.
    pub fn label(self) -> &'static str {
        match self {
            FunctionKind::Scalar => "scalar",
            FunctionKind::Aggregate => "aggregate",
            FunctionKind::Window => "window",
        }
    }
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
    let mut out = vec![];
    for f in scalar_functions() {
        out.push(info(f.name(), FunctionKind::Scalar, f.documentation()));
    }
    for f in aggregate_functions() {
        out.push(info(f.name(), FunctionKind::Aggregate, f.documentation()));
    }
    for f in window_functions() {
        out.push(info(f.name(), FunctionKind::Window, f.documentation()));
    }
    out
}

fn info(name: &str, kind: FunctionKind, doc: Option<&Documentation>) -> FunctionInfo {
    FunctionInfo {
        name: name.to_string(),
        kind,
        doc: doc
            .unwrap_or_else(|| panic!("saasql function {name} has no documentation"))
            .clone(),
    }
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

    #[test]
    fn checked_in_reference_is_fresh() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/functions.md");
        let expected = crate::docs::reference_markdown();
        if std::env::var_os("SAASQL_BLESS").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/functions.md is stale: run `SAASQL_BLESS=1 cargo test --lib` \
             (or `saasql functions --markdown > docs/functions.md`)"
        );
    }
}
