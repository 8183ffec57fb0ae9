//! Customer lifecycle metrics: churn, renewal, upsell and trial conversion.

pub mod churn_rate;
pub mod renewal_rate;
pub mod trial_conversion_rate;
pub mod upsell_rate;
