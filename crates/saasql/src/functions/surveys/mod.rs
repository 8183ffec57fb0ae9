//! Survey metrics: NPS, CSAT and customer effort.

pub mod csat;
pub mod csat_breakdown;
pub mod csat_top2box;
pub mod csat_top2box_breakdown;
pub mod customer_effort_score;
pub mod nps;
pub mod nps_breakdown;
pub mod nps_category;
pub mod survey;
