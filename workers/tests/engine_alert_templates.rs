//! The data alert templates see (`.id()`, `.message()`, `.details()`), checked on the exact
//! strings Kapacitor renders: Go's `%v` of each field of `idInfo`/`messageInfo`/`detailsInfo`.

use kapacitor_models::{FieldValue, Fields, Point, Tags};
use kapacitor_workers::engine::{AlertEvent, Task, TaskContext};

const S: i64 = 1_000_000_000;
const T0: i64 = 31_536_000 * S;

fn task(script: &str) -> Task {
    let p = tickscript::compile(script, &tickscript::Vars::new()).expect("script compiles");
    let ctx = TaskContext {
        task_id: "cpu_alert".into(),
        hostname: "kap-1".into(),
        cluster_id: "c-1".into(),
        server_id: "s-1".into(),
        ..TaskContext::default()
    };
    Task::new("cpu_alert", &p, ctx).expect("task builds")
}

fn point(tags: &[(&str, &str)], value: f64, t: i64) -> Point {
    let tags: Tags = tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut fields = Fields::new();
    fields.insert("value".into(), FieldValue::Float(value));
    Point {
        name: "cpu".into(),
        tags,
        fields,
        time: t,
    }
}

/// Runs `alert` (the properties after `|alert()`) over three points of host `a`: critical at
/// T0+1s and T0+3s, then OK at T0+4s; each is an event.
fn events(group_by: &str, alert: &str) -> Vec<AlertEvent> {
    let mut t = task(&format!(
        "stream|from().measurement('cpu'){group_by}|alert().crit(lambda: \"value\" > 10){alert}"
    ));
    let tags = [("host", "a"), ("region", "eu")];
    for (v, s) in [(20.0, 1), (30.0, 3), (1.0, 4)] {
        t.push_point("db", "rp", point(&tags, v, T0 + s * S));
    }
    t.drain_alert_events()
}

fn ids(ev: &[AlertEvent]) -> Vec<&str> {
    ev.iter().map(|e| e.id.as_str()).collect()
}

#[test]
fn group_is_nil_without_group_by() {
    let ev = events("", "");
    assert_eq!(ids(&ev), ["cpu:nil", "cpu:nil", "cpu:nil"]);
    assert_eq!(ev[0].message, "cpu:nil is CRITICAL");
    assert_eq!(ev[2].message, "cpu:nil is OK");
}

#[test]
fn group_is_the_sorted_group_key() {
    let ev = events(".groupBy('region', 'host')", "");
    assert_eq!(ev[0].id, "cpu:host=a,region=eu");
    let ev = events(".groupBy('host')", ".id('{{ .Group }}')");
    assert_eq!(ev[0].id, "host=a");
}

#[test]
fn group_by_measurement_prefixes_the_name() {
    let ev = events(
        ".groupBy('host').groupByMeasurement()",
        ".id('{{ .Group }}')",
    );
    assert_eq!(ev[0].id, "cpu\nhost=a");
    let ev = events(".groupByMeasurement()", ".id('{{ .Group }}')");
    assert_eq!(ev[0].id, "cpu");
}

#[test]
fn id_template_sees_name_task_tags_and_server_info() {
    let ev = events(
        ".groupBy('host')",
        ".id('{{ .Name }}/{{ .TaskName }}/{{ index .Tags \"host\" }}/{{ .Tags }}/{{ .ServerInfo.Hostname }}/{{ .ServerInfo.ClusterID }}/{{ .ServerInfo.ServerID }}')",
    );
    assert_eq!(
        ev[0].id,
        "cpu/cpu_alert/a/map[host:a region:eu]/kap-1/c-1/s-1"
    );
}

#[test]
fn id_template_has_no_event_fields() {
    // idInfo has no ID/Level: Go fails the execution; the point is counted as an error.
    let ev = events("", ".id('{{ .Level }}')");
    assert!(ev.is_empty(), "{ev:?}");
}

#[test]
fn message_template_sees_the_event() {
    let ev = events(
        ".groupBy('host')",
        ".message('{{ .ID }}|{{ .Name }}|{{ .TaskName }}|{{ .Group }}|{{ .Level }}|{{ .Fields }}|{{ index .Fields \"value\" }}|{{ .Tags }}|{{ .Time }}|{{ .Duration }}')",
    );
    assert_eq!(
        ev[0].message,
        "cpu:host=a|cpu|cpu_alert|host=a|CRITICAL|map[value:20]|20|map[host:a region:eu]|1971-01-01 00:00:01 +0000 UTC|0s"
    );
    // Still critical: the duration runs from the first critical event.
    assert_eq!(
        ev[1].message,
        "cpu:host=a|cpu|cpu_alert|host=a|CRITICAL|map[value:30]|30|map[host:a region:eu]|1971-01-01 00:00:03 +0000 UTC|2s"
    );
    // The recovery: duration since the first critical, the OK point's fields and time.
    assert_eq!(
        ev[2].message,
        "cpu:host=a|cpu|cpu_alert|host=a|OK|map[value:1]|1|map[host:a region:eu]|1971-01-01 00:00:04 +0000 UTC|3s"
    );
}

#[test]
fn message_template_formats_with_go_verbs() {
    let ev = events(
        "",
        ".message('{{ .Time.Unix }} {{ printf \"%0.2f\" (index .Fields \"value\") }} {{ if eq .Level \"OK\" }}up{{ else }}down{{ end }}')",
    );
    assert_eq!(ev[0].message, "31536001 20.00 down");
    assert_eq!(ev[2].message, "31536004 1.00 up");
}

#[test]
fn details_template_is_html_escaped_and_sees_the_message() {
    let ev = events(
        "",
        ".message('<b>{{ .Level }}</b>').details('{{ .Message }} for {{ .ID }} at {{ .Duration }}')",
    );
    assert_eq!(ev[0].message, "<b>CRITICAL</b>");
    assert_eq!(
        ev[0].details,
        "&lt;b&gt;CRITICAL&lt;/b&gt; for cpu:nil at 0s"
    );
}

#[test]
fn default_details_are_the_escaped_json_of_the_event() {
    let ev = events(".groupBy('host')", "");
    // `json` encodes as Go's json.Encoder does, with a final newline.
    assert_eq!(
        ev[2].details,
        "{&#34;Name&#34;:&#34;cpu&#34;,&#34;TaskName&#34;:&#34;cpu_alert&#34;,\
         &#34;Group&#34;:&#34;host=a&#34;,&#34;Tags&#34;:{&#34;host&#34;:&#34;a&#34;,\
         &#34;region&#34;:&#34;eu&#34;},&#34;ServerInfo&#34;:{&#34;Hostname&#34;:&#34;kap-1&#34;,\
         &#34;ClusterID&#34;:&#34;c-1&#34;,&#34;ServerID&#34;:&#34;s-1&#34;},\
         &#34;ID&#34;:&#34;cpu:host=a&#34;,&#34;Fields&#34;:{&#34;value&#34;:1},\
         &#34;Level&#34;:&#34;OK&#34;,&#34;Time&#34;:&#34;1971-01-01T00:00:04Z&#34;,\
         &#34;Duration&#34;:3000000000,&#34;Message&#34;:&#34;cpu:host=a is OK&#34;}\n"
    );
}
