//! Product engagement metrics: engagement score and tier, stickiness.

pub mod engagement_score;
pub mod engagement_tier;
pub mod engagement_weight;
pub mod stickiness;
pub mod stickiness_breakdown;
