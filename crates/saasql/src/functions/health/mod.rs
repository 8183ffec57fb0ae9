//! Customer health: the weighted health score and its tier.

pub mod health_score;
pub mod health_tier;
