//! `[[influxdb]]`: the InfluxDB clusters Kapacitor subscribes to, queries and writes to.

use crate::GoDuration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Enterprise's subscription mode: one subscription for the whole Kapacitor cluster
/// (`cluster`), or one per member (`server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SubscriptionMode {
    #[default]
    Cluster,
    Server,
}

impl SubscriptionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionMode::Cluster => "cluster",
            SubscriptionMode::Server => "server",
        }
    }
}

impl fmt::Display for SubscriptionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SubscriptionMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SubscriptionMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Kapacitor's UnmarshalText is case-insensitive.
        match s.to_ascii_lowercase().as_str() {
            "cluster" => Ok(SubscriptionMode::Cluster),
            "server" => Ok(SubscriptionMode::Server),
            _ => Err(serde::de::Error::custom(format!(
                "subscription-mode must be \"cluster\" or \"server\", got {s:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct InfluxDbConfig {
    pub enabled: bool,
    pub name: String,
    pub default: bool,
    pub urls: Vec<String>,
    pub username: String,
    pub password: String,
    pub token: String,
    pub http_shared_secret: bool,
    pub ssl_ca: String,
    pub ssl_cert: String,
    pub ssl_key: String,
    pub insecure_skip_verify: bool,
    pub timeout: GoDuration,
    pub disable_subscriptions: bool,
    /// `http`, `https` or `udp`.
    pub subscription_protocol: String,
    pub subscription_mode: SubscriptionMode,
    pub subscription_path: String,
    pub subscriptions_sync_interval: GoDuration,
    /// Empty means the global `hostname`.
    pub kapacitor_hostname: String,
    /// 0 means the port of `[http] bind-address`.
    pub http_port: u16,
    pub udp_bind: String,
    pub udp_buffer: i64,
    pub udp_read_buffer: i64,
    pub startup_timeout: GoDuration,
    /// `gzip` or `none`.
    pub compression: String,
    /// Database to retention policies; empty means all databases.
    pub subscriptions: BTreeMap<String, Vec<String>>,
    pub excluded_subscriptions: BTreeMap<String, Vec<String>>,
}

impl Default for InfluxDbConfig {
    fn default() -> Self {
        InfluxDbConfig {
            enabled: true,
            name: "default".into(),
            default: false,
            urls: vec!["http://localhost:8086".into()],
            username: String::new(),
            password: String::new(),
            token: String::new(),
            http_shared_secret: false,
            ssl_ca: String::new(),
            ssl_cert: String::new(),
            ssl_key: String::new(),
            insecure_skip_verify: false,
            timeout: GoDuration::ZERO,
            disable_subscriptions: false,
            subscription_protocol: "http".into(),
            subscription_mode: SubscriptionMode::Cluster,
            subscription_path: String::new(),
            subscriptions_sync_interval: GoDuration::from_secs(60),
            kapacitor_hostname: String::new(),
            http_port: 0,
            udp_bind: String::new(),
            udp_buffer: 1000,
            udp_read_buffer: 0,
            startup_timeout: GoDuration::from_secs(300),
            compression: "gzip".into(),
            subscriptions: BTreeMap::new(),
            excluded_subscriptions: BTreeMap::from([(
                "_kapacitor".to_string(),
                vec!["autogen".to_string()],
            )]),
        }
    }
}
