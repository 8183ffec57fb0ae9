//! Customer lifecycle metrics: churn, renewal, upsell, trial conversion and
//! cohort retention.

pub mod churn_rate;
pub mod churn_rate_breakdown;
pub mod renewal_rate;
pub mod renewal_rate_breakdown;
pub mod retention;
pub mod trial_conversion_rate;
pub mod trial_conversion_rate_breakdown;
pub mod upsell_rate;
pub mod upsell_rate_breakdown;
