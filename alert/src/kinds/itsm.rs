//! Event-management services: BigPanda, ServiceNow and Zenoss, with the payloads of Kapacitor's
//! `services/<name>/service.go`. All three take Go templates in their options; they are parsed
//! when the handler is built so that a bad template is refused at registration.

use super::http::{Request, ok_200};
use super::{DeliveryError, go_map, template};
use crate::event::Event;
use crate::level::Level;
use gotmpl::{Map, Struct, Template, Value as TValue};
use kapacitor_config::{Config, Severity};
use kapacitor_models::go_json;
use serde::Deserialize;
use serde_json::{Value as J, json};
use std::collections::BTreeMap;

fn not_enabled() -> DeliveryError {
    DeliveryError::permanent("service is not enabled")
}

fn or<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

fn exec(t: &Template, data: &TValue) -> Result<String, DeliveryError> {
    t.execute(data).map_err(|e| {
        DeliveryError::permanent(format!("failed to execute template {:?}: {e}", t.name()))
    })
}

/// `text[:max]` in bytes, as Kapacitor cuts fields, backed off to a character boundary.
fn cutoff(text: &str, max: usize) -> &str {
    let mut cut = text.len().min(max);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// An option template, or `None` for an empty option (Kapacitor renders those as "").
fn optional_template(name: &str, src: &str) -> Result<Option<Template>, String> {
    if src.is_empty() {
        Ok(None)
    } else {
        template(name, src).map(Some)
    }
}

fn render_opt(t: &Option<Template>, data: &TValue) -> Result<String, DeliveryError> {
    t.as_ref().map_or(Ok(String::new()), |t| exec(t, data))
}

/// A map option whose string values are templates and whose other values are kept.
enum MapValue {
    Template(Template),
    Fixed(J),
}

fn map_templates(prefix: &str, m: &BTreeMap<String, J>) -> Result<Vec<(String, MapValue)>, String> {
    m.iter()
        .map(|(k, v)| {
            let value = match v {
                J::String(s) => MapValue::Template(template(&format!("{prefix}{k}"), s)?),
                other => MapValue::Fixed(other.clone()),
            };
            Ok((k.clone(), value))
        })
        .collect()
}

/// Go's `fmt.Sprintf("%v", v)` of a decoded option value.
fn go_sprint(v: &J) -> String {
    gotmpl::format_value(&TValue::from(v.clone()))
}

fn tags_map(ev: &Event) -> Map {
    Map::strings(ev.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn fields_map(ev: &Event) -> Map {
    Map::from_entries(
        gotmpl::Kind::Any,
        ev.fields
            .iter()
            .map(|(k, v)| (k.clone(), TValue::from(v.clone()))),
    )
}

/// Go's `html.UnescapeString` for the entities an alert's details carry (the default details
/// template is HTML-escaped JSON: `{&#34;Name&#34;:...`).
fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct BigPandaOptions {
    #[serde(default)]
    pub app_key: String,
    #[serde(default)]
    pub primary_property: String,
    #[serde(default)]
    pub secondary_property: String,
    /// A template: the object that caused the alert.
    #[serde(default)]
    pub host: String,
    /// Extra attributes; string values are templates.
    #[serde(default)]
    pub attributes: BTreeMap<String, J>,
}

pub(crate) struct BigPandaAction {
    opts: BigPandaOptions,
    host: Option<Template>,
    attributes: Vec<(String, MapValue)>,
}

impl BigPandaAction {
    pub fn new(opts: BigPandaOptions) -> Result<BigPandaAction, String> {
        Ok(BigPandaAction {
            host: optional_template("host", &opts.host)?,
            attributes: map_templates("attributes.", &opts.attributes)?,
            opts,
        })
    }

    pub fn request(&self, ev: &Event, cfg: &Config) -> Result<Request, DeliveryError> {
        let c = &cfg.bigpanda;
        if !c.enabled {
            return Err(not_enabled());
        }
        let status = match ev.level {
            Level::Ok | Level::Info => "ok",
            Level::Warning => "warning",
            Level::Critical => "critical",
        };
        // A Go map: later keys overwrite earlier ones, the JSON is sorted.
        let mut m: BTreeMap<String, J> = BTreeMap::new();
        if !ev.message.is_empty() {
            m.insert("description".into(), J::from(ev.message.as_str()));
        }
        if !ev.details.is_empty() {
            // Kapacitor leaves out the default details (the event as JSON).
            let details = html_unescape(&ev.details);
            if !details.starts_with('{') {
                m.insert("details".into(), J::from(details));
            }
        }
        if !ev.id.is_empty() {
            m.insert("check".into(), J::from(ev.id.as_str()));
        }
        m.insert(
            "task".into(),
            J::from(format!("{}:{}", ev.task_name, ev.name)),
        );
        m.insert(
            "timestamp".into(),
            J::from(ev.time.div_euclid(1_000_000_000)),
        );
        m.insert("status".into(), J::from(status));
        m.insert(
            "app_key".into(),
            J::from(or(&self.opts.app_key, &c.app_key)),
        );
        for (k, v) in &ev.tags {
            m.insert(k.clone(), J::from(v.as_str()));
        }
        for (k, v) in &ev.fields {
            let s = match v {
                J::String(s) => s.clone(),
                other => go_json::to_string(other),
            };
            m.insert(k.clone(), J::from(s));
        }
        let td = ev.template_data();
        if let Some(t) = &self.host {
            m.insert("host".into(), J::from(exec(t, &td)?));
        }
        if !self.opts.primary_property.is_empty() {
            m.insert(
                "primary_property".into(),
                J::from(self.opts.primary_property.as_str()),
            );
        }
        if !self.opts.secondary_property.is_empty() {
            m.insert(
                "secondary_property".into(),
                J::from(self.opts.secondary_property.as_str()),
            );
        }
        for (k, v) in &self.attributes {
            let s = match v {
                MapValue::Template(t) => exec(t, &td)?,
                MapValue::Fixed(j) => go_sprint(j),
            };
            m.insert(k.clone(), J::from(s));
        }
        // json.Marshal: no trailing newline.
        let body = go_json::to_string(&go_map(m));
        let mut req = Request::json("BigPanda", c.url.clone(), body, |s| s == 201);
        req.headers
            .push(("Authorization".into(), format!("Bearer {}", c.token)));
        req.insecure = c.insecure_skip_verify;
        Ok(req)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceNowOptions {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub node: String,
    #[serde(default, rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub resource: String,
    /// Kapacitor decodes these two by field name, case-insensitively.
    #[serde(default, rename = "metricName", alias = "metricname")]
    pub metric_name: String,
    #[serde(default, rename = "messageKey", alias = "messagekey")]
    pub message_key: String,
    #[serde(default, rename = "additional_info")]
    pub additional_info: BTreeMap<String, J>,
}

pub(crate) struct ServiceNowAction {
    opts: ServiceNowOptions,
    node: Option<Template>,
    event_type: Option<Template>,
    resource: Option<Template>,
    metric_name: Option<Template>,
    message_key: Option<Template>,
    additional_info: Vec<(String, MapValue)>,
}

impl ServiceNowAction {
    pub fn new(opts: ServiceNowOptions) -> Result<ServiceNowAction, String> {
        Ok(ServiceNowAction {
            node: optional_template("node", &opts.node)?,
            event_type: optional_template("type", &opts.event_type)?,
            resource: optional_template("resource", &opts.resource)?,
            metric_name: optional_template("metricName", &opts.metric_name)?,
            message_key: optional_template("messageKey", &opts.message_key)?,
            additional_info: map_templates("additional_info.", &opts.additional_info)?,
            opts,
        })
    }

    pub fn request(&self, ev: &Event, cfg: &Config) -> Result<Request, DeliveryError> {
        let c = &cfg.servicenow;
        if !c.enabled {
            return Err(not_enabled());
        }
        let o = &self.opts;
        let url = or(&o.url, &c.url);
        reqwest::Url::parse(url)
            .map_err(|e| DeliveryError::permanent(format!("invalid url {url:?}: {e}")))?;
        let data: TValue = Struct::new("servicenow.dataInfo")
            .with("ID", ev.id.as_str())
            .with("Name", ev.name.as_str())
            .with("TaskName", ev.task_name.as_str())
            .with("Fields", fields_map(ev))
            .with("Tags", tags_map(ev))
            .into();
        let node = render_opt(&self.node, &data)?;
        let event_type = render_opt(&self.event_type, &data)?;
        let resource = render_opt(&self.resource, &data)?;
        let metric_name = render_opt(&self.metric_name, &data)?;
        let mut message_key = render_opt(&self.message_key, &data)?;
        let additional_info = if self.additional_info.is_empty() {
            String::new()
        } else {
            let mut info = Vec::with_capacity(self.additional_info.len());
            for (k, v) in &self.additional_info {
                let s = match v {
                    MapValue::Template(t) => exec(t, &data)?,
                    MapValue::Fixed(j) => go_sprint(j),
                };
                info.push((k.clone(), J::from(s)));
            }
            go_json::to_string(&go_map(info))
        };
        if message_key.is_empty() {
            message_key = ev.id.clone();
        }
        let severity = match ev.level {
            Level::Ok | Level::Info => "5",
            Level::Warning => "4",
            Level::Critical => "1",
        };
        // Kapacitor's `Event` struct: field order, empty fields omitted except `source`.
        let mut record = serde_json::Map::new();
        record.insert(
            "source".into(),
            J::from(cutoff(or(&o.source, &c.source), 100)),
        );
        for (key, value, max) in [
            ("node", node.as_str(), 100),
            ("type", event_type.as_str(), 100),
            ("resource", resource.as_str(), 100),
            ("metric_name", metric_name.as_str(), 100),
            ("message_key", message_key.as_str(), 1024),
            ("severity", severity, usize::MAX),
            ("description", ev.message.as_str(), 4000),
            ("additional_info", additional_info.as_str(), usize::MAX),
        ] {
            if !value.is_empty() {
                record.insert(key.into(), J::from(cutoff(value, max)));
            }
        }
        let body = go_json::to_string(&json!({"records": [J::Object(record)]}));
        let mut req = Request::json("ServiceNow", url.to_string(), body, ok_200);
        let user = or(&o.username, &c.username);
        let pass = or(&o.password, &c.password);
        if !user.is_empty() && !pass.is_empty() {
            req.basic_auth = Some((user.to_string(), pass.to_string()));
        }
        Ok(req)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ZenossOptions {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub method: String,
    #[serde(default, rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub tid: i64,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub component: String,
    /// Kapacitor's documented key, and the field name it also matches.
    #[serde(default, alias = "eventClassKey", alias = "eventclasskey")]
    pub evclasskey: String,
    #[serde(default, alias = "eventClass", alias = "eventclass")]
    pub evclass: String,
    #[serde(default)]
    pub collector: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "customField", alias = "customfield")]
    pub custom_field: BTreeMap<String, J>,
}

pub(crate) struct ZenossAction {
    opts: ZenossOptions,
    summary: Option<Template>,
    device: Option<Template>,
    component: Option<Template>,
    evclasskey: Option<Template>,
    evclass: Option<Template>,
    collector: Option<Template>,
    message: Option<Template>,
    custom: Vec<(String, MapValue)>,
}

impl ZenossAction {
    pub fn new(opts: ZenossOptions) -> Result<ZenossAction, String> {
        Ok(ZenossAction {
            summary: optional_template("summary", &opts.summary)?,
            device: optional_template("device", &opts.device)?,
            component: optional_template("component", &opts.component)?,
            evclasskey: optional_template("evclasskey", &opts.evclasskey)?,
            evclass: optional_template("evclass", &opts.evclass)?,
            collector: optional_template("collector", &opts.collector)?,
            message: optional_template("message", &opts.message)?,
            custom: map_templates("customData.", &opts.custom_field)?,
            opts,
        })
    }

    pub fn request(&self, ev: &Event, cfg: &Config) -> Result<Request, DeliveryError> {
        let c = &cfg.zenoss;
        if !c.enabled {
            return Err(not_enabled());
        }
        let o = &self.opts;
        let data: TValue = Struct::new("zenoss.info")
            .with("Name", ev.name.as_str())
            .with("TaskName", ev.task_name.as_str())
            .with("ID", ev.id.as_str())
            .with("Message", ev.message.as_str())
            .with("Details", ev.details.as_str())
            .with("Time", TValue::Time(ev.time))
            .with("Duration", TValue::Duration(ev.duration))
            .with("Level", ev.level.as_str())
            .with("Recoverable", ev.recoverable)
            .with("Tags", tags_map(ev))
            .into();
        let mut summary = render_opt(&self.summary, &data)?;
        if summary.is_empty() {
            summary = ev.message.clone();
        }
        let mut collector = render_opt(&self.collector, &data)?;
        if collector.is_empty() {
            collector = c.collector.clone();
        }
        let message = render_opt(&self.message, &data)?;
        let sm = &c.severity_map;
        let severity = match ev.level {
            Level::Ok => &sm.ok,
            Level::Info => &sm.info,
            Level::Warning => &sm.warning,
            Level::Critical => &sm.critical,
        };
        let severity = match severity {
            Severity::Number(n) => J::from(*n),
            Severity::Name(s) => J::from(s.as_str()),
        };
        // Kapacitor round-trips its event data through a Go map: keys come out sorted, and
        // `collector` and `message` are left out when empty.
        let mut m: BTreeMap<String, J> = BTreeMap::new();
        m.insert("summary".into(), J::from(cutoff(&summary, 256)));
        m.insert("device".into(), J::from(render_opt(&self.device, &data)?));
        m.insert(
            "component".into(),
            J::from(render_opt(&self.component, &data)?),
        );
        m.insert("severity".into(), severity);
        m.insert(
            "evclasskey".into(),
            J::from(render_opt(&self.evclasskey, &data)?),
        );
        m.insert("evclass".into(), J::from(render_opt(&self.evclass, &data)?));
        if !collector.is_empty() {
            m.insert("collector".into(), J::from(collector));
        }
        if !message.is_empty() {
            m.insert("message".into(), J::from(cutoff(&message, 4096)));
        }
        for (k, v) in &self.custom {
            let value = match v {
                // A rendered value that parses as a JSON object or array is sent as one.
                MapValue::Template(t) => {
                    let s = exec(t, &data)?;
                    if s.starts_with('{') || s.starts_with('[') {
                        serde_json::from_str(&s).unwrap_or(J::String(s))
                    } else {
                        J::String(s)
                    }
                }
                MapValue::Fixed(j) => j.clone(),
            };
            m.insert(k.clone(), value);
        }
        let body = json!({
            "action": or(&o.action, &c.action),
            "method": or(&o.method, &c.method),
            "data": [go_map(m)],
            "type": or(&o.event_type, &c.event_type),
            "tid": if o.tid == 0 { c.tid } else { o.tid },
        });
        let mut req = Request::json("Zenoss", c.url.clone(), go_json::to_string(&body), ok_200);
        if !c.username.is_empty() && !c.password.is_empty() {
            req.basic_auth = Some((c.username.clone(), c.password.clone()));
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_unescape_decodes_named_and_numeric_entities() {
        assert_eq!(html_unescape("{&#34;a&#34;:&lt;1&gt;}"), "{\"a\":<1>}");
        assert_eq!(
            html_unescape("a &amp; b &#x41; &bogus; &"),
            "a & b A &bogus; &"
        );
    }

    #[test]
    fn cutoff_stays_on_a_character_boundary() {
        assert_eq!(cutoff("héllo", 2), "h");
        assert_eq!(cutoff("abc", 100), "abc");
    }
}
