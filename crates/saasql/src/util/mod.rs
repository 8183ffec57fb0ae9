//! Shared helpers for the SQL functions, one module per topic.
//!
//! Every function file uses these instead of repeating the same parsing and
//! validation, so that all functions word their errors the same way.

pub mod bitmaps;
pub mod coercion;
pub mod ids;
pub mod literals;
pub mod names;
pub mod numbers;
pub mod rows;
pub mod time;
