//! TICKscript handler properties of `|alert()` (`.post(url).header('k','v')`,
//! `.slack().channel('#a')`, ...) as the same handler kinds and options a topic handler spec
//! uses, so that both paths share one implementation.

use crate::spec::HandlerSpec;
use kapacitor_config::Config;
use serde_json::{Map, Value as J};
use tickscript::pipeline::{Arg, Property};

/// A handler written in a script: its kind and options (the `options` of a handler spec).
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyHandler {
    pub kind: String,
    pub options: Map<String, J>,
}

impl PropertyHandler {
    /// The spec to register on the alert node's anonymous topic (`main:<task>:<node>`).
    pub fn into_spec(self, topic: &str, id: &str) -> HandlerSpec {
        HandlerSpec::new(topic, id, &self.kind, self.options)
    }
}

/// Why a property is not a usable handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PropertyError(pub String);

fn arg_json(a: &Arg) -> Result<J, PropertyError> {
    Ok(match a {
        Arg::Int(i) => J::from(*i),
        Arg::Float(f) => kapacitor_models::go_json::float_value(*f),
        Arg::Str(s) => J::from(s.as_str()),
        Arg::Bool(b) => J::Bool(*b),
        Arg::Duration(d) => J::from(*d),
        Arg::List(items) => J::Array(items.iter().map(arg_json).collect::<Result<_, _>>()?),
        other => {
            return Err(PropertyError(format!(
                "unsupported handler argument {other:?}"
            )));
        }
    })
}

fn str_arg(p: &Property, i: usize) -> Result<String, PropertyError> {
    match p.args.get(i) {
        Some(Arg::Str(s)) => Ok(s.clone()),
        _ => Err(PropertyError(format!(
            ".{}() expects a string argument {}",
            p.name,
            i + 1
        ))),
    }
}

fn str_args(p: &Property, from: usize) -> Result<Vec<J>, PropertyError> {
    (from..p.args.len())
        .map(|i| str_arg(p, i).map(J::from))
        .collect()
}

fn first(p: &Property) -> Result<J, PropertyError> {
    p.args
        .first()
        .map(arg_json)
        .transpose()?
        .ok_or_else(|| PropertyError(format!(".{}() expects an argument", p.name)))
}

fn push(opts: &mut Map<String, J>, key: &str, v: J) {
    match opts.get_mut(key) {
        Some(J::Array(items)) => match v {
            J::Array(more) => items.extend(more),
            v => items.push(v),
        },
        _ => {
            opts.insert(key.to_string(), v);
        }
    }
}

/// Maps one handler property of an alert node to a handler kind and options. Properties
/// that are not handlers (`.id()`, `.topic()`, ...) are an error.
pub fn handler_from_alert_property(p: &Property) -> Result<PropertyHandler, PropertyError> {
    let mut o = Map::new();
    // (sub-property name in the script, option key, how its arguments map)
    enum How {
        One,
        List,
        Flag,
        KeyValue,
    }
    let (kind, subs): (&str, &[(&str, &str, How)]) = match p.name.as_str() {
        "post" => {
            if p.args.len() > 1 {
                return Err(PropertyError(".post() takes at most one URL".into()));
            }
            if !p.args.is_empty() {
                o.insert("url".into(), J::from(str_arg(p, 0)?));
            }
            (
                "post",
                &[
                    ("endpoint", "endpoint", How::One),
                    ("header", "headers", How::KeyValue),
                    ("captureResponse", "capture-response", How::Flag),
                    ("timeout", "timeout", How::One),
                    ("skipSSLVerification", "skip-ssl-verification", How::Flag),
                ],
            )
        }
        "tcp" => {
            o.insert("address".into(), J::from(str_arg(p, 0)?));
            ("tcp", &[])
        }
        "email" => {
            let to = str_args(p, 0)?;
            if !to.is_empty() {
                o.insert("to".into(), J::Array(to));
            }
            (
                "smtp",
                &[
                    ("to", "to", How::List),
                    ("toTemplates", "to-templates", How::List),
                ],
            )
        }
        "exec" => {
            o.insert("prog".into(), J::from(str_arg(p, 0)?));
            o.insert("args".into(), J::Array(str_args(p, 1)?));
            ("exec", &[])
        }
        "log" => {
            o.insert("path".into(), J::from(str_arg(p, 0)?));
            ("log", &[("mode", "mode", How::One)])
        }
        "victorOps" => ("victorops", &[("routingKey", "routing-key", How::One)]),
        "pagerDuty" => ("pagerduty", &[("serviceKey", "service-key", How::One)]),
        "pagerDuty2" => ("pagerduty2", &[("routingKey", "routing-key", How::One)]),
        "pushover" => (
            "pushover",
            &[
                ("userKey", "user-key", How::One),
                ("device", "device", How::One),
                ("title", "title", How::One),
                ("URL", "url", How::One),
                ("URLTitle", "url-title", How::One),
                ("sound", "sound", How::One),
            ],
        ),
        "sensu" => (
            "sensu",
            &[
                ("source", "source", How::One),
                ("handlers", "handlers", How::List),
                ("metadata", "metadata", How::KeyValue),
            ],
        ),
        "slack" => (
            "slack",
            &[
                ("workspace", "workspace", How::One),
                ("channel", "channel", How::One),
                ("username", "username", How::One),
                ("iconEmoji", "icon-emoji", How::One),
            ],
        ),
        "discord" => (
            "discord",
            &[
                ("workspace", "workspace", How::One),
                ("username", "username", How::One),
                ("avatarURL", "avatar-url", How::One),
                ("embedTitle", "embed-title", How::One),
            ],
        ),
        "telegram" => (
            "telegram",
            &[
                ("chatId", "chat-id", How::One),
                ("parseMode", "parse-mode", How::One),
                (
                    "disableWebPagePreview",
                    "disable-web-page-preview",
                    How::Flag,
                ),
                ("disableNotification", "disable-notification", How::Flag),
            ],
        ),
        "alerta" => (
            "alerta",
            &[
                ("token", "token", How::One),
                ("resource", "resource", How::One),
                ("event", "event", How::One),
                ("environment", "environment", How::One),
                ("group", "group", How::One),
                ("value", "value", How::One),
                ("origin", "origin", How::One),
                ("services", "service", How::List),
                ("correlated", "correlate", How::List),
                ("attribute", "attributes", How::KeyValue),
                ("timeout", "timeout", How::One),
            ],
        ),
        "opsGenie2" => (
            "opsgenie2",
            &[
                ("teams", "teams-list", How::List),
                ("recipients", "recipients-list", How::List),
            ],
        ),
        "opsGenie" => (
            "opsgenie",
            &[
                ("teams", "teams-list", How::List),
                ("recipients", "recipients-list", How::List),
            ],
        ),
        "mqtt" => {
            o.insert("topic".into(), J::from(str_arg(p, 0)?));
            (
                "mqtt",
                &[
                    ("brokerName", "broker-name", How::One),
                    ("qos", "qos", How::One),
                    ("retained", "retained", How::Flag),
                ],
            )
        }
        "teams" => ("teams", &[("channelURL", "channel-url", How::One)]),
        "bigPanda" => (
            "bigpanda",
            &[
                ("appKey", "app-key", How::One),
                ("primaryProperty", "primary-property", How::One),
                ("secondaryProperty", "secondary-property", How::One),
                ("host", "host", How::One),
                ("attribute", "attributes", How::KeyValue),
            ],
        ),
        "serviceNow" => (
            "servicenow",
            &[
                ("source", "source", How::One),
                ("node", "node", How::One),
                ("type", "type", How::One),
                ("resource", "resource", How::One),
                ("metricName", "metricName", How::One),
                ("messageKey", "messageKey", How::One),
                ("additionalInfo", "additional_info", How::KeyValue),
            ],
        ),
        "zenoss" => (
            "zenoss",
            &[
                ("action", "action", How::One),
                ("method", "method", How::One),
                ("type", "type", How::One),
                ("tid", "tid", How::One),
                ("summary", "summary", How::One),
                ("device", "device", How::One),
                ("component", "component", How::One),
                ("eventClassKey", "evclasskey", How::One),
                ("evclasskey", "evclasskey", How::One),
                ("eventClass", "evclass", How::One),
                ("evclass", "evclass", How::One),
                ("collector", "collector", How::One),
                ("message", "message", How::One),
                ("customField", "customField", How::KeyValue),
            ],
        ),
        "hipChat" => (
            "hipchat",
            &[("room", "room", How::One), ("token", "token", How::One)],
        ),
        "talk" => ("talk", &[]),
        "snmpTrap" => {
            o.insert("trap-oid".into(), J::from(str_arg(p, 0)?));
            ("snmptrap", &[])
        }
        "kafka" => {
            return Err(PropertyError(format!(
                "alert handler .{}() is not implemented",
                p.name
            )));
        }
        other => {
            return Err(PropertyError(format!(
                "property .{other}() is not an alert handler"
            )));
        }
    };
    for sp in &p.props {
        if kind == "pagerduty2" && sp.name == "link" {
            let href = str_arg(sp, 0)?;
            let text = if sp.args.len() > 1 {
                str_arg(sp, 1)?
            } else {
                String::new()
            };
            let mut link = Map::new();
            link.insert("href".into(), J::from(href));
            if !text.is_empty() {
                link.insert("text".into(), J::from(text));
            }
            push(&mut o, "links", J::Array(vec![J::Object(link)]));
            continue;
        }
        if kind == "snmptrap" && sp.name == "data" {
            let mut data = Map::new();
            for (i, key) in ["oid", "type", "value"].into_iter().enumerate() {
                data.insert(key.into(), J::from(str_arg(sp, i)?));
            }
            push(&mut o, "data-list", J::Array(vec![J::Object(data)]));
            continue;
        }
        let Some((_, key, how)) = subs.iter().find(|(n, _, _)| *n == sp.name) else {
            return Err(PropertyError(format!(
                "unknown property .{}() of handler .{}()",
                sp.name, p.name
            )));
        };
        match how {
            How::One => {
                o.insert((*key).into(), first(sp)?);
            }
            How::List => push(&mut o, key, J::Array(str_args(sp, 0)?)),
            How::Flag => {
                let on = match sp.args.first() {
                    Some(Arg::Bool(b)) => *b,
                    _ => true,
                };
                o.insert((*key).into(), J::Bool(on));
            }
            How::KeyValue => {
                let k = str_arg(sp, 0)?;
                let v = sp
                    .args
                    .get(1)
                    .map(arg_json)
                    .transpose()?
                    .ok_or_else(|| PropertyError(format!(".{}() expects a value", sp.name)))?;
                let entry = o
                    .entry(key.to_string())
                    .or_insert_with(|| J::Object(Map::new()));
                if let J::Object(m) = entry {
                    m.insert(k, v);
                }
            }
        }
    }
    Ok(PropertyHandler {
        kind: kind.to_string(),
        options: o,
    })
}

/// A handler kind configured with `global = true`: every alert node without an explicit
/// handler of that kind gets one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalHandler {
    pub kind: &'static str,
    /// `state-changes-only = true` with `global`: the node behaves as `.stateChangesOnly()`.
    pub state_changes_only: bool,
    /// The property name of the kind in a script (`email` for `smtp`), to detect an explicit
    /// handler of the same kind.
    pub property: &'static str,
}

/// The global handlers of a configuration (enabled sections with `global = true`).
pub fn global_handlers(cfg: &Config) -> Vec<GlobalHandler> {
    let mut out = Vec::new();
    let mut add = |on: bool, kind, property, sco| {
        if on {
            out.push(GlobalHandler {
                kind,
                property,
                state_changes_only: sco,
            });
        }
    };
    let s = &cfg.smtp;
    add(s.enabled && s.global, "smtp", "email", s.state_changes_only);
    let slack = cfg.slack.iter().find(|c| c.default || cfg.slack.len() == 1);
    if let Some(c) = slack {
        add(
            c.enabled && c.global,
            "slack",
            "slack",
            c.state_changes_only,
        );
    }
    let t = &cfg.telegram;
    add(
        t.enabled && t.global,
        "telegram",
        "telegram",
        t.state_changes_only,
    );
    let v = &cfg.victorops;
    add(v.enabled && v.global, "victorops", "victorOps", false);
    let p = &cfg.pagerduty;
    add(p.enabled && p.global, "pagerduty", "pagerDuty", false);
    let p2 = &cfg.pagerduty2;
    add(p2.enabled && p2.global, "pagerduty2", "pagerDuty2", false);
    let o1 = &cfg.opsgenie;
    add(o1.enabled && o1.global, "opsgenie", "opsGenie", false);
    let o2 = &cfg.opsgenie2;
    add(o2.enabled && o2.global, "opsgenie2", "opsGenie2", false);
    let tm = &cfg.teams;
    add(
        tm.enabled && tm.global,
        "teams",
        "teams",
        tm.state_changes_only,
    );
    let hc = &cfg.hipchat;
    add(
        hc.enabled && hc.global,
        "hipchat",
        "hipChat",
        hc.state_changes_only,
    );
    let bp = &cfg.bigpanda;
    add(
        bp.enabled && bp.global,
        "bigpanda",
        "bigPanda",
        bp.state_changes_only,
    );
    let sn = &cfg.servicenow;
    add(
        sn.enabled && sn.global,
        "servicenow",
        "serviceNow",
        sn.state_changes_only,
    );
    let z = &cfg.zenoss;
    add(
        z.enabled && z.global,
        "zenoss",
        "zenoss",
        z.state_changes_only,
    );
    let discord = cfg
        .discord
        .iter()
        .find(|c| c.default || cfg.discord.len() == 1);
    if let Some(c) = discord {
        add(
            c.enabled && c.global,
            "discord",
            "discord",
            c.state_changes_only,
        );
    }
    out
}
