//! Alert-handler sections (`[smtp]`, `[[slack]]`, `[pagerduty]`, ...), with Kapacitor's key names
//! and defaults. Handlers are configured here and used by apid; nothing here talks to a network.

use crate::GoDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct SmtpConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub no_verify: bool,
    pub global: bool,
    pub state_changes_only: bool,
    pub from: String,
    pub to: Vec<String>,
    #[serde(rename = "toTemplates")]
    pub to_templates: Vec<String>,
    pub idle_timeout: GoDuration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            enabled: false,
            host: "localhost".into(),
            port: 25,
            username: String::new(),
            password: String::new(),
            no_verify: false,
            global: false,
            state_changes_only: false,
            from: String::new(),
            to: Vec::new(),
            to_templates: Vec::new(),
            idle_timeout: GoDuration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct SnmpTrapConfig {
    pub enabled: bool,
    pub addr: String,
    pub community: String,
    pub retries: i64,
}

impl Default for SnmpTrapConfig {
    fn default() -> Self {
        SnmpTrapConfig {
            enabled: false,
            addr: "localhost:162".into(),
            community: "kapacitor".into(),
            retries: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct OpsGenieConfig {
    pub enabled: bool,
    pub api_key: String,
    pub teams: Vec<String>,
    pub recipients: Vec<String>,
    pub url: String,
    #[serde(rename = "recovery_url")]
    pub recovery_url: String,
    pub global: bool,
}

impl Default for OpsGenieConfig {
    fn default() -> Self {
        OpsGenieConfig {
            enabled: false,
            api_key: String::new(),
            teams: Vec::new(),
            recipients: Vec::new(),
            url: "https://api.opsgenie.com/v1/json/alert".into(),
            recovery_url: "https://api.opsgenie.com/v1/json/alert/note".into(),
            global: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct OpsGenie2Config {
    pub enabled: bool,
    pub api_key: String,
    pub teams: Vec<String>,
    pub recipients: Vec<String>,
    pub url: String,
    /// `notes` or `close`.
    #[serde(rename = "recovery_action")]
    pub recovery_action: String,
    pub global: bool,
    pub details: bool,
}

impl Default for OpsGenie2Config {
    fn default() -> Self {
        OpsGenie2Config {
            enabled: false,
            api_key: String::new(),
            teams: Vec::new(),
            recipients: Vec::new(),
            url: "https://api.opsgenie.com/v2/alerts".into(),
            recovery_action: "notes".into(),
            global: false,
            details: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct VictorOpsConfig {
    pub enabled: bool,
    pub api_key: String,
    pub routing_key: String,
    pub url: String,
    pub global: bool,
    pub json_data: bool,
}

impl Default for VictorOpsConfig {
    fn default() -> Self {
        VictorOpsConfig {
            enabled: false,
            api_key: String::new(),
            routing_key: String::new(),
            url: "https://alert.victorops.com/integrations/generic/20131114/alert".into(),
            global: false,
            json_data: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct PagerDutyConfig {
    pub enabled: bool,
    pub service_key: String,
    pub url: String,
    pub global: bool,
}

impl Default for PagerDutyConfig {
    fn default() -> Self {
        PagerDutyConfig {
            enabled: false,
            service_key: String::new(),
            url: "https://events.pagerduty.com/generic/2010-04-15/create_event.json".into(),
            global: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct PagerDuty2Config {
    pub enabled: bool,
    pub routing_key: String,
    pub url: String,
    pub global: bool,
}

impl Default for PagerDuty2Config {
    fn default() -> Self {
        PagerDuty2Config {
            enabled: false,
            routing_key: String::new(),
            url: "https://events.pagerduty.com/v2/enqueue".into(),
            global: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct PushoverConfig {
    pub enabled: bool,
    pub token: String,
    pub user_key: String,
    pub url: String,
}

impl Default for PushoverConfig {
    fn default() -> Self {
        PushoverConfig {
            enabled: false,
            token: String::new(),
            user_key: String::new(),
            url: "https://api.pushover.net/1/messages.json".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// One `[[httppost]]` endpoint; `url` may be a Go template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct HttpPostConfig {
    pub endpoint: String,
    pub url: String,
    pub alert_template: String,
    pub alert_template_file: String,
    pub row_template: String,
    pub row_template_file: String,
    pub headers: BTreeMap<String, String>,
    pub basic_auth: BasicAuth,
}

impl Default for HttpPostConfig {
    fn default() -> Self {
        HttpPostConfig {
            endpoint: "example".into(),
            url: "http://example.com".into(),
            alert_template: String::new(),
            alert_template_file: String::new(),
            row_template: String::new(),
            row_template_file: String::new(),
            headers: BTreeMap::new(),
            basic_auth: BasicAuth::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct SlackConfig {
    pub enabled: bool,
    pub default: bool,
    pub workspace: String,
    pub url: String,
    pub token: String,
    pub channel: String,
    pub username: String,
    pub icon_emoji: String,
    pub global: bool,
    pub state_changes_only: bool,
    pub ssl_ca: String,
    pub ssl_cert: String,
    pub ssl_key: String,
    pub insecure_skip_verify: bool,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            enabled: false,
            default: true,
            workspace: String::new(),
            url: String::new(),
            token: String::new(),
            channel: String::new(),
            username: "kapacitor".into(),
            icon_emoji: String::new(),
            global: false,
            state_changes_only: false,
            ssl_ca: String::new(),
            ssl_cert: String::new(),
            ssl_key: String::new(),
            insecure_skip_verify: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct TelegramConfig {
    pub enabled: bool,
    pub url: String,
    pub token: String,
    pub chat_id: String,
    pub parse_mode: String,
    pub disable_web_page_preview: bool,
    pub disable_notification: bool,
    pub global: bool,
    pub state_changes_only: bool,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            enabled: false,
            url: "https://api.telegram.org/bot".into(),
            token: String::new(),
            chat_id: String::new(),
            parse_mode: String::new(),
            disable_web_page_preview: false,
            disable_notification: false,
            global: false,
            state_changes_only: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct HipChatConfig {
    pub enabled: bool,
    pub url: String,
    pub room: String,
    pub token: String,
    pub global: bool,
    pub state_changes_only: bool,
}

/// One `[[kafka]]` cluster. `timeout`, `batch-size` and `batch-timeout` of 0 mean Kafka's
/// defaults (10s, 100, 1s), as in Kapacitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct KafkaConfig {
    pub enabled: bool,
    pub id: String,
    pub brokers: Vec<String>,
    pub timeout: GoDuration,
    pub batch_size: i64,
    pub batch_timeout: GoDuration,
    pub use_ssl: bool,
    pub ssl_ca: String,
    pub ssl_cert: String,
    pub ssl_key: String,
    pub insecure_skip_verify: bool,
    pub sasl_username: String,
    pub sasl_password: String,
    #[serde(rename = "sasl_extensions")]
    pub sasl_extensions: BTreeMap<String, String>,
    pub sasl_mechanism: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sasl_version: Option<i64>,
    pub sasl_gssapi_service_name: String,
    pub sasl_gssapi_auth_type: String,
    pub sasl_gssapi_disable_pafxfast: bool,
    pub sasl_gssapi_kerberos_config_path: String,
    pub sasl_gssapi_key_tab_path: String,
    pub sasl_gssapi_realm: String,
    pub sasl_oauth_service: String,
    pub sasl_oauth_client_id: String,
    pub sasl_oauth_client_secret: String,
    pub sasl_oauth_token_url: String,
    pub sasl_oauth_scopes: Vec<String>,
    pub sasl_oauth_tenant_id: String,
    pub sasl_oauth_params: BTreeMap<String, String>,
    pub sasl_oauth_expiry_margin: GoDuration,
    pub sasl_oauth_token: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            enabled: false,
            id: "localhost".into(),
            brokers: Vec::new(),
            timeout: GoDuration::from_secs(10),
            batch_size: 100,
            batch_timeout: GoDuration::from_secs(1),
            use_ssl: false,
            ssl_ca: String::new(),
            ssl_cert: String::new(),
            ssl_key: String::new(),
            insecure_skip_verify: false,
            sasl_username: String::new(),
            sasl_password: String::new(),
            sasl_extensions: BTreeMap::new(),
            sasl_mechanism: String::new(),
            sasl_version: None,
            sasl_gssapi_service_name: String::new(),
            sasl_gssapi_auth_type: String::new(),
            sasl_gssapi_disable_pafxfast: false,
            sasl_gssapi_kerberos_config_path: String::new(),
            sasl_gssapi_key_tab_path: String::new(),
            sasl_gssapi_realm: String::new(),
            sasl_oauth_service: String::new(),
            sasl_oauth_client_id: String::new(),
            sasl_oauth_client_secret: String::new(),
            sasl_oauth_token_url: String::new(),
            sasl_oauth_scopes: Vec::new(),
            sasl_oauth_tenant_id: String::new(),
            sasl_oauth_params: BTreeMap::new(),
            sasl_oauth_expiry_margin: GoDuration::from_secs(1),
            sasl_oauth_token: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct AlertaConfig {
    pub enabled: bool,
    pub url: String,
    pub insecure_skip_verify: bool,
    pub token: String,
    pub token_prefix: String,
    pub environment: String,
    pub origin: String,
}

impl Default for AlertaConfig {
    fn default() -> Self {
        AlertaConfig {
            enabled: false,
            url: String::new(),
            insecure_skip_verify: false,
            token: String::new(),
            token_prefix: "Bearer".into(),
            environment: String::new(),
            origin: "kapacitor".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct SensuConfig {
    pub enabled: bool,
    pub addr: String,
    pub source: String,
    pub handlers: Vec<String>,
}

impl Default for SensuConfig {
    fn default() -> Self {
        SensuConfig {
            enabled: false,
            addr: "sensu-client:3030".into(),
            source: "Kapacitor".into(),
            handlers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct TalkConfig {
    pub enabled: bool,
    pub url: String,
    #[serde(rename = "author_name")]
    pub author_name: String,
}

impl Default for TalkConfig {
    fn default() -> Self {
        TalkConfig {
            enabled: false,
            url: String::new(),
            author_name: "Kapacitor".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct MqttConfig {
    pub enabled: bool,
    pub name: String,
    pub default: bool,
    pub url: String,
    pub ssl_ca: String,
    pub ssl_cert: String,
    pub ssl_key: String,
    pub insecure_skip_verify: bool,
    pub client_id: String,
    pub username: String,
    pub password: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            enabled: false,
            name: "localhost".into(),
            default: true,
            url: "tcp://localhost:1883".into(),
            ssl_ca: String::new(),
            ssl_cert: String::new(),
            ssl_key: String::new(),
            insecure_skip_verify: false,
            client_id: String::new(),
            username: String::new(),
            password: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct TeamsConfig {
    pub enabled: bool,
    pub channel_url: String,
    pub global: bool,
    pub state_changes_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServiceNowConfig {
    pub enabled: bool,
    pub url: String,
    pub source: String,
    pub username: String,
    pub password: String,
    pub global: bool,
    pub state_changes_only: bool,
}

impl Default for ServiceNowConfig {
    /// Kapacitor's placeholder URL and the `source` of its sample configuration.
    fn default() -> Self {
        ServiceNowConfig {
            enabled: false,
            url: "https://instance.service-now.com/api/global/em/jsonv2".into(),
            source: "Kapacitor".into(),
            username: String::new(),
            password: String::new(),
            global: false,
            state_changes_only: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct BigPandaConfig {
    pub enabled: bool,
    pub global: bool,
    pub app_key: String,
    pub token: String,
    pub state_changes_only: bool,
    pub insecure_skip_verify: bool,
    pub url: String,
}

impl Default for BigPandaConfig {
    fn default() -> Self {
        BigPandaConfig {
            enabled: false,
            global: false,
            app_key: String::new(),
            token: String::new(),
            state_changes_only: false,
            insecure_skip_verify: false,
            url: "https://api.bigpanda.io/data/v2/alerts".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct DiscordConfig {
    pub enabled: bool,
    pub default: bool,
    pub workspace: String,
    pub url: String,
    pub timestamp: bool,
    pub username: String,
    pub avatar_url: String,
    pub embed_title: String,
    pub global: bool,
    pub state_changes_only: bool,
    pub ssl_ca: String,
    pub ssl_cert: String,
    pub ssl_key: String,
    pub insecure_skip_verify: bool,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            enabled: false,
            default: true,
            workspace: String::new(),
            url: String::new(),
            timestamp: false,
            username: String::new(),
            avatar_url: String::new(),
            embed_title: String::new(),
            global: false,
            state_changes_only: false,
            ssl_ca: String::new(),
            ssl_cert: String::new(),
            ssl_key: String::new(),
            insecure_skip_verify: false,
        }
    }
}

/// A Zenoss severity: Kapacitor accepts a name or a number for each level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Severity {
    Number(i64),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeverityMap {
    #[serde(rename = "OK")]
    pub ok: Severity,
    #[serde(rename = "Info")]
    pub info: Severity,
    #[serde(rename = "Warning")]
    pub warning: Severity,
    #[serde(rename = "Critical")]
    pub critical: Severity,
}

impl Default for SeverityMap {
    fn default() -> Self {
        SeverityMap {
            ok: Severity::Name("Clear".into()),
            info: Severity::Name("Info".into()),
            warning: Severity::Name("Warning".into()),
            critical: Severity::Name("Critical".into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ZenossConfig {
    pub enabled: bool,
    pub url: String,
    pub username: String,
    pub password: String,
    pub action: String,
    pub method: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub tid: i64,
    pub collector: String,
    pub global: bool,
    pub state_changes_only: bool,
    pub severity_map: SeverityMap,
}

impl Default for ZenossConfig {
    fn default() -> Self {
        ZenossConfig {
            enabled: false,
            url: "https://tenant.zenoss.io:8080/zport/dmd/evconsole_router".into(),
            username: String::new(),
            password: String::new(),
            action: "EventsRouter".into(),
            method: "add_event".into(),
            event_type: "rpc".into(),
            tid: 1,
            collector: "Kapacitor".into(),
            global: false,
            state_changes_only: false,
            severity_map: SeverityMap::default(),
        }
    }
}
