//! Revenue metrics: MRR and its movements, revenue retention, ARPA and
//! lifetime value.

pub mod arpa;
pub mod gross_revenue_retention;
pub mod gross_revenue_retention_breakdown;
pub mod ltv;
pub mod ltv_cac_ratio;
pub mod mrr_churn_rate;
pub mod mrr_churn_rate_breakdown;
pub mod mrr_ledger;
pub mod mrr_ledger_moves;
pub mod mrr_movement;
pub mod net_revenue_retention;
pub mod net_revenue_retention_breakdown;
pub mod purchase_ltv;
pub mod quick_ratio;
pub mod retention_cost;
pub mod revenue_retention;
pub mod to_mrr;
