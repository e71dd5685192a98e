//! Alert events as they travel from the alert node to topics and handlers, the state a topic
//! keeps per event ID, and the exact JSON bodies Kapacitor writes for them.

use crate::level::Level;
use gotmpl::{Kind, Map, Struct, Value as TValue};
use kapacitor_models::time_fmt::{parse_rfc3339, rfc3339_nano};
use kapacitor_models::{Result as InfluxResult, go_json};
use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use std::collections::BTreeMap;

/// One alert event (Kapacitor's `alert.Event`: state + data). Serialises to JSON for IPC between
/// the worker and the API process; use [`Event::to_ipc_json`] / [`Event::from_ipc_json`]
/// (postcard cannot carry `serde_json::Value` fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Event {
    /// Topic the event is published to: a named topic or `main:<task>:<alertN>`.
    pub topic: String,
    pub id: String,
    pub message: String,
    pub details: String,
    /// Nanoseconds since the Unix epoch.
    pub time: i64,
    /// Nanoseconds.
    pub duration: i64,
    pub level: Level,
    /// Set by the service from the topic's previous state for this ID (OK if none); what the
    /// sender puts here is ignored.
    pub previous_level: Level,
    pub recoverable: bool,
    /// `data` of the alert JSON: stream → one row with the point, batch → one row.
    pub data: InfluxResult,
    /// Measurement name (`name()` in match expressions, `.Name` in templates).
    pub name: String,
    pub task_name: String,
    /// Group key (`host=a,region=b`) or `nil`.
    pub group: String,
    pub tags: BTreeMap<String, String>,
    pub fields: BTreeMap<String, J>,
    pub category: String,
    /// The node's `.inhibit(...)`s: set while this event is not OK (see `inhibit.rs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inhibitors: Vec<crate::inhibit::InhibitorSpec>,
    /// Set on events made by `aggregate` from only internal events: external handlers skip it.
    pub no_external: bool,
}

impl Event {
    pub fn to_ipc_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_ipc_json(s: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(s)
    }

    /// The state a topic keeps for this event.
    pub fn state(&self) -> EventState {
        EventState {
            message: self.message.clone(),
            details: self.details.clone(),
            time: self.time,
            duration: self.duration,
            level: self.level,
        }
    }

    /// Kapacitor's alert data JSON (§5.4): keys in order, compact, Go's escaping and float
    /// format, terminated by `\n` as Go's `json.Encoder` writes it. The body of `post`, `tcp`,
    /// `exec` stdin and each `log` line.
    pub fn alert_json(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"id\":");
        go_json::push_str(&mut out, &self.id);
        out.push_str(",\"message\":");
        go_json::push_str(&mut out, &self.message);
        out.push_str(",\"details\":");
        go_json::push_str(&mut out, &self.details);
        out.push_str(",\"time\":\"");
        out.push_str(&rfc3339_nano(self.time));
        out.push_str("\",\"duration\":");
        out.push_str(&self.duration.to_string());
        out.push_str(",\"level\":\"");
        out.push_str(self.level.as_str());
        out.push_str("\",\"data\":");
        self.data.push_go_json(&mut out);
        out.push_str(",\"previousLevel\":\"");
        out.push_str(self.previous_level.as_str());
        out.push_str("\",\"recoverable\":");
        out.push_str(if self.recoverable { "true" } else { "false" });
        out.push_str("}\n");
        out
    }

    /// `data` as a JSON value with Go's key order (for payloads that embed the result).
    pub fn result_json(&self) -> J {
        serde_json::to_value(&self.data).unwrap_or(J::Null)
    }

    fn tags_map(&self) -> Map {
        Map::strings(self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    fn fields_map(&self) -> Map {
        Map::from_entries(
            Kind::Any,
            self.fields
                .iter()
                .map(|(k, v)| (k.clone(), TValue::from(v.clone()))),
        )
    }

    /// Kapacitor's `alert.TemplateData`: what handler templates (pagerduty2 links, alerta,
    /// sensu source, discord title, smtp recipients) are executed with.
    pub fn template_data(&self) -> TValue {
        Struct::new("alert.TemplateData")
            .with("ID", self.id.as_str())
            .with("Message", self.message.as_str())
            .with("Level", self.level.as_str())
            .with("Time", TValue::Time(self.time))
            .with("Duration", TValue::Duration(self.duration))
            .with("Name", self.name.as_str())
            .with("TaskName", self.task_name.as_str())
            .with("Group", self.group.as_str())
            .with("Tags", self.tags_map())
            .with("Fields", self.fields_map())
            .into()
    }

    /// Kapacitor's `alert.Data` (what an `[[httppost]] alert-template` is executed with).
    pub fn alert_data_template(&self) -> TValue {
        let rows: Vec<TValue> = self
            .data
            .series
            .iter()
            .flatten()
            .map(|r| {
                Struct::new("models.Row")
                    .with("Name", r.name.as_str())
                    .with(
                        "Tags",
                        Map::strings(r.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                    )
                    .with(
                        "Columns",
                        r.columns
                            .iter()
                            .map(|c| TValue::Str(c.clone()))
                            .collect::<Vec<_>>(),
                    )
                    .with(
                        "Values",
                        r.values
                            .iter()
                            .map(|vals| {
                                TValue::Slice(
                                    vals.iter().map(|v| TValue::from(v.clone())).collect(),
                                )
                            })
                            .collect::<Vec<_>>(),
                    )
                    .into()
            })
            .collect();
        Struct::new("alert.Data")
            .with("ID", self.id.as_str())
            .with("Message", self.message.as_str())
            .with("Details", self.details.as_str())
            .with("Time", TValue::Time(self.time))
            .with("Duration", TValue::Duration(self.duration))
            .with("Level", self.level.as_str())
            .with(
                "Data",
                Struct::new("models.Result").with("Series", TValue::Slice(rows)),
            )
            .with("PreviousLevel", self.previous_level.as_str())
            .with("Recoverable", self.recoverable)
            .into()
    }
}

/// The latest state of one event ID in a topic (Kapacitor's `alert.EventState` without the
/// ID). Its serde form is the persisted shape of reference §8:
/// `{"message","details","time","duration":<ns>,"level"}`, empty strings omitted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventState {
    pub message: String,
    pub details: String,
    /// Nanoseconds since the Unix epoch.
    pub time: i64,
    /// Nanoseconds.
    pub duration: i64,
    pub level: Level,
}

#[derive(Serialize, Deserialize)]
struct PersistedState {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    details: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    time: String,
    #[serde(default)]
    duration: i64,
    #[serde(default)]
    level: Level,
}

impl Serialize for EventState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PersistedState {
            message: self.message.clone(),
            details: self.details.clone(),
            time: rfc3339_nano(self.time),
            duration: self.duration,
            level: self.level,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for EventState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EventState, D::Error> {
        let p = PersistedState::deserialize(d)?;
        let time = if p.time.is_empty() {
            0
        } else {
            parse_rfc3339(&p.time)
                .map_err(|e| serde::de::Error::custom(format!("invalid time {:?}: {e}", p.time)))?
        };
        Ok(EventState {
            message: p.message,
            details: p.details,
            time,
            duration: p.duration,
            level: p.level,
        })
    }
}

impl EventState {
    /// The persisted JSON text (reference §8).
    pub fn to_persisted_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_persisted_json(s: &str) -> Result<EventState, serde_json::Error> {
        serde_json::from_str(s)
    }
}
