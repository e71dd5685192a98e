//! Kapacitor's default templates and the template expectations of its integration tests.

use gotmpl::kapacitor::{
    DEFAULT_DETAILS, DEFAULT_ID, DEFAULT_MESSAGE, ServerInfo, details_info, id_info, message_info,
};
use gotmpl::{Kind, Map, Struct, Template, Value};

const SECOND: i64 = 1_000_000_000;
/// 1971-01-01T00:00:10Z, the event time of TestStream_Alert.
const T10: i64 = 31_536_010 * SECOND;

fn server() -> ServerInfo {
    ServerInfo {
        hostname: "localhost".into(),
        cluster_id: "c1".into(),
        server_id: "s1".into(),
    }
}

fn ids(name: &str, group: &str, tags: &[(&str, &str)]) -> Struct {
    id_info(
        name,
        "testStreamTask",
        group,
        Map::strings(tags.iter().copied()),
        &server(),
    )
}

fn render(name: &str, src: &str, data: &Struct) -> String {
    Template::parse(name, src)
        .unwrap()
        .execute(&data.clone().into())
        .unwrap()
}

#[test]
fn default_id_and_message_without_group() {
    let id_data = ids("cpu", "nil", &[]);
    let id = render("id", DEFAULT_ID, &id_data);
    assert_eq!(id, "cpu:nil");
    let msg_data = message_info(id_data, &id, Map::new(Kind::Any), "CRITICAL", T10, 0);
    assert_eq!(
        render("message", DEFAULT_MESSAGE, &msg_data),
        "cpu:nil is CRITICAL"
    );
}

#[test]
fn test_stream_alert_id_and_message() {
    // integrations/streamer_test.go TestStream_Alert: .id('kapacitor/{{ .Name }}/{{ index .Tags "host" }}')
    let id_data = ids("cpu", "host=serverA", &[("host", "serverA")]);
    let id = render(
        "id",
        r#"kapacitor/{{ .Name }}/{{ index .Tags "host" }}"#,
        &id_data,
    );
    assert_eq!(id, "kapacitor/cpu/serverA");
    let fields = Map::from_entries(Kind::Any, [("count", Value::Int(10))]);
    let msg_data = message_info(id_data, &id, fields, "CRITICAL", T10, 0);
    let msg = render("message", DEFAULT_MESSAGE, &msg_data);
    assert_eq!(msg, "kapacitor/cpu/serverA is CRITICAL");

    // The default details: html/template + json, as Kapacitor renders it.
    let details_data = details_info(msg_data, &msg);
    let details = Template::parse_html("details", DEFAULT_DETAILS)
        .unwrap()
        .execute(&details_data.into())
        .unwrap();
    assert_eq!(
        details,
        "{&#34;Name&#34;:&#34;cpu&#34;,&#34;TaskName&#34;:&#34;testStreamTask&#34;,\
         &#34;Group&#34;:&#34;host=serverA&#34;,&#34;Tags&#34;:{&#34;host&#34;:&#34;serverA&#34;},\
         &#34;ServerInfo&#34;:{&#34;Hostname&#34;:&#34;localhost&#34;,&#34;ClusterID&#34;:&#34;c1&#34;,&#34;ServerID&#34;:&#34;s1&#34;},\
         &#34;ID&#34;:&#34;kapacitor/cpu/serverA&#34;,&#34;Fields&#34;:{&#34;count&#34;:10},\
         &#34;Level&#34;:&#34;CRITICAL&#34;,&#34;Time&#34;:&#34;1971-01-01T00:00:10Z&#34;,&#34;Duration&#34;:0,\
         &#34;Message&#34;:&#34;kapacitor/cpu/serverA is CRITICAL&#34;}\n"
    );
}

#[test]
fn deadman_defaults() {
    // [deadman] id and message from Kapacitor's default configuration.
    let id_tmpl = "{{ .Group }}:NODE_NAME for task '{{ .TaskName }}'";
    let msg_tmpl = r#"{{ .ID }} is {{ if eq .Level "OK" }}alive{{ else }}dead{{ end }}: {{ index .Fields "emitted" | printf "%0.3f" }} points/INTERVAL."#;
    let id_data = ids("stats", "nil", &[]);
    let id = render("id", id_tmpl, &id_data);
    assert_eq!(id, "nil:NODE_NAME for task 'testStreamTask'");

    let dead = message_info(
        id_data.clone(),
        &id,
        Map::from_entries(Kind::Any, [("emitted", Value::Float(0.0))]),
        "CRITICAL",
        T10,
        0,
    );
    assert_eq!(
        render("message", msg_tmpl, &dead),
        "nil:NODE_NAME for task 'testStreamTask' is dead: 0.000 points/INTERVAL."
    );
    let alive = message_info(
        id_data,
        &id,
        Map::from_entries(Kind::Any, [("emitted", Value::Float(12.3456))]),
        "OK",
        T10,
        90 * SECOND,
    );
    assert_eq!(
        render("message", msg_tmpl, &alive),
        "nil:NODE_NAME for task 'testStreamTask' is alive: 12.346 points/INTERVAL."
    );
}

#[test]
fn aggregate_handler_default_message() {
    let data = Struct::new("alert.aggregateInfo")
        .with("Count", Value::Int(5))
        .with("Interval", Value::Duration(60 * SECOND));
    assert_eq!(
        render(
            "message",
            "Received {{ .Count }} events in the last {{.Interval}}.",
            &data
        ),
        "Received 5 events in the last 1m0s."
    );
}

#[test]
fn message_fields_time_and_duration() {
    let id_data = ids("cpu", "host=serverA", &[("host", "serverA")]);
    let fields = Map::from_entries(
        Kind::Any,
        [
            ("value", Value::Float(-3.25)),
            ("big", Value::Float(1234567.0)),
            ("n", Value::Int(42)),
        ],
    );
    let data = message_info(id_data, "x", fields, "WARNING", T10, 90 * SECOND);
    let t = r#"{{ .Time }}|{{ .Duration }}|{{ index .Fields "value" }}|{{ .Fields.big }}|{{ .Fields.n }}|{{ .Time.Unix }}|{{ .Duration.Seconds }}"#;
    assert_eq!(
        render("message", t, &data),
        "1971-01-01 00:00:10 +0000 UTC|1m30s|-3.25|1.234567e+06|42|31536010|90"
    );
    // Promoted fields of the embedded idInfo and ServerInfo are reachable.
    assert_eq!(
        render(
            "message",
            "{{ .TaskName }} on {{ .ServerInfo.Hostname }}",
            &data
        ),
        "testStreamTask on localhost"
    );
}

#[test]
fn unknown_field_is_an_exec_error_naming_the_go_type() {
    let data = message_info(ids("cpu", "nil", &[]), "x", Map::new(Kind::Any), "OK", 0, 0);
    let err = Template::parse("message", "{{ .Nope }}")
        .unwrap()
        .execute(&data.into())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"template: message:1:3: executing "message" at <.Nope>: can't evaluate field Nope in type kapacitor.messageInfo"#
    );
}
