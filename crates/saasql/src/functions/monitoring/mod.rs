//! Watching metrics: anomaly detection over a metric's own history.

pub mod metric_anomaly;
