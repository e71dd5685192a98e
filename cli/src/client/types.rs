//! JSON shapes of the Kapacitor HTTP API (`/kapacitor/v1`) as the CLI reads and writes them.
//!
//! Decoding is lenient the way Go's `encoding/json` is: missing keys and `null` take the zero
//! value, unknown keys are ignored. Times stay RFC 3339 strings until they are printed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::output::go_quote;

/// Decodes `null` as the type's default, like Go decoding `null` into a slice, map or string.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A `{"rel": ..., "href": ...}` link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    #[serde(default, deserialize_with = "null_default")]
    pub rel: String,
    #[serde(default, deserialize_with = "null_default")]
    pub href: String,
}

/// A database / retention policy pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dbrp {
    #[serde(default, deserialize_with = "null_default")]
    pub db: String,
    #[serde(default, deserialize_with = "null_default")]
    pub rp: String,
}

impl fmt::Display for Dbrp {
    /// `"db"."rp"`, as Go's `DBRP.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", go_quote(&self.db), go_quote(&self.rp))
    }
}

/// Formats a DBRP list as Go prints a slice of Stringers: `["a"."b" "c"."d"]`.
pub fn format_dbrps(dbrps: &[Dbrp]) -> String {
    let items: Vec<String> = dbrps.iter().map(Dbrp::to_string).collect();
    format!("[{}]", items.join(" "))
}

/// A task or template variable: `{"type": "lambda", "value": ..., "description": ""}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Var {
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub var_type: String,
    #[serde(default)]
    pub value: Value,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
}

/// The variable types the API knows.
pub const VAR_TYPES: [&str; 9] = [
    "bool", "int", "float", "string", "regex", "duration", "lambda", "list", "star",
];

/// A task as returned by `GET /tasks/<id>` and the task list.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Task {
    #[serde(default, deserialize_with = "null_default")]
    pub link: Link,
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(rename = "template-id", default, deserialize_with = "null_default")]
    pub template_id: String,
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub task_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub dbrps: Vec<Dbrp>,
    #[serde(default, deserialize_with = "null_default")]
    pub script: String,
    #[serde(default, deserialize_with = "null_default")]
    pub vars: BTreeMap<String, Var>,
    #[serde(default, deserialize_with = "null_default")]
    pub dot: String,
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    #[serde(default, deserialize_with = "null_default")]
    pub executing: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub error: String,
    #[serde(default)]
    pub stats: Value,
    #[serde(default, deserialize_with = "null_default")]
    pub created: String,
    #[serde(default, deserialize_with = "null_default")]
    pub modified: String,
    #[serde(rename = "last-enabled", default, deserialize_with = "null_default")]
    pub last_enabled: String,
}

/// `GET /tasks` response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskList {
    #[serde(default, deserialize_with = "null_default")]
    pub tasks: Vec<Task>,
}

/// A template as returned by `GET /templates/<id>` and the template list.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Template {
    #[serde(default, deserialize_with = "null_default")]
    pub link: Link,
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub template_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub script: String,
    #[serde(default, deserialize_with = "null_default")]
    pub vars: BTreeMap<String, Var>,
    #[serde(default, deserialize_with = "null_default")]
    pub dot: String,
    #[serde(default, deserialize_with = "null_default")]
    pub error: String,
    #[serde(default, deserialize_with = "null_default")]
    pub created: String,
    #[serde(default, deserialize_with = "null_default")]
    pub modified: String,
}

/// `GET /templates` response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TemplateList {
    #[serde(default, deserialize_with = "null_default")]
    pub templates: Vec<Template>,
}

/// Body of `POST /tasks`; empty fields are left out like Go's `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateTask {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "template-id", skip_serializing_if = "String::is_empty")]
    pub template_id: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub task_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dbrps: Vec<Dbrp>,
    #[serde(rename = "script", skip_serializing_if = "String::is_empty")]
    pub script: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub vars: Map<String, Value>,
}

/// Body of `PATCH /tasks/<id>`; only non-empty fields are changed by the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateTask {
    #[serde(rename = "template-id", skip_serializing_if = "String::is_empty")]
    pub template_id: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub task_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dbrps: Vec<Dbrp>,
    #[serde(rename = "script", skip_serializing_if = "String::is_empty")]
    pub script: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub vars: Map<String, Value>,
}

/// Body of `POST /templates` and `PATCH /templates/<id>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TemplateSpec {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub template_type: String,
    #[serde(rename = "script", skip_serializing_if = "String::is_empty")]
    pub script: String,
}

/// An alert topic.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Topic {
    #[serde(default, deserialize_with = "null_default")]
    pub link: Link,
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub level: String,
    #[serde(default, deserialize_with = "null_default")]
    pub collected: i64,
    #[serde(rename = "events-link", default, deserialize_with = "null_default")]
    pub events_link: Link,
    #[serde(rename = "handlers-link", default, deserialize_with = "null_default")]
    pub handlers_link: Link,
}

/// `GET /alerts/topics` response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TopicList {
    #[serde(default, deserialize_with = "null_default")]
    pub topics: Vec<Topic>,
}

/// The state of one alert event in a topic.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EventState {
    #[serde(default, deserialize_with = "null_default")]
    pub message: String,
    #[serde(default, deserialize_with = "null_default")]
    pub details: String,
    #[serde(default, deserialize_with = "null_default")]
    pub time: String,
    #[serde(default)]
    pub duration: Value,
    #[serde(default, deserialize_with = "null_default")]
    pub level: String,
}

/// One alert event in a topic.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TopicEvent {
    #[serde(default, deserialize_with = "null_default")]
    pub link: Link,
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub state: EventState,
}

/// `GET /alerts/topics/<topic>/events` response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TopicEvents {
    #[serde(default, deserialize_with = "null_default")]
    pub topic: String,
    #[serde(default, deserialize_with = "null_default")]
    pub events: Vec<TopicEvent>,
}

/// A topic handler as the API returns it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TopicHandler {
    #[serde(default, deserialize_with = "null_default")]
    pub link: Link,
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub options: Map<String, Value>,
    #[serde(rename = "match", default, deserialize_with = "null_default")]
    pub match_expr: String,
}

/// `GET /alerts/topics/<topic>/handlers` response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TopicHandlers {
    #[serde(default, deserialize_with = "null_default")]
    pub topic: String,
    #[serde(default, deserialize_with = "null_default")]
    pub handlers: Vec<TopicHandler>,
}

/// A topic handler file (`define-topic-handler`), and the create/replace body without `topic`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HandlerSpec {
    #[serde(default, skip_serializing, deserialize_with = "null_default")]
    pub topic: String,
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub options: Map<String, Value>,
    #[serde(rename = "match", default, deserialize_with = "null_default")]
    pub match_expr: String,
}

/// A recording.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Recording {
    #[serde(default, deserialize_with = "null_default")]
    pub link: Link,
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub recording_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub size: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub date: String,
    #[serde(default, deserialize_with = "null_default")]
    pub error: String,
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    #[serde(default, deserialize_with = "null_default")]
    pub progress: f64,
}

/// `GET /recordings` response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RecordingList {
    #[serde(default, deserialize_with = "null_default")]
    pub recordings: Vec<Recording>,
}

/// A replay.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Replay {
    #[serde(default, deserialize_with = "null_default")]
    pub link: Link,
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub task: String,
    #[serde(default, deserialize_with = "null_default")]
    pub recording: String,
    #[serde(rename = "recording-time", default, deserialize_with = "null_default")]
    pub recording_time: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub clock: String,
    #[serde(default, deserialize_with = "null_default")]
    pub date: String,
    #[serde(default, deserialize_with = "null_default")]
    pub error: String,
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    #[serde(default, deserialize_with = "null_default")]
    pub progress: f64,
}

/// `GET /replays` response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplayList {
    #[serde(default, deserialize_with = "null_default")]
    pub replays: Vec<Replay>,
}

/// One expvar statistic under the `kapacitor` key of `/debug/vars`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Stat {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_default")]
    pub values: Map<String, Value>,
}

/// The parts of `GET /debug/vars` the CLI prints.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct DebugVars {
    #[serde(default, deserialize_with = "null_default")]
    pub cluster_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub server_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub host: String,
    #[serde(default, deserialize_with = "null_default")]
    pub num_tasks: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub num_enabled_tasks: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub num_subscriptions: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub version: String,
    #[serde(default, deserialize_with = "null_default")]
    pub platform: String,
    #[serde(rename = "kapacitor", default, deserialize_with = "null_default")]
    pub stats: BTreeMap<String, Stat>,
}

/// One entry of `GET /service-tests`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServiceTest {
    #[serde(default, deserialize_with = "null_default")]
    pub link: Link,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default)]
    pub options: Value,
}

/// `GET /service-tests` response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceTestList {
    #[serde(default, deserialize_with = "null_default")]
    pub services: Vec<ServiceTest>,
}

/// `POST /service-tests/<name>` response.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServiceTestResult {
    #[serde(default, deserialize_with = "null_default")]
    pub success: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The task object from the API reference (kapacitor-oss.md §1.4).
    pub(crate) const TASK_JSON: &str = r#"{
        "link": {"rel": "self", "href": "/kapacitor/v1/tasks/cpu_alert"},
        "id": "cpu_alert",
        "template-id": "",
        "type": "stream",
        "dbrps": [{"db": "telegraf", "rp": "autogen"}],
        "script": "stream\n    |from()\n        .measurement('cpu')\n",
        "vars": {},
        "dot": "digraph cpu_alert {\nstream0 -> from1;\n}",
        "status": "disabled",
        "executing": false,
        "error": "",
        "stats": {},
        "created": "2016-03-31T11:24:55.526388889Z",
        "modified": "2016-03-31T11:24:55.526388889Z",
        "last-enabled": "0001-01-01T00:00:00Z"
    }"#;

    #[test]
    fn decodes_reference_task() {
        let t: Task = serde_json::from_str(TASK_JSON).unwrap();
        assert_eq!(t.id, "cpu_alert");
        assert_eq!(t.link.href, "/kapacitor/v1/tasks/cpu_alert");
        assert_eq!(
            t.dbrps,
            vec![Dbrp {
                db: "telegraf".into(),
                rp: "autogen".into()
            }]
        );
        assert_eq!(t.last_enabled, "0001-01-01T00:00:00Z");
        assert!(!t.executing);
    }

    #[test]
    fn nulls_and_missing_keys_take_zero_values() {
        let t: Task = serde_json::from_str(r#"{"id":"x","dbrps":null,"vars":null}"#).unwrap();
        assert!(t.dbrps.is_empty());
        assert!(t.vars.is_empty());
        assert_eq!(t.status, "");
    }

    #[test]
    fn dbrp_list_prints_like_go_slice() {
        let d = vec![
            Dbrp {
                db: "telegraf".into(),
                rp: "autogen".into(),
            },
            Dbrp {
                db: "a\"b".into(),
                rp: "c".into(),
            },
        ];
        assert_eq!(format_dbrps(&d), r#"["telegraf"."autogen" "a\"b"."c"]"#);
        assert_eq!(format_dbrps(&[]), "[]");
    }

    #[test]
    fn create_task_omits_empty_fields() {
        let c = CreateTask {
            id: "t".into(),
            status: "disabled".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"id":"t","status":"disabled"}"#
        );
    }

    #[test]
    fn handler_spec_body_leaves_out_topic() {
        let h: HandlerSpec = serde_json::from_str(
            r##"{"topic":"cpu","id":"slack","kind":"slack","options":{"channel":"#a"},"match":"changed()"}"##,
        )
        .unwrap();
        assert_eq!(h.topic, "cpu");
        let body = serde_json::to_value(&h).unwrap();
        assert!(body.get("topic").is_none());
        assert_eq!(body["match"], "changed()");
    }
}
