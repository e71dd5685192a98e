//! The config API on a live daemon: sections and redaction, overrides applied live to the
//! alert service (a `[slack] url` set through the API is where the next slack event goes),
//! Kapacitor's 400/403/404 answers, list elements added and removed, and overrides that
//! survive a restart of the daemon.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;

use alerting_helpers::{Endpoint, TOPICS, enable_task};
use kapacitor_tests::{Daemon, DaemonOpts};
use serde_json::{Value, json};

const CONFIG: &str = "/kapacitor/v1/config";

fn topic_script(topic: &str) -> String {
    format!(
        "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .crit(lambda: \"value\" > 90)\n        .topic('{topic}')\n"
    )
}

#[test]
fn slack_url_set_through_the_api_is_where_slack_events_go() {
    let d = Daemon::start(DaemonOpts::default());
    let hook = Endpoint::start(false);

    let r = d.post_json(
        &format!("{CONFIG}/slack/"),
        &json!({"set": {"enabled": true, "url": format!("{}/slack", hook.url), "channel": "#ops"}}),
    );
    assert_eq!(r.status, 204, "{}", r.body);

    let el = d.get(&format!("{CONFIG}/slack/")).json();
    assert_eq!(el["link"]["href"], "/kapacitor/v1/config/slack/");
    assert_eq!(el["options"]["enabled"], true);
    assert_eq!(el["options"]["channel"], "#ops");
    // The URL is a secret: only whether it is set shows.
    assert_eq!(el["options"]["url"], true, "{el}");
    assert_eq!(el["options"]["token"], false, "{el}");
    assert!(
        el["redacted"].as_array().unwrap().contains(&json!("url")),
        "{el}"
    );
    assert!(!d.get(&format!("{CONFIG}/slack/")).body.contains(&hook.url));

    let r = d.post_json(
        &format!("{TOPICS}/cpu/handlers"),
        &json!({"id": "chat", "kind": "slack", "options": {}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    enable_task(&d, "cpu_slack", &topic_script("cpu"), "telegraf");
    d.write("telegraf", "autogen", "s", "cpu value=95 1600000000");
    let hits = hook.wait_for(1);
    let body: Value = serde_json::from_str(&hits[0].body).unwrap();
    assert_eq!(body["channel"], "#ops", "{body}");
    assert!(body["attachments"][0]["text"].as_str().is_some(), "{body}");
}

#[test]
fn bad_updates_are_400_with_kapacitors_texts_and_unknown_sections_404() {
    let d = Daemon::start(DaemonOpts::default());
    let r = d.post_json(&format!("{CONFIG}/smtp/"), &json!({"set": {"nope": 1}}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json()["error"],
        "failed to override configuration smtp/: unknown options [nope] in section smtp"
    );
    let r = d.post_json(&format!("{CONFIG}/smtp"), &json!({"set": {"host": "x"}}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("missing a trailing '/'"), "{}", r.body);
    let r = d.post_json(
        &format!("{CONFIG}/smtp/"),
        &json!({"set": {"port": "many"}}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("port"), "{}", r.body);
    let r = d.post(&format!("{CONFIG}/smtp/"), "{not json");
    assert_eq!(r.status, 400, "{}", r.body);

    // A failed update changes nothing.
    let smtp = d.get(&format!("{CONFIG}/smtp/")).json();
    assert_eq!(smtp["options"]["port"], 25, "{smtp}");

    let r = d.get(&format!("{CONFIG}/nope"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unknown section: nope");
    let r = d.get(&format!("{CONFIG}/slack/other"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unknown section/element: slack/other");

    let all = d.get(CONFIG).json();
    assert_eq!(all["link"]["href"], CONFIG);
    assert_eq!(
        all["sections"]["smtp"]["link"]["href"],
        "/kapacitor/v1/config/smtp"
    );
    assert_eq!(
        all["sections"]["smtp"]["elements"][0]["redacted"],
        json!(["password"])
    );
    assert!(all["sections"].get("http").is_none(), "not overridable");
    assert!(all["sections"].get("influxdb").is_some());
}

#[test]
fn list_elements_are_added_and_removed() {
    let d = Daemon::start(DaemonOpts::default());
    let r = d.post_json(
        &format!("{CONFIG}/influxdb"),
        &json!({"add": {"name": "other", "enabled": false, "urls": ["http://127.0.0.1:1"], "password": "pw"}}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let el = d.get(&format!("{CONFIG}/influxdb/other")).json();
    assert_eq!(el["link"]["href"], "/kapacitor/v1/config/influxdb/other");
    assert_eq!(el["options"]["urls"], json!(["http://127.0.0.1:1"]));
    assert_eq!(el["options"]["password"], true);
    let again = d.post_json(
        &format!("{CONFIG}/influxdb"),
        &json!({"add": {"name": "other"}}),
    );
    assert_eq!(again.status, 400, "{}", again.body);
    let r = d.post_json(&format!("{CONFIG}/influxdb"), &json!({"remove": ["other"]}));
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(d.get(&format!("{CONFIG}/influxdb/other")).status, 404);
    assert_eq!(d.get(&format!("{CONFIG}/influxdb/default")).status, 200);
}

#[test]
fn overrides_survive_a_restart_and_delete_reverts_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        extra_config: "[smtp]\nhost = \"file-host\"\n".into(),
        ..DaemonOpts::default()
    };
    let mut d = Daemon::start(opts.clone());
    let r = d.post_json(
        &format!("{CONFIG}/smtp/"),
        &json!({"set": {"host": "api-host", "port": 2525}}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    d.stop();

    let mut d = Daemon::start(opts.clone());
    let smtp = d.get(&format!("{CONFIG}/smtp/")).json();
    assert_eq!(smtp["options"]["host"], "api-host", "{smtp}");
    assert_eq!(smtp["options"]["port"], 2525, "{smtp}");

    let r = d.post_json(&format!("{CONFIG}/smtp/"), &json!({"delete": ["host"]}));
    assert_eq!(r.status, 204, "{}", r.body);
    let smtp = d.get(&format!("{CONFIG}/smtp/")).json();
    assert_eq!(smtp["options"]["host"], "file-host", "{smtp}");
    assert_eq!(smtp["options"]["port"], 2525, "{smtp}");
    d.stop();
}

#[test]
fn disabled_config_override_is_403() {
    let d = Daemon::start(DaemonOpts {
        extra_config: "[config-override]\nenabled = false\n".into(),
        ..DaemonOpts::default()
    });
    let r = d.get(CONFIG);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "config override service is not enabled");
    let r = d.post_json(&format!("{CONFIG}/smtp/"), &json!({"set": {"host": "x"}}));
    assert_eq!(r.status, 403, "{}", r.body);
}
