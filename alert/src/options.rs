//! Handler options per kind, decoded strictly (unknown keys are errors, as Kapacitor's
//! `mapstructure` decoding with `ErrorUnused`). Keys are Kapacitor's kebab-case names.

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde_json::{Map, Value as J};
use std::collections::BTreeMap;

/// Decodes `options` into `T`; the error names the Go type as Kapacitor does.
pub(crate) fn decode<T: DeserializeOwned>(
    go_type: &str,
    options: &Map<String, J>,
) -> Result<T, String> {
    T::deserialize(J::Object(options.clone()))
        .map_err(|e| format!("failed to decode options into {go_type}: {e}"))
}

/// A duration given as integer nanoseconds (what JSON and TICKscript carry) or as a Go
/// duration string (`"10s"`).
pub(crate) fn duration_ns<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match J::deserialize(d)? {
        J::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| de::Error::custom("invalid duration")),
        J::String(s) => kapacitor_config::parse_go_duration(&s).map_err(de::Error::custom),
        other => Err(de::Error::custom(format!(
            "expected a duration, got {other}"
        ))),
    }
}

/// A file mode as a number (`420`) or an octal string (`"0644"`).
fn file_mode<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match J::deserialize(d)? {
        J::Number(n) => n
            .as_u64()
            .and_then(|m| u32::try_from(m).ok())
            .ok_or_else(|| de::Error::custom("invalid file mode")),
        J::String(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
            .map_err(|_| de::Error::custom(format!("invalid file mode {s:?}"))),
        other => Err(de::Error::custom(format!(
            "expected a file mode, got {other}"
        ))),
    }
}

/// MQTT QoS as 0/1/2 or Kapacitor's names.
fn qos<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    match J::deserialize(d)? {
        J::Number(n) => match n.as_u64() {
            Some(q @ 0..=2) => Ok(q as u8),
            _ => Err(de::Error::custom(format!("invalid QoS level {n}"))),
        },
        J::String(s) => match s.as_str() {
            "0" | "AtMostOnce" => Ok(0),
            "1" | "AtLeastOnce" => Ok(1),
            "2" | "ExactlyOnce" => Ok(2),
            _ => Err(de::Error::custom(format!("invalid QoS level {s:?}"))),
        },
        other => Err(de::Error::custom(format!(
            "expected a QoS level, got {other}"
        ))),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct LogOptions {
    #[serde(default)]
    pub path: String,
    #[serde(default = "default_mode", deserialize_with = "file_mode")]
    pub mode: u32,
}

fn default_mode() -> u32 {
    0o600
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct TcpOptions {
    #[serde(default)]
    pub address: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ExecOptions {
    #[serde(default)]
    pub prog: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Not in Kapacitor (which waits forever): the process group is killed after this.
    #[serde(default, deserialize_with = "duration_ns")]
    pub timeout: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PostOptions {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub capture_response: bool,
    #[serde(default, deserialize_with = "duration_ns")]
    pub timeout: i64,
    #[serde(default)]
    pub skip_ssl_verification: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SlackOptions {
    #[serde(default)]
    pub workspace: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub icon_emoji: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PagerDutyOptions {
    #[serde(default)]
    pub service_key: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct LinkOption {
    pub href: String,
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PagerDuty2Options {
    #[serde(default)]
    pub routing_key: String,
    #[serde(default)]
    pub links: Vec<LinkOption>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct VictorOpsOptions {
    #[serde(default)]
    pub routing_key: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct OpsGenieOptions {
    #[serde(default)]
    pub teams_list: Vec<String>,
    #[serde(default)]
    pub recipients_list: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct TelegramOptions {
    #[serde(default)]
    pub chat_id: String,
    #[serde(default)]
    pub parse_mode: String,
    #[serde(default)]
    pub disable_web_page_preview: bool,
    #[serde(default)]
    pub disable_notification: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct TeamsOptions {
    #[serde(default)]
    pub channel_url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct DiscordOptions {
    #[serde(default)]
    pub workspace: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub avatar_url: String,
    #[serde(default)]
    pub embed_title: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct AlertaOptions {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub token_prefix: String,
    #[serde(default = "default_resource")]
    pub resource: String,
    #[serde(default = "default_event")]
    pub event: String,
    #[serde(default)]
    pub environment: String,
    #[serde(default = "default_group")]
    pub group: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub origin: String,
    #[serde(default)]
    pub service: Vec<String>,
    #[serde(default)]
    pub correlate: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, J>,
    #[serde(default = "default_alerta_timeout", deserialize_with = "duration_ns")]
    pub timeout: i64,
}

fn default_resource() -> String {
    "{{ .Name }}".into()
}
fn default_event() -> String {
    "{{ .ID }}".into()
}
fn default_group() -> String {
    "{{ .Group }}".into()
}
fn default_alerta_timeout() -> i64 {
    24 * 3600 * 1_000_000_000
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PushoverOptions {
    #[serde(default)]
    pub user_key: String,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub url_title: String,
    #[serde(default)]
    pub sound: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SensuOptions {
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub handlers: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, J>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SmtpOptions {
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub to_templates: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct MqttOptions {
    #[serde(default)]
    pub broker_name: String,
    #[serde(default)]
    pub topic: String,
    #[serde(default, deserialize_with = "qos")]
    pub qos: u8,
    #[serde(default)]
    pub retained: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PublishOptions {
    #[serde(default)]
    pub topics: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct AggregateOptions {
    #[serde(default)]
    pub id: String,
    #[serde(default, deserialize_with = "duration_ns")]
    pub interval: i64,
    #[serde(default)]
    pub topic: String,
    #[serde(default = "default_aggregate_message")]
    pub message: String,
}

fn default_aggregate_message() -> String {
    "Received {{ .Count }} events in the last {{.Interval}}.".into()
}
