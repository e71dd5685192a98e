//! The handler kinds: building one from a spec (strict options, checked templates) and
//! delivering one event with it. Delivery runs on the handler's own task (see `delivery`).

mod chat;
mod exec;
mod http;
mod incident;
mod internal;
mod itsm;
mod log;
mod mqtt;
mod post;
mod smtp;
mod snmp;
mod tcp;

pub(crate) use internal::AggregateAction;
pub(crate) use mqtt::MqttClients;

use crate::event::Event;
use crate::options::decode;
use crate::spec::HandlerSpec;
use kapacitor_config::Config;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Every kind this crate can deliver, as spelled in a handler spec.
pub const KINDS: &[&str] = &[
    "aggregate",
    "alerta",
    "bigpanda",
    "discord",
    "exec",
    "hipchat",
    "log",
    "mqtt",
    "opsgenie",
    "opsgenie2",
    "pagerduty",
    "pagerduty2",
    "post",
    "publish",
    "pushover",
    "sensu",
    "servicenow",
    "slack",
    "smtp",
    "snmptrap",
    "talk",
    "tcp",
    "teams",
    "telegram",
    "victorops",
    "zenoss",
];

/// Kinds Kapacitor has that this implementation does not deliver yet.
/// Kafka needs a client and a broker to test against; neither is here yet.
const NOT_IMPLEMENTED: &[&str] = &["kafka"];

/// A failed delivery. `retryable` failures (connection errors, timeouts, 5xx, 429) are tried
/// again with backoff; the others are counted as failed at once.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryError {
    pub retryable: bool,
    pub message: String,
}

impl DeliveryError {
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            retryable: false,
            message: message.into(),
        }
    }
    pub fn retryable(message: impl Into<String>) -> Self {
        DeliveryError {
            retryable: true,
            message: message.into(),
        }
    }
}

/// What delivery needs besides the event: shared clients, configuration and a way back into
/// the service (for `publish` and `aggregate`).
pub(crate) struct Shared {
    /// Swapped by [`crate::AlertService::update_config`] (config API overrides): deliveries
    /// read it per event, so a changed `[slack] url` applies to the next event.
    pub cfg: std::sync::RwLock<Arc<Config>>,
    pub http: reqwest::Client,
    pub insecure_http: reqwest::Client,
    pub http_timeout: Duration,
    pub exec_timeout: Duration,
    /// Kapacitor's own URL, sent as `client_url` to PagerDuty.
    pub client_url: String,
    pub mqtt: MqttClients,
    pub service: Weak<crate::service::Inner>,
}

impl Shared {
    pub fn cfg(&self) -> Arc<Config> {
        self.cfg.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_cfg(&self, cfg: Arc<Config>) {
        *self.cfg.write().unwrap_or_else(|p| p.into_inner()) = cfg;
    }
}

pub(crate) enum Action {
    /// A kind listed in `-disable-handlers`: accepted, does nothing.
    Inert,
    Http(Box<http::HttpAction>),
    Log(log::LogAction),
    Tcp(tcp::TcpAction),
    Sensu(tcp::SensuAction),
    Exec(exec::ExecAction),
    Smtp(smtp::SmtpAction),
    Mqtt(mqtt::MqttAction),
    SnmpTrap(snmp::SnmpTrapAction),
    Publish(internal::PublishAction),
    Aggregate(AggregateAction),
}

impl Action {
    fn http(a: http::HttpAction) -> Action {
        Action::Http(Box::new(a))
    }

    /// Builds the action for `spec`. Options are decoded strictly and templates parsed here, so
    /// that a bad spec is refused at registration and never fails per event.
    pub fn build(spec: &HandlerSpec, cfg: &Config, disabled: bool) -> Result<Action, String> {
        let o = &spec.options;
        let action = match spec.kind.as_str() {
            "log" => Action::Log(log::LogAction::new(decode("alert.LogHandlerConfig", o)?)?),
            "tcp" => Action::Tcp(tcp::TcpAction::new(decode("alert.TCPHandlerConfig", o)?)),
            "sensu" => Action::Sensu(tcp::SensuAction::new(decode("sensu.HandlerConfig", o)?)?),
            "exec" => Action::Exec(exec::ExecAction::new(decode(
                "alert.ExecHandlerConfig",
                o,
            )?)?),
            "smtp" => Action::Smtp(smtp::SmtpAction::new(decode("smtp.HandlerConfig", o)?)?),
            "mqtt" => Action::Mqtt(mqtt::MqttAction::new(decode("mqtt.HandlerConfig", o)?)),
            "snmptrap" => Action::SnmpTrap(snmp::SnmpTrapAction::new(decode(
                "snmptrap.HandlerConfig",
                o,
            )?)?),
            "publish" => Action::Publish(internal::PublishAction::new(decode(
                "alert.PublishHandlerConfig",
                o,
            )?)?),
            "aggregate" => Action::Aggregate(AggregateAction::new(decode(
                "alert.AggregateHandlerConfig",
                o,
            )?)?),
            "post" => Action::http(http::HttpAction::Post(Box::new(post::PostAction::new(
                decode("httppost.HandlerConfig", o)?,
                cfg,
            )?))),
            "slack" => Action::http(http::HttpAction::Slack(decode("slack.HandlerConfig", o)?)),
            "teams" => Action::http(http::HttpAction::Teams(decode("teams.HandlerConfig", o)?)),
            "telegram" => Action::http(http::HttpAction::Telegram(decode(
                "telegram.HandlerConfig",
                o,
            )?)),
            "discord" => Action::http(http::HttpAction::Discord(chat::DiscordAction::new(
                decode("discord.HandlerConfig", o)?,
            )?)),
            "pushover" => Action::http(http::HttpAction::Pushover(decode(
                "pushover.HandlerConfig",
                o,
            )?)),
            "pagerduty" => Action::http(http::HttpAction::PagerDuty(decode(
                "pagerduty.HandlerConfig",
                o,
            )?)),
            "pagerduty2" => Action::http(http::HttpAction::PagerDuty2(
                incident::PagerDuty2Action::new(decode("pagerduty2.HandlerConfig", o)?)?,
            )),
            "victorops" => Action::http(http::HttpAction::VictorOps(decode(
                "victorops.HandlerConfig",
                o,
            )?)),
            "opsgenie" => Action::http(http::HttpAction::OpsGenie(decode(
                "opsgenie.HandlerConfig",
                o,
            )?)),
            "opsgenie2" => Action::http(http::HttpAction::OpsGenie2(decode(
                "opsgenie2.HandlerConfig",
                o,
            )?)),
            "alerta" => Action::http(http::HttpAction::Alerta(Box::new(
                incident::AlertaAction::new(decode("alerta.HandlerConfig", o)?)?,
            ))),
            "talk" => {
                decode::<chat::TalkOptions>("talk.HandlerConfig", o)?;
                Action::http(http::HttpAction::Talk)
            }
            "hipchat" => Action::http(http::HttpAction::HipChat(decode(
                "hipchat.HandlerConfig",
                o,
            )?)),
            "bigpanda" => Action::http(http::HttpAction::BigPanda(Box::new(
                itsm::BigPandaAction::new(decode("bigpanda.HandlerConfig", o)?)?,
            ))),
            "servicenow" => Action::http(http::HttpAction::ServiceNow(Box::new(
                itsm::ServiceNowAction::new(decode("servicenow.HandlerConfig", o)?)?,
            ))),
            "zenoss" => Action::http(http::HttpAction::Zenoss(Box::new(itsm::ZenossAction::new(
                decode("zenoss.HandlerConfig", o)?,
            )?))),
            k if NOT_IMPLEMENTED.contains(&k) => {
                return Err(format!("handler kind {k:?} is not implemented"));
            }
            k => return Err(format!("unsupported action kind {k:?}")),
        };
        Ok(if disabled { Action::Inert } else { action })
    }

    /// Internal kinds (`publish`, `aggregate`) also see events flagged `no_external`.
    pub fn is_external(&self) -> bool {
        !matches!(
            self,
            Action::Publish(_) | Action::Aggregate(_) | Action::Inert
        )
    }

    /// Delivers one event (one attempt).
    pub async fn deliver(&self, ev: &Event, sh: &Shared) -> Result<(), DeliveryError> {
        match self {
            Action::Inert => Ok(()),
            Action::Http(a) => a.deliver(ev, sh).await,
            Action::Log(a) => a.deliver(ev).await,
            Action::Tcp(a) => a.deliver(ev).await,
            Action::Sensu(a) => a.deliver(ev, sh).await,
            Action::Exec(a) => a.deliver(ev, sh).await,
            Action::Smtp(a) => a.deliver(ev, sh).await,
            Action::Mqtt(a) => a.deliver(ev, sh).await,
            Action::SnmpTrap(a) => a.deliver(ev, sh).await,
            Action::Publish(a) => a.deliver(ev, sh),
            // Aggregation is driven by its own loop in `delivery`.
            Action::Aggregate(_) => Ok(()),
        }
    }
}

/// Parses a handler template (Go text/template).
pub(crate) fn template(name: &str, src: &str) -> Result<gotmpl::Template, String> {
    gotmpl::Template::parse(name, src).map_err(|e| e.to_string())
}

/// Executes a template against the event's `alert.TemplateData`.
pub(crate) fn render(t: &gotmpl::Template, ev: &Event) -> Result<String, DeliveryError> {
    t.execute(&ev.template_data()).map_err(|e| {
        DeliveryError::permanent(format!("failed to execute template {:?}: {e}", t.name()))
    })
}

/// A JSON object as Go marshals a `map[string]interface{}`: keys sorted.
pub(crate) fn go_map<K: Into<String>>(
    entries: impl IntoIterator<Item = (K, serde_json::Value)>,
) -> serde_json::Value {
    let mut v: Vec<(String, serde_json::Value)> =
        entries.into_iter().map(|(k, v)| (k.into(), v)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    serde_json::Value::Object(v.into_iter().collect())
}

/// `json.NewEncoder(w).Encode(v)`: Go's JSON text plus a newline.
pub(crate) fn go_encode(v: &serde_json::Value) -> String {
    let mut s = kapacitor_models::go_json::to_string(v);
    s.push('\n');
    s
}
