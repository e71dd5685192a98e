//! The data Kapacitor passes to alert templates, built with the same Go types and field order
//! (`alert.go`: `idInfo`, `messageInfo` embedding it, `detailsInfo` embedding that), so that
//! field lookups, `{{ . }}` and `{{ json . }}` print what Kapacitor prints.

use crate::value::{Map, Struct, Value};

/// Kapacitor's default `.id()` template.
pub const DEFAULT_ID: &str = "{{ .Name }}:{{ .Group }}";
/// Kapacitor's default `.message()` template.
pub const DEFAULT_MESSAGE: &str = "{{ .ID }} is {{ .Level }}";
/// Kapacitor's default `.details()` template (an html/template).
pub const DEFAULT_DETAILS: &str = "{{ json . }}";

/// `ServerInfo` of the node running the task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerInfo {
    pub hostname: String,
    pub cluster_id: String,
    pub server_id: String,
}

impl ServerInfo {
    fn to_struct(&self) -> Struct {
        Struct::new("kapacitor.ServerInfo")
            .with("Hostname", self.hostname.as_str())
            .with("ClusterID", self.cluster_id.as_str())
            .with("ServerID", self.server_id.as_str())
    }
}

/// Data of the `.id()` template. `group` is the group key (`host=a,region=b`), or `nil` when
/// the data is not grouped; `tags` should be a `map[string]string` ([`Map::strings`]).
pub fn id_info(name: &str, task_name: &str, group: &str, tags: Map, server: &ServerInfo) -> Struct {
    Struct::new("kapacitor.idInfo")
        .with("Name", name)
        .with("TaskName", task_name)
        .with("Group", group)
        .with("Tags", tags)
        .with("ServerInfo", server.to_struct())
}

/// Data of the `.message()` template: the id data plus the event. `fields` should be a
/// `map[string]interface{}` (`Map::new(Kind::Any)`); `level` is `OK`, `INFO`, `WARNING` or
/// `CRITICAL`; times are Unix nanoseconds (UTC).
pub fn message_info(
    id_info: Struct,
    id: &str,
    fields: Map,
    level: &str,
    time_ns: i64,
    duration_ns: i64,
) -> Struct {
    Struct::new("kapacitor.messageInfo")
        .embed(id_info)
        .with("ID", id)
        .with("Fields", fields)
        .with("Level", level)
        .with("Time", Value::Time(time_ns))
        .with("Duration", Value::Duration(duration_ns))
}

/// Data of the `.details()` template: the message data plus the rendered message.
pub fn details_info(message_info: Struct, message: &str) -> Struct {
    Struct::new("kapacitor.detailsInfo")
        .embed(message_info)
        .with("Message", message)
}
