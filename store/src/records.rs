//! The records kept in the store. Times are RFC 3339 strings as Kapacitor's API shows them,
//! so a record can be served without conversion.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DbrpRecord {
    pub db: String,
    pub rp: String,
}

/// A task as defined by the user (its desired state); runtime state (executing, stats) is not
/// stored. `error` is the last start/runtime error, kept so it survives a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    #[serde(default)]
    pub template_id: String,
    /// "stream" or "batch", derived from the script.
    pub task_type: String,
    pub dbrps: Vec<DbrpRecord>,
    /// The script as the user sent it (formatting happens on output).
    pub script: String,
    /// Task vars in Kapacitor's JSON shape (`{"name": {"type": .., "value": ..}}`).
    #[serde(default)]
    pub vars: serde_json::Value,
    pub status: TaskStatus,
    #[serde(default)]
    pub error: String,
    pub created: String,
    pub modified: String,
    /// `0001-01-01T00:00:00Z` when never enabled, as Kapacitor shows it.
    pub last_enabled: String,
}

impl TaskRecord {
    #[doc(hidden)]
    pub fn new_for_test(id: &str) -> TaskRecord {
        TaskRecord {
            id: id.to_string(),
            template_id: String::new(),
            task_type: "stream".into(),
            dbrps: vec![DbrpRecord {
                db: "db".into(),
                rp: "rp".into(),
            }],
            script: "stream|from()".into(),
            vars: serde_json::Value::Object(Default::default()),
            status: TaskStatus::Disabled,
            error: String::new(),
            created: "2026-01-01T00:00:00Z".into(),
            modified: "2026-01-01T00:00:00Z".into(),
            last_enabled: "0001-01-01T00:00:00Z".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub id: String,
    pub task_type: String,
    pub script: String,
    #[serde(default)]
    pub error: String,
    pub created: String,
    pub modified: String,
}
