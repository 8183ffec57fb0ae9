//! Support metrics: first contact resolution and resolution time.

pub mod avg_resolution_time;
pub mod first_contact_resolution;
pub mod first_contact_resolution_breakdown;
