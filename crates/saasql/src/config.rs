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

use crate::functions;
use crate::settings::SettingValues;

/// The `saasql.*` settings of one session: every setting the functions
/// declare ([`functions::settings`]), at its default until `SET`.
#[derive(Debug, Clone, PartialEq)]
pub struct SaasqlConfig {
    values: SettingValues,
}

impl Default for SaasqlConfig {
    fn default() -> Self {
        let mut values = SettingValues::default();
        for s in functions::settings() {
            values
                .set(s, s.default)
                .unwrap_or_else(|e| panic!("saasql.{}: bad default: {e}", s.key));
        }
        Self { values }
    }
}

impl SaasqlConfig {
    /// The values, as the functions' hooks read them.
    pub fn values(&self) -> &SettingValues {
        &self.values
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
        let settings = functions::settings();
        match settings.iter().find(|s| s.key == key) {
            Some(s) => self.values.set(s, value),
            None => {
                let known: Vec<&str> = settings.iter().map(|s| s.key).collect();
                plan_err!(
                    "unknown setting saasql.{key}; known settings: saasql.{}",
                    known.join(", saasql.")
                )
            }
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        functions::settings()
            .into_iter()
            .map(|s| ConfigEntry {
                key: format!("{}.{}", Self::PREFIX, s.key),
                value: Some(self.values.show(s)),
                description: s.description,
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
        let value = |k: &str| {
            c.entries()
                .into_iter()
                .find(|e| e.key == format!("saasql.{k}"))
                .and_then(|e| e.value)
        };
        assert_eq!(value("ltv_churn_floor").as_deref(), Some("1.67"));
        assert_eq!(value("health_missing").as_deref(), Some("zero"));
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
        assert_eq!(keys.len(), functions::settings().len());
    }
}
