//! Predictive customer lifetime value: per-customer purchase summaries
//! (`rfm`), the BG/NBD model of repeat buying (`bgnbd_fit` and its
//! predictions), the Gamma-Gamma model of spend (`gamma_gamma_fit`,
//! `gamma_gamma_expected_spend`) and the discounted value of both
//! (`predicted_clv`). The math is in [`model`], free of DataFusion types;
//! [`support`] converts columns to and from it.

pub mod bgnbd_expected_purchases;
pub mod bgnbd_fit;
pub mod bgnbd_p_alive;
pub mod gamma_gamma_expected_spend;
pub mod gamma_gamma_fit;
pub mod model;
pub mod predicted_clv;
pub mod rfm;
pub mod support;
