//! The `saasql.*` session settings.
//!
//! They are a DataFusion [`ConfigExtension`], so `SET saasql.x = …` and
//! `SHOW saasql.x` work, and the keys carry their prefix in [`entries`] so that
//! Ballista forwards them to its scheduler and executors. Aggregates never read
//! them at execution time: [`crate::rewrite::SettingsRewrite`] turns them into
//! literal arguments while the query is planned.
//!
//! [`entries`]: ExtensionOptions::entries

use std::any::Any;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, plan_err};

use crate::functions::engagement_score::parse_weights;
use crate::functions::health_score::MissingPolicy;

/// Default engagement weights (the SPEC's example model).
pub const DEFAULT_ENGAGEMENT_WEIGHTS: &str =
    "login:1, report_created:5, teammate_invited:10, ticket_opened:-2";

/// The `saasql.*` settings of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct SaasqlConfig {
    /// Weights string used by `engagement_score(event_name)` without a weights argument.
    pub engagement_weights: String,
    /// Weight of events that the weights string does not list.
    pub engagement_default_weight: f64,
    /// How `health_score` treats NULL components.
    pub health_missing: MissingPolicy,
    /// Lowest churn percentage `ltv` divides by; 0 turns the floor off.
    pub ltv_churn_floor: f64,
}

impl Default for SaasqlConfig {
    fn default() -> Self {
        Self {
            engagement_weights: DEFAULT_ENGAGEMENT_WEIGHTS.to_string(),
            engagement_default_weight: 0.0,
            health_missing: MissingPolicy::Renormalize,
            ltv_churn_floor: 0.0,
        }
    }
}

/// One documented setting: key (without prefix), description.
pub const SETTINGS: &[(&str, &str)] = &[
    (
        "engagement_weights",
        "Weights used by engagement_score(event_name) when no weights argument is given, as 'event:weight, event:weight'.",
    ),
    (
        "engagement_default_weight",
        "Weight of events not listed in the weights string (default 0).",
    ),
    (
        "health_missing",
        "How health_score treats NULL components: renormalize (default), zero or null.",
    ),
    (
        "ltv_churn_floor",
        "Smallest churn percentage ltv divides by (e.g. 1.67); 0 (default) means no floor and churn 0 gives NULL.",
    ),
];

fn parse_finite(key: &str, value: &str) -> Result<f64> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => plan_err!("saasql.{key}: '{value}' is not a finite number"),
    }
}

impl ExtensionOptions for SaasqlConfig {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // Ballista re-applies entries with their prefix; accept both forms.
        let key = key.strip_prefix("saasql.").unwrap_or(key);
        match key {
            "engagement_weights" => {
                parse_weights("saasql.engagement_weights", value)?;
                self.engagement_weights = value.to_string();
            }
            "engagement_default_weight" => {
                self.engagement_default_weight = parse_finite(key, value)?;
            }
            "health_missing" => {
                self.health_missing = MissingPolicy::parse("saasql.health_missing", value)?;
            }
            "ltv_churn_floor" => {
                let v = parse_finite(key, value)?;
                if !(0.0..=100.0).contains(&v) {
                    return plan_err!("saasql.ltv_churn_floor: {v} is outside 0..100");
                }
                self.ltv_churn_floor = v;
            }
            other => {
                let known: Vec<&str> = SETTINGS.iter().map(|(k, _)| *k).collect();
                return plan_err!(
                    "unknown setting saasql.{other}; known settings: saasql.{}",
                    known.join(", saasql.")
                );
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let value = |k: &str| match k {
            "engagement_weights" => self.engagement_weights.clone(),
            "engagement_default_weight" => self.engagement_default_weight.to_string(),
            "health_missing" => self.health_missing.as_str().to_string(),
            _ => self.ltv_churn_floor.to_string(),
        };
        SETTINGS
            .iter()
            .map(|(k, description)| ConfigEntry {
                key: format!("{}.{k}", Self::PREFIX),
                value: Some(value(k)),
                description,
            })
            .collect()
    }
}

impl ConfigExtension for SaasqlConfig {
    const PREFIX: &'static str = "saasql";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_validates_and_entries_carry_the_prefix() {
        let mut c = SaasqlConfig::default();
        c.set("ltv_churn_floor", "1.67").unwrap();
        c.set("saasql.health_missing", "ZERO").unwrap();
        assert_eq!(c.ltv_churn_floor, 1.67);
        assert_eq!(c.health_missing, MissingPolicy::Zero);
        let e = c.set("ltv_churn_floor", "150").unwrap_err().to_string();
        assert!(
            e.contains("saasql.ltv_churn_floor: 150 is outside 0..100"),
            "{e}"
        );
        let e = c
            .set("engagement_weights", "login=1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("login=1"), "{e}");
        let e = c.set("nope", "1").unwrap_err().to_string();
        assert!(e.contains("unknown setting saasql.nope"), "{e}");
        let keys: Vec<String> = c.entries().into_iter().map(|e| e.key).collect();
        assert!(keys.contains(&"saasql.ltv_churn_floor".to_string()));
        assert_eq!(keys.len(), SETTINGS.len());
    }
}
