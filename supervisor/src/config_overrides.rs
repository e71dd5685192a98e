//! The config API's overrides (Kapacitor's `services/config`): the supervisor owns them.
//!
//! An override is stored per element (`<section>/<element>`, `smtp/` for a section that is
//! not a list) with the options it sets, in the store's `config-overrides` namespace. The
//! effective configuration is the base one (file, environment, flags) with every override
//! applied in key order; it is what every child gets in its `Config` message, so a child
//! restarted after a change runs with it. apid asks for the sections (`ConfigSectionsRequest`)
//! and sends changes (`ConfigUpdate`); the answer to a change carries the new effective
//! configuration, which apid applies live to its alert service.
//!
//! Overrides are applied to the configuration as JSON (the serde form of
//! [`kapacitor_config::Config`], TOML key names), then decoded back: an unknown option is
//! Kapacitor's `unknown options [..] in section ..`, a wrong type is serde's error naming the
//! key, and the result must pass [`Config::validate`].

use crate::keeper::SupCtx;
use crate::store_thread::StoreHandle;
use kapacitor_config::Config;
use kapacitor_ipc::{Incoming, Message};
use kapacitor_store::{Namespace, Op, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};
use tracing::{debug, error, info, warn};

/// A section the config API exposes (Kapacitor's `override:` struct tags).
struct Section {
    name: &'static str,
    /// The option naming an element of a list section (`[[slack]]` by `workspace`).
    element_key: Option<&'static str>,
    /// Options shown as "is set" (`true`/`false`) instead of their value.
    redact: &'static [&'static str],
}

const fn single(name: &'static str, redact: &'static [&'static str]) -> Section {
    Section {
        name,
        element_key: None,
        redact,
    }
}

const fn list(name: &'static str, key: &'static str, redact: &'static [&'static str]) -> Section {
    Section {
        name,
        element_key: Some(key),
        redact,
    }
}

const SECTIONS: &[Section] = &[
    list("influxdb", "name", &["password", "token"]),
    single("alerta", &["token"]),
    single("bigpanda", &["app-key", "token"]),
    list("discord", "workspace", &["url"]),
    single("hipchat", &["token"]),
    list("httppost", "endpoint", &["basic-auth"]),
    list(
        "kafka",
        "id",
        &[
            "sasl-password",
            "sasl-oauth-client-secret",
            "sasl-oauth-token",
        ],
    ),
    list("mqtt", "name", &["password"]),
    single("opsgenie", &["api-key"]),
    single("opsgenie2", &["api-key"]),
    single("pagerduty", &["service-key"]),
    single("pagerduty2", &["routing-key"]),
    single("pushover", &["token", "user-key"]),
    single("sensu", &[]),
    single("servicenow", &["password"]),
    list("slack", "workspace", &["url", "token"]),
    single("smtp", &["password"]),
    single("snmptrap", &[]),
    single("talk", &["url"]),
    single("teams", &["channel-url"]),
    single("telegram", &["token"]),
    single("victorops", &["api-key"]),
    single("zenoss", &["password"]),
    list("azure", "id", &["client-secret"]),
    list("consul", "id", &["token", "password"]),
    list("dns", "id", &[]),
    list("ec2", "id", &["secret-key"]),
    list("file-discovery", "id", &[]),
    list("gce", "id", &[]),
    list("kubernetes", "id", &["token"]),
    list("marathon", "id", &["bearer-token", "password"]),
    list("nerve", "id", &[]),
    list("scraper", "name", &["password", "bearer-token"]),
    list("serverset", "id", &[]),
    list("static-discovery", "id", &[]),
    list("swarm", "id", &["password"]),
    list("triton", "id", &[]),
];

fn section(name: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.name == name)
}

/// One stored override (Kapacitor's `config_overrides` record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideRecord {
    /// `<section>/<element>`; the element is empty for a section that is not a list.
    pub id: String,
    pub options: Map<String, Value>,
    /// A list element added through the API (`add`) rather than one of the file's.
    #[serde(default)]
    pub create: bool,
}

impl OverrideRecord {
    fn section_element(&self) -> (&str, &str) {
        self.id.split_once('/').unwrap_or((self.id.as_str(), ""))
    }
}

fn override_id(section: &str, element: &str) -> String {
    format!("{section}/{element}")
}

/// A `POST /config/...` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpdateAction {
    set: Map<String, Value>,
    delete: Vec<String>,
    add: Map<String, Value>,
    remove: Vec<String>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '+')
}

impl UpdateAction {
    /// Kapacitor's `updateAction.Validate`, with its texts.
    fn validate(&self, section: &str, element: Option<&str>) -> Result<(), String> {
        if section.is_empty() {
            return Err("must provide section name".into());
        }
        if !valid_name(section) {
            return Err(format!("invalid section name {section:?}"));
        }
        let el = element.unwrap_or("");
        if !el.is_empty() && !valid_name(el) {
            return Err(format!("invalid element name {el:?}"));
        }
        let set_delete = !self.set.is_empty() || !self.delete.is_empty();
        let add_remove = !self.add.is_empty() || !self.remove.is_empty();
        if set_delete && add_remove {
            return Err(
                "cannot provide both set/delete and add/remove actions in the same update".into(),
            );
        }
        if !self.add.is_empty() && !el.is_empty() {
            return Err("must not provide an element name when adding an a new override".into());
        }
        if !self.remove.is_empty() && !el.is_empty() {
            return Err("must not provide element when removing an override".into());
        }
        if !add_remove && element.is_none() {
            return Err("element not specified, are you missing a trailing '/'?".into());
        }
        Ok(())
    }
}

/// What an update changes in the store.
#[derive(Debug, PartialEq)]
enum Save {
    Put(OverrideRecord),
    Delete(Vec<String>),
}

/// Applies an update to the stored overrides: the full new list (to check by applying it)
/// and what to save. Errors are Kapacitor's `failed to apply update: ...` texts (HTTP 400).
fn plan_update(
    sec: &str,
    element: Option<&str>,
    body: &str,
    stored: &[OverrideRecord],
) -> Result<(Vec<OverrideRecord>, Save), String> {
    let ua: UpdateAction =
        serde_json::from_str(body).map_err(|e| format!("failed to decode JSON: {e}"))?;
    ua.validate(sec, element)
        .map_err(|e| format!("failed to apply update: invalid update action: {e}"))?;
    let fail = |e: String| format!("failed to apply update: {e}");
    if !ua.remove.is_empty() {
        let ids: Vec<String> = ua.remove.iter().map(|r| override_id(sec, r)).collect();
        let kept = stored
            .iter()
            .filter(|o| !ids.contains(&o.id))
            .cloned()
            .collect();
        return Ok((kept, Save::Delete(ids)));
    }
    let mut el = element.unwrap_or("").to_string();
    if !ua.add.is_empty() {
        let s = section(sec).ok_or_else(|| fail(format!("unknown section {sec:?}")))?;
        let key = s.element_key.ok_or_else(|| {
            fail(format!(
                "section {sec:?} is not a list, cannot add new element"
            ))
        })?;
        match ua.add.get(key) {
            Some(Value::String(v)) => el = v.clone(),
            Some(other) => {
                return Err(fail(format!(
                    "expected {key:?} key to be a string, got {}",
                    json_type(other)
                )));
            }
            None => return Err(fail(format!("missing key {key:?} in \"add\" map"))),
        }
    }
    let id = override_id(sec, &el);
    let existing = stored.iter().find(|o| o.id == id);
    let rec = if !ua.add.is_empty() {
        if existing.is_some() {
            return Err(fail(format!(
                "cannot add new override, override already exists for {id}"
            )));
        }
        OverrideRecord {
            id: id.clone(),
            options: ua.add.clone(),
            create: true,
        }
    } else {
        let mut o = existing.cloned().unwrap_or(OverrideRecord {
            id: id.clone(),
            options: Map::new(),
            create: false,
        });
        for (k, v) in &ua.set {
            o.options.insert(k.clone(), v.clone());
        }
        for k in &ua.delete {
            o.options.remove(k);
        }
        o
    };
    let mut all: Vec<OverrideRecord> = stored.iter().filter(|o| o.id != id).cloned().collect();
    all.push(rec.clone());
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((all, Save::Put(rec)))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The default element of a list section, as JSON (what `add` starts from).
fn default_element(sec: &str) -> Option<Map<String, Value>> {
    let defaults = serde_json::to_value(Config::default()).ok()?;
    let first = defaults
        .get(sec)
        .and_then(|v| v.as_array())
        .and_then(|a| a.first());
    let mut el = match first {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            let t = kapacitor_config::sections::discovery::default_tables(sec)
                .into_iter()
                .next()?;
            match serde_json::to_value(t).ok()? {
                Value::Object(m) => m,
                _ => return None,
            }
        }
    };
    // A lone [[influxdb]] is marked default after decoding; a new one is not.
    if sec == "influxdb" {
        el.insert("default".into(), Value::Bool(false));
    }
    Some(el)
}

/// Sets `options` on one element object; `key` is the element key when it may not change.
fn set_options(
    obj: &mut Map<String, Value>,
    options: &Map<String, Value>,
    sec: &str,
    fixed_key: Option<&str>,
) -> Result<(), String> {
    let unknown: Vec<&str> = options
        .keys()
        .filter(|k| !obj.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "unknown options [{}] in section {sec}",
            unknown.join(" ")
        ));
    }
    for (k, v) in options {
        if Some(k.as_str()) == fixed_key {
            return Err(format!("cannot override element key {k}"));
        }
        let old = obj.get(k).cloned().unwrap_or(Value::Null);
        obj.insert(k.clone(), weak_value(&old, v));
    }
    Ok(())
}

/// Kapacitor converts a string holding a number into a numeric option.
fn weak_value(old: &Value, new: &Value) -> Value {
    if let (Value::Number(_), Value::String(s)) = (old, new) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::from(i);
        }
        if let Ok(f) = s.parse::<f64>()
            && let Some(n) = serde_json::Number::from_f64(f)
        {
            return Value::Number(n);
        }
    }
    new.clone()
}

/// Applies one override to the configuration as JSON.
fn apply_json(root: &mut Map<String, Value>, o: &OverrideRecord) -> Result<(), String> {
    let (sec, el) = o.section_element();
    let s = section(sec).ok_or_else(|| format!("unknown section {sec}"))?;
    let value = root
        .get_mut(sec)
        .ok_or_else(|| format!("unknown section {sec}"))?;
    match s.element_key {
        None => {
            if !el.is_empty() {
                return Err(format!(
                    "section {sec} is not a list, it has no element {el:?}"
                ));
            }
            let obj = value
                .as_object_mut()
                .ok_or_else(|| format!("section {sec} is not a table"))?;
            set_options(obj, &o.options, sec, None)
        }
        Some(key) => {
            let items = value
                .as_array_mut()
                .ok_or_else(|| format!("section {sec} is not a list"))?;
            if o.create {
                let mut obj = default_element(sec)
                    .ok_or_else(|| format!("cannot create a new element in section {sec}"))?;
                if items
                    .iter()
                    .any(|i| i.get(key).and_then(Value::as_str) == Some(el))
                {
                    return Err(format!("element {el:?} already exists in section {sec}"));
                }
                set_options(&mut obj, &o.options, sec, None)?;
                items.push(Value::Object(obj));
                return Ok(());
            }
            let obj = items
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .find(|i| i.get(key).and_then(Value::as_str).unwrap_or("") == el)
                .ok_or_else(|| format!("unknown element {el:?} in section {sec}"))?;
            set_options(obj, &o.options, sec, Some(key))
        }
    }
}

/// Decodes the configuration JSON and checks it as a loaded file would be checked.
fn decode(root: Map<String, Value>) -> Result<Config, String> {
    let cfg: Config = serde_path_to_error::deserialize(Value::Object(root))
        .map_err(|e| format!("cannot set option {}: {}", e.path(), e.inner()))?;
    // A round trip through TOML runs the decoder's fix-ups (discovery keys, default influxdb).
    let cfg = Config::from_toml(&cfg.to_toml()).map_err(|e| e.to_string())?;
    cfg.validate()
        .map_err(|e| format!("failed validation: {e}"))?;
    Ok(cfg)
}

/// The base configuration with `overrides` applied in order. `strict`: the first override
/// that does not apply is the error; otherwise it is skipped and reported with its id.
pub fn apply(
    base: &Config,
    overrides: &[OverrideRecord],
    strict: bool,
) -> Result<(Config, Vec<(String, String)>), String> {
    let mut root = match serde_json::to_value(base) {
        Ok(Value::Object(m)) => m,
        _ => return Err("the configuration cannot be represented as JSON".into()),
    };
    let mut skipped = Vec::new();
    let mut cfg = base.clone();
    for o in overrides {
        let (sec, el) = o.section_element();
        let mut next = root.clone();
        let result = apply_json(&mut next, o).and_then(|()| decode(next.clone()));
        match result {
            Ok(c) => {
                root = next;
                cfg = c;
            }
            Err(e) => {
                let e = format!("failed to override configuration {sec}/{el}: {e}");
                if strict {
                    return Err(e);
                }
                skipped.push((o.id.clone(), e));
            }
        }
    }
    Ok((cfg, skipped))
}

/// The config API's sections of `cfg`: `{section: [{"element", "options", "redacted"}]}`,
/// options in key order and secrets replaced by whether they are set.
pub fn sections_json(cfg: &Config) -> Value {
    let root = match serde_json::to_value(cfg) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut out = Map::new();
    let mut names: Vec<&Section> = SECTIONS.iter().collect();
    names.sort_by_key(|s| s.name);
    for s in names {
        let elements: Vec<&Map<String, Value>> = match root.get(s.name) {
            Some(Value::Object(m)) => vec![m],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).collect(),
            _ => continue,
        };
        let rows: Vec<Value> = elements.into_iter().map(|m| element_json(s, m)).collect();
        out.insert(s.name.to_string(), Value::Array(rows));
    }
    Value::Object(out)
}

fn element_json(s: &Section, m: &Map<String, Value>) -> Value {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let mut options = Map::new();
    let mut redacted = Vec::new();
    for k in keys {
        let v = &m[k];
        if s.redact.contains(&k.as_str()) {
            redacted.push(Value::String(k.clone()));
            options.insert(k.clone(), Value::Bool(is_set(v)));
        } else {
            options.insert(k.clone(), v.clone());
        }
    }
    let element = s
        .element_key
        .and_then(|k| m.get(k))
        .and_then(Value::as_str)
        .unwrap_or("");
    serde_json::json!({
        "element": element,
        "options": options,
        "redacted": redacted,
    })
}

fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => o.values().any(is_set),
    }
}

/// The base configuration, the effective one's TOML (what children get) and the lock that
/// keeps updates in order.
pub struct ConfigState {
    base: Config,
    effective: Mutex<(Config, String)>,
    update: tokio::sync::Mutex<()>,
}

impl ConfigState {
    /// Applies the stored overrides to `base` (unless `skip-config-overrides`). An override
    /// that no longer applies (a section renamed in the file, a bad value) is logged and
    /// skipped: it never stops the daemon.
    pub async fn boot(base: Config, store: &StoreHandle) -> ConfigState {
        let mut effective = base.clone();
        if base.skip_config_overrides {
            info!("skip-config-overrides: stored config overrides are not applied");
        } else {
            match load_overrides(store).await {
                Ok(list) if list.is_empty() => {}
                Ok(list) => match apply(&base, &list, false) {
                    Ok((cfg, skipped)) => {
                        for (id, e) in skipped {
                            error!(override_id = %id, error = %e, "stored config override not applied");
                        }
                        info!(count = list.len(), "config overrides applied");
                        effective = cfg;
                    }
                    Err(e) => error!(error = %e, "config overrides not applied"),
                },
                Err(e) => error!(error = %e, "cannot read the stored config overrides"),
            }
        }
        let toml = effective.to_toml();
        ConfigState {
            base,
            effective: Mutex::new((effective, toml)),
            update: tokio::sync::Mutex::new(()),
        }
    }

    /// A state without stored overrides (tests).
    pub fn fixed(base: Config) -> ConfigState {
        let toml = base.to_toml();
        ConfigState {
            effective: Mutex::new((base.clone(), toml)),
            base,
            update: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Config, String)> {
        self.effective.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The effective configuration as TOML (the `Config` message of every child).
    pub fn toml(&self) -> String {
        self.lock().1.clone()
    }

    /// The effective configuration.
    pub fn effective(&self) -> Config {
        self.lock().0.clone()
    }
}

async fn load_overrides(store: &StoreHandle) -> Result<Vec<OverrideRecord>, StoreError> {
    let each = store
        .call(|s| s.list_each::<OverrideRecord>(Namespace::ConfigOverrides))
        .await?;
    let mut out = Vec::new();
    for (key, rec) in each {
        match rec {
            Ok(r) => out.push(r),
            Err(e) => {
                warn!(override_id = %key, error = %e, "stored config override is unreadable; skipped")
            }
        }
    }
    Ok(out)
}

/// Whether apid's message is for the config API.
pub fn handles(msg: &Message) -> bool {
    matches!(
        msg,
        Message::ConfigSectionsRequest | Message::ConfigUpdate { .. }
    )
}

/// Answers apid's config API request on a task of its own.
pub fn serve(ctx: Arc<SupCtx>, inc: Incoming) {
    tokio::spawn(async move {
        let answer = match &inc.msg {
            Message::ConfigSectionsRequest => Message::ConfigSections {
                json: sections_json(&ctx.config.effective()).to_string(),
            },
            Message::ConfigUpdate {
                section,
                element,
                action_json,
            } => update(&ctx, section, element.as_deref(), action_json).await,
            other => Message::Error {
                message: format!("the config service does not serve {}", other.name()),
            },
        };
        if inc.is_request()
            && let Err(e) = inc.reply(answer).await
        {
            debug!(error = %e, "reply to apid failed");
        }
    });
}

async fn update(ctx: &SupCtx, sec: &str, element: Option<&str>, body: &str) -> Message {
    let state = &ctx.config;
    let _order = state.update.lock().await;
    let stored = match load_overrides(&ctx.store).await {
        Ok(s) => s,
        Err(e) => {
            let message = format!("failed to get existing overrides for section {sec}: {e}");
            return crate::store_thread::failed(&e, message);
        }
    };
    let (all, save) = match plan_update(sec, element, body, &stored) {
        Ok(p) => p,
        Err(message) => return Message::Rejected { message },
    };
    let cfg = match apply(&state.base, &all, true) {
        Ok((cfg, _)) => cfg,
        Err(message) => return Message::Rejected { message },
    };
    let ops: Result<Vec<Op>, StoreError> = match save {
        Save::Put(rec) => Op::put(Namespace::ConfigOverrides, &rec.id, &rec).map(|op| vec![op]),
        Save::Delete(ids) => Ok(ids
            .into_iter()
            .map(|id| Op::Delete(Namespace::ConfigOverrides, id))
            .collect()),
    };
    let saved = match ops {
        Ok(ops) => ctx.store.call(move |s| s.apply(&ops)).await,
        Err(e) => Err(e),
    };
    if let Err(e) = saved {
        let message = format!(
            "failed to save override {sec}/{}: {e}",
            element.unwrap_or("")
        );
        return crate::store_thread::failed(&e, message);
    }
    let toml = cfg.to_toml();
    *state.lock() = (cfg, toml.clone());
    info!(
        section = sec,
        element = element.unwrap_or(""),
        "configuration override saved"
    );
    Message::ConfigUpdated { toml }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config::from_toml(
            "data_dir = \"/tmp/k\"\n[smtp]\nhost = \"mail\"\npassword = \"secret\"\n[[slack]]\nworkspace = \"main\"\nurl = \"http://a\"\n",
        )
        .unwrap()
    }

    fn plan(
        sec: &str,
        el: Option<&str>,
        body: &str,
        stored: &[OverrideRecord],
    ) -> Vec<OverrideRecord> {
        plan_update(sec, el, body, stored).unwrap().0
    }

    #[test]
    fn set_applies_and_unknown_option_is_kapacitors_error() {
        let all = plan(
            "smtp",
            Some(""),
            r#"{"set":{"port":"2525","host":"h"}}"#,
            &[],
        );
        let (cfg, _) = apply(&base(), &all, true).unwrap();
        assert_eq!(cfg.smtp.port, 2525);
        assert_eq!(cfg.smtp.host, "h");
        let all = plan("smtp", Some(""), r#"{"set":{"nope":1}}"#, &[]);
        let e = apply(&base(), &all, true).unwrap_err();
        assert_eq!(
            e,
            "failed to override configuration smtp/: unknown options [nope] in section smtp"
        );
        let all = plan("smtp", Some(""), r#"{"set":{"port":"x"}}"#, &[]);
        let e = apply(&base(), &all, true).unwrap_err();
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn delete_reverts_to_the_file_and_add_remove_list_elements() {
        let s1 = plan("smtp", Some(""), r#"{"set":{"host":"h"}}"#, &[]);
        let s2 = plan("smtp", Some(""), r#"{"delete":["host"]}"#, &s1);
        let (cfg, _) = apply(&base(), &s2, true).unwrap();
        assert_eq!(cfg.smtp.host, "mail");

        let a = plan(
            "slack",
            None,
            r#"{"add":{"workspace":"ops","url":"http://b"}}"#,
            &[],
        );
        let (cfg, _) = apply(&base(), &a, true).unwrap();
        assert_eq!(cfg.slack.len(), 2);
        assert_eq!(cfg.slack[1].workspace, "ops");
        assert_eq!(cfg.slack[1].url, "http://b");
        let e = plan_update("slack", None, r#"{"add":{"workspace":"ops"}}"#, &a).unwrap_err();
        assert!(e.contains("already exists"), "{e}");
        let r = plan("slack", None, r#"{"remove":["ops"]}"#, &a);
        let (cfg, _) = apply(&base(), &r, true).unwrap();
        assert_eq!(cfg.slack.len(), 1);
        let e = apply(
            &base(),
            &plan("slack", Some("main"), r#"{"set":{"workspace":"x"}}"#, &[]),
            true,
        )
        .unwrap_err();
        assert!(e.contains("cannot override element key workspace"), "{e}");
    }

    #[test]
    fn invalid_actions_are_named() {
        let e = plan_update("smtp", None, r#"{"set":{"host":"h"}}"#, &[]).unwrap_err();
        assert!(e.contains("missing a trailing '/'"), "{e}");
        let e = plan_update("smtp", Some(""), r#"{"set":{"a":1},"add":{"b":1}}"#, &[]).unwrap_err();
        assert!(e.contains("cannot provide both"), "{e}");
        let e = plan_update("smtp", None, r#"{"add":{"host":"x"}}"#, &[]).unwrap_err();
        assert!(e.contains("is not a list"), "{e}");
        let e = plan_update("smtp", Some(""), "{", &[]).unwrap_err();
        assert!(e.starts_with("failed to decode JSON"), "{e}");
        let e = apply(
            &base(),
            &plan("nope", Some(""), r#"{"set":{"a":1}}"#, &[]),
            true,
        )
        .unwrap_err();
        assert!(e.contains("unknown section nope"), "{e}");
    }

    #[test]
    fn boot_skips_an_override_that_no_longer_applies() {
        let good = OverrideRecord {
            id: "smtp/".into(),
            options: serde_json::from_str(r#"{"host":"x"}"#).unwrap(),
            create: false,
        };
        let bad = OverrideRecord {
            id: "slack/gone".into(),
            options: serde_json::from_str(r#"{"url":"x"}"#).unwrap(),
            create: false,
        };
        let (cfg, skipped) = apply(&base(), &[bad, good], false).unwrap();
        assert_eq!(cfg.smtp.host, "x");
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].1.contains("unknown element"), "{}", skipped[0].1);
    }

    #[test]
    fn sections_redact_secrets() {
        let v = sections_json(&base());
        let smtp = &v["smtp"][0];
        assert_eq!(smtp["element"], "");
        assert_eq!(smtp["options"]["password"], true);
        assert_eq!(smtp["options"]["host"], "mail");
        assert_eq!(smtp["redacted"], serde_json::json!(["password"]));
        let slack = &v["slack"][0];
        assert_eq!(slack["options"]["url"], true);
        assert_eq!(slack["options"]["token"], false);
        assert!(v.get("http").is_none());
        assert!(v.get("influxdb").is_some());
    }
}
