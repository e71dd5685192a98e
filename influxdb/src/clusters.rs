//! All enabled `[[influxdb]]` clusters by name, and which one is the default (what
//! `.cluster('')` of a query or influxDBOut node means).

use crate::client::{Client, ClientConfig};
use crate::error::{Error, Result};
use kapacitor_config::InfluxDbConfig;
use std::collections::BTreeMap;

/// One [`Client`] per enabled cluster.
#[derive(Debug, Clone, Default)]
pub struct Clusters {
    clients: BTreeMap<String, Client>,
    default: Option<String>,
}

impl Clusters {
    /// Kapacitor's rules: disabled sections are skipped; a single enabled cluster is the
    /// default; with several, exactly one must say `default = true`.
    pub fn from_configs(configs: &[InfluxDbConfig]) -> Result<Clusters> {
        let mut out = Clusters::default();
        let enabled: Vec<&InfluxDbConfig> = configs.iter().filter(|c| c.enabled).collect();
        for c in &enabled {
            if out.clients.contains_key(&c.name) {
                return Err(Error::Config(format!(
                    "duplicate [[influxdb]] name {:?}",
                    c.name
                )));
            }
            out.clients
                .insert(c.name.clone(), Client::new(&ClientConfig::from_config(c)?)?);
        }
        let defaults: Vec<&str> = enabled
            .iter()
            .filter(|c| c.default)
            .map(|c| c.name.as_str())
            .collect();
        out.default = match (enabled.len(), defaults.as_slice()) {
            (0, _) => None,
            (1, _) => Some(enabled[0].name.clone()),
            (_, [one]) => Some(one.to_string()),
            (_, []) => return Err(Error::Config("no default cluster found".into())),
            (_, many) => {
                return Err(Error::Config(format!(
                    "more than one default [[influxdb]] cluster: {}",
                    many.join(", ")
                )));
            }
        };
        Ok(out)
    }

    /// The client of `name`, or of the default cluster when `name` is empty.
    pub fn get(&self, name: &str) -> Result<&Client> {
        let name = if name.is_empty() {
            self.default.as_deref().ok_or_else(|| {
                Error::Config("InfluxDB not configured, cannot query or write to InfluxDB".into())
            })?
        } else {
            name
        };
        self.clients
            .get(name)
            .ok_or_else(|| Error::Config(format!("no such InfluxDB config {name}")))
    }

    pub fn default_name(&self) -> Option<&str> {
        self.default.as_deref()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.clients.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str, enabled: bool, default: bool) -> InfluxDbConfig {
        InfluxDbConfig {
            name: name.into(),
            enabled,
            default,
            ..InfluxDbConfig::default()
        }
    }

    #[test]
    fn single_enabled_cluster_is_the_default() {
        let c = Clusters::from_configs(&[cfg("a", true, false), cfg("b", false, false)]).unwrap();
        assert_eq!(c.default_name(), Some("a"));
        assert_eq!(c.get("").unwrap().name(), "a");
        assert_eq!(
            c.get("b").unwrap_err().to_string(),
            "invalid InfluxDB configuration: no such InfluxDB config b"
        );
    }

    #[test]
    fn several_need_exactly_one_default() {
        let c = Clusters::from_configs(&[cfg("a", true, false), cfg("b", true, true)]).unwrap();
        assert_eq!(c.get("").unwrap().name(), "b");
        assert_eq!(c.get("a").unwrap().name(), "a");
        assert_eq!(c.names().collect::<Vec<_>>(), ["a", "b"]);
        let e = Clusters::from_configs(&[cfg("a", true, false), cfg("b", true, false)]);
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("no default cluster found")
        );
        let e = Clusters::from_configs(&[cfg("a", true, true), cfg("b", true, true)]);
        assert!(e.unwrap_err().to_string().contains("more than one default"));
        let e = Clusters::from_configs(&[cfg("a", true, true), cfg("a", true, false)]);
        assert!(e.unwrap_err().to_string().contains("duplicate"));
    }

    #[test]
    fn none_enabled_means_not_configured() {
        let c = Clusters::from_configs(&[cfg("a", false, true)]).unwrap();
        assert!(c.is_empty());
        assert!(
            c.get("")
                .unwrap_err()
                .to_string()
                .contains("not configured")
        );
    }
}
