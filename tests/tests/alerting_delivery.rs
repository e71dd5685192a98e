//! Delivery: a handler whose endpoint never answers does not hold back the other handlers of
//! the topic; handlers written in a script (`.post()`, `.log()`) run on the task's anonymous
//! topic and go away with the task; `-disable-handlers` makes a kind inert.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;

use alerting_helpers::{Endpoint, TOPICS, debug_values, enable_task, wait_collected};
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::{Value, json};

const T0: u64 = 1_600_000_000;

fn topic_script(topic: &str) -> String {
    format!(
        "stream\n    |from()\n        .measurement('cpu')\n        .groupBy('host')\n    |alert()\n        .id('{{{{ index .Tags \"host\" }}}}')\n        .crit(lambda: \"value\" > 90)\n        .topic('{topic}')\n"
    )
}

fn post_handler(d: &Daemon, topic: &str, id: &str, url: &str) {
    let r = d.post_json(
        &format!("{TOPICS}/{topic}/handlers"),
        &json!({"id": id, "kind": "post", "options": {"url": url}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

fn critical_points(n: u64) -> String {
    (0..n)
        .map(|i| format!("cpu,host=s{i} value=95 {}", T0 + i))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_hanging_endpoint_does_not_hold_back_other_handlers() {
    let d = Daemon::start(DaemonOpts::default());
    let hang = Endpoint::start(true);
    let fast = Endpoint::start(false);
    post_handler(&d, "cpu", "slow", &hang.url);
    post_handler(&d, "cpu", "fast", &fast.url);
    enable_task(&d, "cpu_d", &topic_script("cpu"), "telegraf");

    let n = 20;
    let written = std::time::Instant::now();
    d.write("telegraf", "autogen", "s", &critical_points(n));
    let hits = fast.wait_for(n as usize);
    let last = hits.iter().map(|h| h.at).max().unwrap();
    println!(
        "fast handler: {n} events delivered {:?} after the write while the other endpoint hangs",
        last.duration_since(written)
    );
    // The hanging endpoint got the first request and holds it; the rest wait in its queue.
    eventually(
        EVENTUALLY,
        "the hanging endpoint got its first request",
        || (hang.hits().len() == 1).then_some(()),
    );
    let slow = debug_values(&d, "alert_handlers:cpu:slow").unwrap();
    assert_eq!(slow["sent"], 0, "{slow}");
    assert_eq!(slow["queued"], n - 1, "{slow}");
    let fast_stats = debug_values(&d, "alert_handlers:cpu:fast").unwrap();
    assert_eq!(fast_stats["sent"], n, "{fast_stats}");
    assert_eq!(hang.hits().len(), 1);
}

#[test]
fn script_handlers_live_on_the_anonymous_topic_and_go_with_the_task() {
    let d = Daemon::start(DaemonOpts::default());
    let hook = Endpoint::start(false);
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("alerts.log");
    let script = format!(
        "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .crit(lambda: \"value\" > 90)\n        .post('{}/script')\n        .log('{}')\n",
        hook.url,
        log.display()
    );
    enable_task(&d, "cpu_s", &script, "telegraf");
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!("cpu value=95 {T0}\ncpu value=10 {}", T0 + 1),
    );
    let hits = hook.wait_for(2);
    assert!(hits.iter().all(|h| h.path == "/script"));
    let lines = eventually(EVENTUALLY, "two lines in the log handler's file", || {
        let text = std::fs::read_to_string(&log).ok()?;
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON alert"))
            .collect();
        (lines.len() >= 2).then_some(lines)
    });
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "cpu:nil");
    assert_eq!(lines[0]["level"], "CRITICAL");
    assert_eq!(lines[1]["level"], "OK");
    assert_eq!(lines[1]["previousLevel"], "CRITICAL");
    assert_eq!(
        lines[0]["data"]["series"][0]["values"][0],
        json!(["2020-09-13T12:26:40Z", 95])
    );

    let anon = "main:cpu_s:alert2";
    let topics = d.get(&format!("{TOPICS}?pattern=main:*")).json();
    assert_eq!(topics["topics"][0]["id"], anon, "{topics}");
    assert_eq!(topics["topics"][0]["collected"], 2);
    let handlers = d.get(&format!("{TOPICS}/{anon}/handlers")).json();
    let ids: Vec<&str> = handlers["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["log", "post"]);

    // Disabled: the script's handlers go, the topic's state stays.
    let r = d.patch_json("/kapacitor/v1/tasks/cpu_s", &json!({"status": "disabled"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let handlers = d.get(&format!("{TOPICS}/{anon}/handlers")).json();
    assert_eq!(handlers["handlers"], json!([]));
    assert_eq!(
        d.get(&format!("{TOPICS}/{anon}/events/cpu:nil")).status,
        200
    );
    // Deleted: the anonymous topic goes too.
    assert_eq!(d.delete("/kapacitor/v1/tasks/cpu_s").status, 204);
    assert_eq!(d.get(&format!("{TOPICS}/{anon}")).status, 404);
}

#[test]
fn disable_handlers_makes_a_kind_inert() {
    let d = Daemon::start(DaemonOpts {
        args: vec!["-disable-handlers".into(), "post".into()],
        ..DaemonOpts::default()
    });
    let hook = Endpoint::start(false);
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("alerts.log");
    post_handler(&d, "cpu", "hook", &hook.url);
    let r = d.post_json(
        &format!("{TOPICS}/cpu/handlers"),
        &json!({"id": "file", "kind": "log", "options": {"path": log.display().to_string()}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    enable_task(&d, "cpu_x", &topic_script("cpu"), "telegraf");
    d.write("telegraf", "autogen", "s", &critical_points(1));
    wait_collected(&d, "cpu", 1);
    eventually(EVENTUALLY, "the log handler wrote the event", || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.lines().count() == 1)
    });
    // An inert handler takes nothing from the topic: no request, nothing queued or sent.
    assert!(hook.hits().is_empty(), "{:?}", hook.hits());
    let hook_stats = debug_values(&d, "alert_handlers:cpu:hook").unwrap();
    assert_eq!(hook_stats["sent"], 0, "{hook_stats}");
    assert_eq!(hook_stats["queued"], 0, "{hook_stats}");
}

#[test]
fn an_inhibiting_alert_suppresses_its_category_on_the_same_host_across_tasks() {
    let d = Daemon::start(DaemonOpts::default());
    let hook = Endpoint::start(false);
    // "down" inhibits category `system` for its host while it is not OK; "cpu" is in it.
    let down = "stream\n|from().measurement('up')\n.groupBy('host')\n|alert()\n.id('down:{{ index .Tags \"host\" }}')\n.crit(lambda: \"value\" == 0)\n.inhibit('system', 'host')\n";
    let cpu = format!(
        "stream\n|from().measurement('cpu')\n.groupBy('host')\n|alert()\n.id('cpu:{{{{ index .Tags \"host\" }}}}')\n.category('system')\n.crit(lambda: \"value\" > 90)\n.post('{}/cpu')\n",
        hook.url
    );
    enable_task(&d, "down", down, "db");
    enable_task(&d, "cpu", &cpu, "db");
    d.write("db", "autogen", "s", "up,host=h0 value=0 1");
    eventually(EVENTUALLY, "the inhibitor is active", || {
        d.try_get(&format!("{TOPICS}/main:down:alert2/events/down:h0"))
            .filter(|r| r.status == 200)
    });
    // h0 is down: its cpu alert is inhibited; h1's is not.
    d.write(
        "db",
        "autogen",
        "s",
        "cpu,host=h0 value=95 2\ncpu,host=h1 value=95 2",
    );
    let hits = hook.wait_for(1);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let ids: Vec<String> = hook
        .hits()
        .iter()
        .map(|h| serde_json::from_str::<Value>(&h.body).unwrap()["id"].to_string())
        .collect();
    assert_eq!(ids, vec!["\"cpu:h1\"".to_string()], "{hits:?}");
    let inhibited = debug_values(&d, "alert_service").unwrap()["inhibited"].as_u64();
    assert_eq!(inhibited, Some(1));
    // h0 is back: its cpu alerts go out again.
    d.write("db", "autogen", "s", "up,host=h0 value=1 3");
    eventually(EVENTUALLY, "the inhibitor is cleared", || {
        d.write(
            "db",
            "autogen",
            "s",
            "cpu,host=h0 value=10 4\ncpu,host=h0 value=97 5",
        );
        hook.hits()
            .iter()
            .any(|h| h.body.contains("\"id\":\"cpu:h0\""))
            .then_some(())
    });
}
