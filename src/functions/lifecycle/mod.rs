//! Customer lifecycle metrics: churn, renewal, upsell, trial conversion and
//! cohort retention.

pub mod churn_rate;
pub mod renewal_rate;
pub mod retention;
pub mod trial_conversion_rate;
pub mod upsell_rate;
