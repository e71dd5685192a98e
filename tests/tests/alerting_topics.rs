//! A task publishing to the named topic `cpu`, a `post` topic handler defined from a YAML file
//! with the real `kapacitor define-topic-handler`, and a local HTTP endpoint that must receive
//! exactly Kapacitor's alert JSON, with `match: "changed() == TRUE"` filtering the repeat.
//! Then the topic and handler API (shapes, codes, texts, JSON-Patch) and the CLI views.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;

use alerting_helpers::{
    Endpoint, TOPICS, enable_task, handler_counter, wait_collected, wait_states_saved,
};
use kapacitor_tests::cli::{kapacitor, kapacitor_in};
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::{Value, json};

const SCRIPT: &str = "stream
    |from()
        .measurement('cpu')
    |alert()
        .id('{{ .Name }}:{{ index .Tags \"host\" }}')
        .warn(lambda: \"value\" > 70)
        .crit(lambda: \"value\" > 90)
        .topic('cpu')
";

/// 2020-09-13T12:26:40Z
const T0: u64 = 1_600_000_000;

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn post_topic_handler_from_yaml_gets_kapacitor_alert_json() {
    let d = Daemon::start(DaemonOpts::default());
    let url = d.url();
    let hook = Endpoint::start(false);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("hook.yaml"),
        format!(
            "topic: cpu\nid: hook\nkind: post\nmatch: changed() == TRUE\noptions:\n  url: {}/alert\n",
            hook.url
        ),
    )
    .unwrap();
    kapacitor_in(
        &url,
        Some(work.path()),
        &["define-topic-handler", "hook.yaml"],
    )
    .ok();
    let shown = kapacitor(&url, &["show-topic-handler", "cpu", "hook"]);
    let text = shown.ok();
    assert!(text.contains("ID: hook"), "{text}");
    assert!(text.contains("Kind: post"), "{text}");
    assert!(text.contains("changed() == TRUE"), "{text}");

    enable_task(&d, "cpu_topic", SCRIPT, "telegraf");
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!(
            "cpu,host=a value=95 {T0}\ncpu,host=a value=96 {}\ncpu,host=a value=50 {}",
            T0 + 1,
            T0 + 2
        ),
    );
    wait_collected(&d, "cpu", 3);
    let hits = hook.wait_for(2);
    eventually(EVENTUALLY, "hook handler sent 2", || {
        (handler_counter(&d, "cpu", "hook", "sent") == 2).then_some(())
    });
    let hits_now = hook.hits();
    assert_eq!(
        hits_now.len(),
        2,
        "the repeated CRITICAL passed the match: {hits_now:?}"
    );

    for h in &hits {
        assert_eq!(h.path, "/alert");
        assert_eq!(h.content_type.as_deref(), Some("application/json"));
        assert!(
            h.body.ends_with("}\n"),
            "Go's encoder ends with a newline: {:?}",
            h.body
        );
    }
    let first: Value = serde_json::from_str(&hits[0].body).unwrap();
    let second: Value = serde_json::from_str(&hits[1].body).unwrap();
    let order = [
        "id",
        "message",
        "details",
        "time",
        "duration",
        "level",
        "data",
        "previousLevel",
        "recoverable",
    ];
    assert_eq!(keys(&first), order, "{}", hits[0].body);
    assert_eq!(first["id"], "cpu:a");
    assert_eq!(first["message"], "cpu:a is CRITICAL");
    assert!(first["details"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(first["time"], "2020-09-13T12:26:40Z");
    assert_eq!(first["duration"], 0);
    assert_eq!(first["level"], "CRITICAL");
    assert_eq!(
        first["data"],
        json!({"series": [{"name": "cpu", "tags": {"host": "a"}, "columns": ["time", "value"],
            "values": [["2020-09-13T12:26:40Z", 95]]}]})
    );
    assert_eq!(first["previousLevel"], "OK");
    assert_eq!(first["recoverable"], true);
    assert_eq!(keys(&second), order);
    assert_eq!(second["level"], "OK");
    assert_eq!(second["message"], "cpu:a is OK");
    assert_eq!(second["time"], "2020-09-13T12:26:42Z");
    assert_eq!(second["duration"], 2_000_000_000i64);
    assert_eq!(second["previousLevel"], "CRITICAL");
    assert_eq!(second["data"]["series"][0]["values"][0][1], 50);

    // The topic: level is the highest over its events (all back to OK), collected counts all.
    let topic = d.get(&format!("{TOPICS}/cpu"));
    assert_eq!(topic.status, 200, "{}", topic.body);
    assert_eq!(
        topic.json(),
        json!({
            "link": {"rel": "self", "href": "/kapacitor/v1/alerts/topics/cpu"},
            "id": "cpu",
            "level": "OK",
            "collected": 3,
            "events-link": {"rel": "events", "href": "/kapacitor/v1/alerts/topics/cpu/events"},
            "handlers-link": {"rel": "handlers", "href": "/kapacitor/v1/alerts/topics/cpu/handlers"},
        })
    );
    let list = d.get(&format!("{TOPICS}?min-level=ok&pattern=c*"));
    assert_eq!(list.status, 200);
    let list = list.json();
    assert_eq!(
        list["link"]["href"],
        "/kapacitor/v1/alerts/topics?min-level=ok&pattern=c*"
    );
    assert_eq!(list["topics"][0]["id"], "cpu");
    let crit = d.get(&format!("{TOPICS}?min-level=CRITICAL")).json();
    assert_eq!(crit["topics"], json!([]));
    let ev = d.get(&format!("{TOPICS}/cpu/events/cpu:a"));
    assert_eq!(ev.status, 200, "{}", ev.body);
    let ev = ev.json();
    assert_eq!(ev["state"]["level"], "OK");
    assert_eq!(ev["state"]["duration"], "2s");
    assert_eq!(ev["state"]["time"], "2020-09-13T12:26:42Z");

    // A new incident: WARNING, then CRITICAL; both are changes.
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!(
            "cpu,host=b value=75 {}\ncpu,host=b value=99 {}",
            T0 + 3,
            T0 + 4
        ),
    );
    let hits = hook.wait_for(4);
    let levels: Vec<String> = hits
        .iter()
        .map(|h| serde_json::from_str::<Value>(&h.body).unwrap()["level"].to_string())
        .collect();
    assert_eq!(
        levels,
        ["\"CRITICAL\"", "\"OK\"", "\"WARNING\"", "\"CRITICAL\""]
    );
    let topic = d.get(&format!("{TOPICS}/cpu")).json();
    assert_eq!(topic["level"], "CRITICAL");
    let events = d
        .get(&format!("{TOPICS}/cpu/events?min-level=WARNING"))
        .json();
    let ids: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cpu:b"]);
    wait_states_saved(&d);

    // CLI views of the same.
    let topics = kapacitor(&url, &["list", "topics"]);
    assert!(topics.ok().contains("cpu"), "{}", topics.stdout);
    let handlers = kapacitor(&url, &["list", "topic-handlers", "cpu"]);
    assert!(handlers.ok().contains("hook"), "{}", handlers.stdout);
    let show = kapacitor(&url, &["show-topic", "cpu"]);
    assert!(show.ok().contains("cpu:b"), "{}", show.stdout);
}

#[test]
fn topic_handler_api_codes_texts_and_patch() {
    let d = Daemon::start(DaemonOpts::default());
    let handlers = format!("{TOPICS}/t1/handlers");
    let h =
        |id: &str, kind: &str, options: Value| json!({"id": id, "kind": kind, "options": options});

    let r = d.post_json(
        &handlers,
        &h("a", "log", json!({"path": "/tmp/kapacitor-a.log"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({
            "link": {"rel": "self", "href": "/kapacitor/v1/alerts/topics/t1/handlers/a"},
            "id": "a",
            "kind": "log",
            "options": {"path": "/tmp/kapacitor-a.log"},
            "match": "",
        })
    );
    let dup = d.post_json(&handlers, &h("a", "log", json!({"path": "/tmp/x"})));
    assert_eq!(dup.status, 500);
    assert_eq!(
        dup.json()["error"],
        "failed to create handler: cannot register handler, handler with ID \"a\" already exists"
    );
    let bad_id = d.post_json(&handlers, &h("a b", "log", json!({})));
    assert_eq!(bad_id.status, 400);
    assert!(
        bad_id.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid handler spec: handler ID must contain only letters"),
        "{}",
        bad_id.body
    );
    let unknown_opt = d.post_json(&handlers, &h("b", "post", json!({"nope": 1})));
    assert_eq!(unknown_opt.status, 500);
    let e = unknown_opt.json()["error"].as_str().unwrap().to_string();
    assert!(e.starts_with("failed to create handler: "), "{e}");
    assert!(e.contains("nope"), "{e}");
    let unknown_kind = d.post_json(&handlers, &h("c", "frob", json!({})));
    assert_eq!(unknown_kind.status, 500);
    assert!(
        unknown_kind
            .body
            .contains("unsupported action kind \\\"frob\\\""),
        "{}",
        unknown_kind.body
    );
    let bad_match = d.post_json(
        &handlers,
        &json!({"id": "m", "kind": "log", "options": {"path": "/tmp/m"}, "match": "changed( =="}),
    );
    assert_eq!(bad_match.status, 500, "{}", bad_match.body);
    let not_json = d.post(&handlers, "{");
    assert_eq!(not_json.status, 400);
    assert!(
        not_json.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid handler json: ")
    );

    // JSON-Patch, then PUT with a rename.
    let patch = json!([{"op": "replace", "path": "/options/path", "value": "/tmp/kapacitor-b.log"},
        {"op": "add", "path": "/match", "value": "level() >= WARNING"}]);
    let r = d.patch_json(&format!("{handlers}/a"), &patch);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["options"]["path"], "/tmp/kapacitor-b.log");
    assert_eq!(r.json()["match"], "level() >= WARNING");
    let bad_patch = d.patch_json(
        &format!("{handlers}/a"),
        &json!([{"op": "remove", "path": "/nope"}]),
    );
    assert_eq!(bad_patch.status, 400);
    assert!(
        bad_patch.body.contains("failed to apply patch"),
        "{}",
        bad_patch.body
    );
    let missing = d.patch_json(&format!("{handlers}/zz"), &patch);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "unknown handler: \"zz\"");

    let got = d.get(&format!("{handlers}/a"));
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["match"], "level() >= WARNING");
    assert_eq!(d.get(&format!("{handlers}/zz")).status, 404);
    let list = d.get(&format!("{handlers}?pattern=a*")).json();
    assert_eq!(list["topic"], "t1");
    assert_eq!(list["handlers"].as_array().unwrap().len(), 1);
    let bad_pattern = d.get(&format!("{handlers}?pattern=%5B"));
    assert_eq!(bad_pattern.status, 400);
    assert!(
        bad_pattern.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid pattern: ")
    );

    // The topic exists because a handler is registered on it; unknown ones are 404/500.
    assert_eq!(d.get(&format!("{TOPICS}/t1")).json()["level"], "OK");
    let unknown = d.get(&format!("{TOPICS}/nope"));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "unknown topic: \"nope\"");
    let unknown_events = d.get(&format!("{TOPICS}/nope/events"));
    assert_eq!(unknown_events.status, 500);
    assert_eq!(
        unknown_events.json()["error"],
        "failed to get topic events: unknown topic \"nope\""
    );
    let bad_level = d.get(&format!("{TOPICS}?min-level=LOUD"));
    assert_eq!(bad_level.status, 400);
    assert_eq!(bad_level.json()["error"], "unknown alert level 'LOUD'");

    // Delete through the CLI; deleting again is still fine.
    kapacitor(&d.url(), &["delete", "topic-handlers", "t1", "a"]).ok();
    assert_eq!(d.get(&format!("{handlers}/a")).status, 404);
    assert_eq!(d.delete(&format!("{handlers}/a")).status, 204);
    assert_eq!(d.delete(&format!("{TOPICS}/t1")).status, 204);
}
