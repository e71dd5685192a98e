//! Incident services: PagerDuty (v1 and v2), VictorOps, OpsGenie (v1 and v2) and Alerta, with
//! the payloads of Kapacitor's `services/<name>/service.go`.

use super::http::{Request, join_url_path, ok_200};
use super::{DeliveryError, go_encode, go_map, render, template};
use crate::event::Event;
use crate::level::Level;
use crate::options::{
    AlertaOptions, OpsGenieOptions, PagerDuty2Options, PagerDutyOptions, VictorOpsOptions,
};
use base64::Engine;
use gotmpl::{Map, Struct};
use kapacitor_config::Config;
use kapacitor_models::time_fmt::rfc3339;
use serde_json::{Value as J, json};

fn not_enabled() -> DeliveryError {
    DeliveryError::permanent("service is not enabled")
}

fn or<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

pub(crate) fn pagerduty(
    o: &PagerDutyOptions,
    ev: &Event,
    cfg: &Config,
    client_url: &str,
) -> Result<Request, DeliveryError> {
    let c = &cfg.pagerduty;
    if !c.enabled {
        return Err(not_enabled());
    }
    let event_type = match ev.level {
        Level::Warning | Level::Critical => "trigger",
        Level::Info => {
            return Err(DeliveryError::permanent(
                "AlertLevel 'info' is currently ignored by the PagerDuty service",
            ));
        }
        Level::Ok => "resolve",
    };
    let body = go_map([
        ("client", J::from("kapacitor")),
        ("client_url", J::from(client_url)),
        ("description", J::from(ev.message.as_str())),
        ("details", J::from(ev.details.as_str())),
        ("event_type", J::from(event_type)),
        ("incident_key", J::from(ev.id.as_str())),
        ("service_key", J::from(or(&o.service_key, &c.service_key))),
    ]);
    Ok(Request::json(
        "PagerDuty",
        c.url.clone(),
        go_encode(&body),
        ok_200,
    ))
}

struct LinkTemplate {
    href: gotmpl::Template,
    text: Option<gotmpl::Template>,
}

pub(crate) struct PagerDuty2Action {
    routing_key: String,
    links: Vec<LinkTemplate>,
}

/// Go's `2006-01-02T15:04:05.000000000Z07:00` in UTC: always nine fraction digits.
fn pd_timestamp(ns: i64) -> String {
    let secs = rfc3339(ns);
    let base = secs.trim_end_matches('Z');
    format!("{base}.{:09}Z", ns.rem_euclid(1_000_000_000))
}

impl PagerDuty2Action {
    pub fn new(o: PagerDuty2Options) -> Result<PagerDuty2Action, String> {
        let links = o
            .links
            .iter()
            .map(|l| {
                Ok(LinkTemplate {
                    href: template("href", &l.href)?,
                    text: if l.text.is_empty() {
                        None
                    } else {
                        Some(template("text", &l.text)?)
                    },
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(PagerDuty2Action {
            routing_key: o.routing_key,
            links,
        })
    }

    pub fn request(
        &self,
        ev: &Event,
        cfg: &Config,
        client_url: &str,
    ) -> Result<Request, DeliveryError> {
        let c = &cfg.pagerduty2;
        if !c.enabled {
            return Err(not_enabled());
        }
        let routing_key = or(&self.routing_key, &c.routing_key);
        let severity = match ev.level {
            Level::Warning => "warning",
            Level::Critical => "critical",
            Level::Info => "info",
            Level::Ok => {
                let body = json!({"routing_key": routing_key, "dedup_key": ev.id, "event_action": "resolve"});
                return Ok(self.finish(c.url.clone(), go_encode(&body)));
            }
        };
        let mut links = Vec::with_capacity(self.links.len());
        for l in &self.links {
            let href = render(&l.href, ev)?;
            let text = match &l.text {
                Some(t) => render(t, ev)?,
                None => href.clone(),
            };
            links.push(json!({"href": href, "text": text}));
        }
        let source = ev.tags.get("host").map_or("unknown", String::as_str);
        let body = json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": ev.id,
            "payload": {
                "summary": ev.message,
                "source": source,
                "severity": severity,
                "timestamp": pd_timestamp(ev.time),
                "class": ev.task_name,
                "component": "",
                "group": "",
                "custom_details": {"result": ev.result_json()},
            },
            "images": null,
            "links": if links.is_empty() { J::Null } else { J::Array(links) },
            "client": "kapacitor",
            "client_url": client_url,
        });
        Ok(self.finish(c.url.clone(), go_encode(&body)))
    }

    fn finish(&self, url: String, body: String) -> Request {
        let mut req = Request::json("PagerDuty2", url, body, |s| s == 200 || s == 202);
        req.headers.push((
            "Accept".into(),
            "application/vnd.pagerduty+json;version=2".into(),
        ));
        req
    }
}

pub(crate) fn victorops(
    o: &VictorOpsOptions,
    ev: &Event,
    cfg: &Config,
) -> Result<Request, DeliveryError> {
    let c = &cfg.victorops;
    if !c.enabled {
        return Err(not_enabled());
    }
    let message_type = match ev.level {
        Level::Ok => "RECOVERY",
        l => l.as_str(),
    };
    let result = ev.result_json();
    let data = if c.json_data {
        result
    } else {
        J::String(kapacitor_models::go_json::to_string(&result))
    };
    let body = go_map([
        ("data", data),
        ("entity_id", J::from(ev.id.as_str())),
        ("message_type", J::from(message_type)),
        ("monitoring_tool", J::from("kapacitor")),
        ("state_message", J::from(ev.message.as_str())),
        ("timestamp", J::from(ev.time.div_euclid(1_000_000_000))),
    ]);
    let url = join_url_path(&c.url, &[&c.api_key, or(&o.routing_key, &c.routing_key)])?;
    Ok(Request::json("VictorOps", url, go_encode(&body), ok_200))
}

/// OpsGenie's v1 JSON API: `apiKey` in the body, recoveries posted as a note to
/// `recovery_url`. Kapacitor appends a `/` to both URLs.
pub(crate) fn opsgenie(
    o: &OpsGenieOptions,
    ev: &Event,
    cfg: &Config,
) -> Result<Request, DeliveryError> {
    let c = &cfg.opsgenie;
    if !c.enabled {
        return Err(not_enabled());
    }
    let (level, url, note) = match ev.level {
        Level::Ok => ("RECOVERY", &c.recovery_url, ev.message.as_str()),
        l => (l.as_str(), &c.url, ""),
    };
    let mut fields: Vec<(&str, J)> = vec![
        ("alias", J::from(ev.id.as_str())),
        ("apiKey", J::from(c.api_key.as_str())),
        (
            "description",
            J::from(kapacitor_models::go_json::to_string(&ev.result_json())),
        ),
        (
            "details",
            go_map([
                ("Level", J::from(level)),
                ("Monitoring Tool", J::from("Kapacitor")),
            ]),
        ),
        ("entity", J::from(ev.id.as_str())),
        ("message", J::from(ev.message.as_str())),
        ("monitoring_tool", J::from("kapacitor")),
        ("note", J::from(note)),
    ];
    let teams = if o.teams_list.is_empty() {
        &c.teams
    } else {
        &o.teams_list
    };
    if !teams.is_empty() {
        fields.push(("teams", json!(teams)));
    }
    let recipients = if o.recipients_list.is_empty() {
        &c.recipients
    } else {
        &o.recipients_list
    };
    if !recipients.is_empty() {
        fields.push(("recipients", json!(recipients)));
    }
    Ok(Request::json(
        "OpsGenie",
        format!("{url}/"),
        go_encode(&go_map(fields)),
        ok_200,
    ))
}

pub(crate) fn opsgenie2(
    o: &OpsGenieOptions,
    ev: &Event,
    cfg: &Config,
) -> Result<Request, DeliveryError> {
    let c = &cfg.opsgenie2;
    if !c.enabled {
        return Err(not_enabled());
    }
    let alias = base64::engine::general_purpose::URL_SAFE.encode(ev.id.as_bytes());
    let (url, body) = if ev.level == Level::Ok {
        let mut url = reqwest::Url::parse(&join_url_path(&c.url, &[&alias, &c.recovery_action])?)
            .map_err(|e| DeliveryError::permanent(e.to_string()))?;
        url.set_query(Some("identifierType=alias"));
        (
            url.to_string(),
            go_map([("note", J::from(ev.message.as_str()))]),
        )
    } else {
        let priority = match ev.level {
            Level::Info => "P5",
            Level::Warning => "P3",
            _ => "P1",
        };
        let mut details: Vec<(String, J)> = vec![
            ("Monitoring Tool".into(), J::from("Kapacitor")),
            ("Level".into(), J::from(ev.level.as_str())),
        ];
        if let Some(row) = ev.data.series.as_ref().and_then(|s| s.first()) {
            for (k, v) in &row.tags {
                details.push((k.clone(), J::from(v.as_str())));
            }
            details.push(("Kapacitor Task Name".into(), J::from(row.name.as_str())));
        }
        let mut responders = Vec::new();
        let teams = if o.teams_list.is_empty() {
            &c.teams
        } else {
            &o.teams_list
        };
        for t in teams {
            responders.push(go_map([
                ("name", J::from(t.as_str())),
                ("type", J::from("team")),
            ]));
        }
        let recipients = if o.recipients_list.is_empty() {
            &c.recipients
        } else {
            &o.recipients_list
        };
        for u in recipients {
            responders.push(go_map([
                ("type", J::from("user")),
                ("username", J::from(u.as_str())),
            ]));
        }
        let mut fields = vec![
            ("alias".to_string(), J::from(alias.as_str())),
            (
                "description".into(),
                J::from(kapacitor_models::go_json::to_string(&ev.result_json())),
            ),
            ("details".into(), go_map(details)),
            ("entity".into(), J::from(ev.id.as_str())),
            ("message".into(), J::from(ev.message.as_str())),
            ("note".into(), J::from("")),
            ("priority".into(), J::from(priority)),
        ];
        if !responders.is_empty() {
            fields.push(("responders".into(), J::Array(responders)));
        }
        (c.url.clone(), go_map(fields))
    };
    let mut req = Request::json("OpsGenie", url, go_encode(&body), |s| s == 202);
    req.headers
        .push(("Authorization".into(), format!("GenieKey {}", c.api_key)));
    Ok(req)
}

pub(crate) struct AlertaAction {
    opts: AlertaOptions,
    resource: gotmpl::Template,
    event: gotmpl::Template,
    environment: gotmpl::Template,
    group: gotmpl::Template,
    value: gotmpl::Template,
    service: Vec<gotmpl::Template>,
}

impl AlertaAction {
    pub fn new(opts: AlertaOptions) -> Result<AlertaAction, String> {
        Ok(AlertaAction {
            resource: template("resource", &opts.resource)?,
            event: template("event", &opts.event)?,
            environment: template("environment", &opts.environment)?,
            group: template("group", &opts.group)?,
            value: template("value", &opts.value)?,
            service: opts
                .service
                .iter()
                .map(|s| template("service", s))
                .collect::<Result<_, _>>()?,
            opts,
        })
    }

    pub fn request(&self, ev: &Event, cfg: &Config) -> Result<Request, DeliveryError> {
        let c = &cfg.alerta;
        let o = &self.opts;
        let resource = render(&self.resource, ev)?;
        // The event template sees only the id data, as in Kapacitor.
        let id_data: gotmpl::Value = Struct::new("alerta.eventData")
            .with("ID", ev.id.as_str())
            .with("Name", ev.name.as_str())
            .with("TaskName", ev.task_name.as_str())
            .with("Group", ev.group.as_str())
            .with(
                "Tags",
                Map::strings(ev.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            )
            .into();
        let event = self.event.execute(&id_data).map_err(|e| {
            DeliveryError::permanent(format!("failed to execute template \"event\": {e}"))
        })?;
        let environment = render(&self.environment, ev)?;
        let group = render(&self.group, ev)?;
        let value = render(&self.value, ev)?;
        let service: Vec<String> = if self.service.is_empty() {
            vec![ev.name.clone()]
        } else {
            self.service
                .iter()
                .map(|t| render(t, ev))
                .collect::<Result<_, _>>()?
        };
        if resource.is_empty() || event.is_empty() {
            return Err(DeliveryError::permanent(
                "Resource and Event are required to send an alert",
            ));
        }
        if !c.enabled {
            return Err(not_enabled());
        }
        let severity = match ev.level {
            Level::Ok => "ok",
            Level::Info => "informational",
            Level::Warning => "warning",
            Level::Critical => "critical",
        };
        let token = or(&o.token, &c.token);
        let prefix = match (o.token_prefix.as_str(), c.token_prefix.as_str()) {
            ("", "") => "Bearer",
            ("", p) => p,
            (p, _) => p,
        };
        let mut fields: Vec<(String, J)> = vec![
            ("resource".into(), J::from(resource)),
            ("event".into(), J::from(event)),
            (
                "environment".into(),
                J::from(or(&environment, &c.environment)),
            ),
            ("severity".into(), J::from(severity)),
            ("group".into(), J::from(group)),
            ("value".into(), J::from(value)),
            ("text".into(), J::from(ev.message.as_str())),
            ("origin".into(), J::from(or(&o.origin, &c.origin))),
            ("rawData".into(), ev.result_json()),
            ("timeout".into(), J::from(o.timeout / 1_000_000_000)),
            (
                "tags".into(),
                J::Array(
                    ev.tags
                        .iter()
                        .map(|(k, v)| J::from(format!("{k}={v}")))
                        .collect(),
                ),
            ),
        ];
        if !service.is_empty() {
            fields.push(("service".into(), json!(service)));
        }
        if !o.correlate.is_empty() {
            fields.push(("correlate".into(), json!(o.correlate)));
        }
        if !o.attributes.is_empty() {
            fields.push(("attributes".into(), json!(o.attributes)));
        }
        let url = join_url_path(&c.url, &["alert"])?;
        let mut req = Request::json("Alerta", url, go_encode(&go_map(fields)), |s| s == 201);
        req.headers
            .push(("Authorization".into(), format!("{prefix} {token}")));
        req.insecure = c.insecure_skip_verify;
        Ok(req)
    }
}
