//! The `[load]` directory on a live daemon: templates, tasks (scripts and templated tasks)
//! and topic handlers defined from files at start, a bad file logged with its name and
//! position without stopping anything, and SIGHUP applying changes (a removed file's task
//! is deleted, a fixed file loads, a new handler appears) while API-made tasks are left alone.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;

use alerting_helpers::{Endpoint, TOPICS, enable_task};
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::path::Path;

const TASKS: &str = "/kapacitor/v1/tasks";

const TEMPLATE: &str = "var measurement string\nvar crit = 90\n\nstream\n    |from()\n        .measurement(measurement)\n    |alert()\n        .crit(lambda: \"value\" > crit)\n        .topic('cpu')\n";

const PLAIN: &str = "dbrp \"telegraf\".\"autogen\"\n\nstream\n    |from()\n        .measurement('mem')\n    |httpOut('mem')\n";

/// `|from(` is never closed: the parser stops at the end, line 5.
const BAD: &str = "dbrp \"telegraf\".\"autogen\"\n\nstream\n    |from(\n";

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn status_of(d: &Daemon, path: &str) -> u16 {
    d.try_get(path).map(|r| r.status).unwrap_or(0)
}

fn wait_status(d: &Daemon, path: &str, want: u16) {
    eventually(EVENTUALLY, &format!("GET {path} -> {want}"), || {
        (status_of(d, path) == want).then_some(())
    });
}

#[test]
fn start_and_sighup_load_the_directory() {
    let load = tempfile::tempdir().unwrap();
    let hook = Endpoint::start(false);
    let dir = load.path();
    write(dir, "templates/cpu_tmpl.tick", TEMPLATE);
    write(
        dir,
        "tasks/cpu_from_tmpl.yaml",
        "template-id: cpu_tmpl\ndbrps:\n  - { db: telegraf, rp: autogen }\nvars:\n  measurement: { type: string, value: cpu }\n",
    );
    write(dir, "tasks/plain.tick", PLAIN);
    write(dir, "tasks/bad.tick", BAD);
    write(
        dir,
        "handlers/hook.yaml",
        &format!(
            "topic: cpu\nid: hook\nkind: post\noptions:\n  url: '{}/loaded'\n",
            hook.url
        ),
    );

    let d = Daemon::start(DaemonOpts {
        extra_config: format!("[load]\nenabled = true\ndir = \"{}\"\n", dir.display()),
        ..DaemonOpts::default()
    });

    wait_status(&d, &format!("{TASKS}/cpu_from_tmpl"), 200);
    let t = d.get(&format!("{TASKS}/cpu_from_tmpl")).json();
    assert_eq!(t["template-id"], "cpu_tmpl", "{t}");
    assert_eq!(t["status"], "enabled", "{t}");
    assert_eq!(t["dbrps"][0]["db"], "telegraf", "{t}");
    wait_status(&d, "/kapacitor/v1/templates/cpu_tmpl", 200);
    let plain = d.get(&format!("{TASKS}/plain")).json();
    assert_eq!(plain["status"], "enabled", "{plain}");
    assert_eq!(plain["type"], "stream", "{plain}");
    wait_status(&d, &format!("{TOPICS}/cpu/handlers/hook"), 200);

    // The bad file is named with its position in the log; nothing else is affected.
    eventually(EVENTUALLY, "the bad file is logged", || {
        d.log()
            .lines()
            .find(|l| l.contains("bad.tick") && l.contains("file not loaded"))
            .map(str::to_string)
    });
    let line = d
        .log()
        .lines()
        .find(|l| l.contains("bad.tick") && l.contains("file not loaded"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("line 5 char 1"),
        "no line and column in {line}"
    );
    assert_eq!(status_of(&d, &format!("{TASKS}/bad")), 404);

    // End to end: the loaded task alerts, the loaded handler delivers.
    eventually(EVENTUALLY, "the templated task runs", || {
        (d.get(&format!("{TASKS}/cpu_from_tmpl")).json()["executing"] == Value::Bool(true))
            .then_some(())
    });
    d.write("telegraf", "autogen", "s", "cpu value=95 1600000000");
    let hits = hook.wait_for(1);
    assert!(hits[0].path.ends_with("/loaded"), "{:?}", hits[0].path);

    // A task made through the API is not the load directory's to delete.
    enable_task(
        &d,
        "api_task",
        PLAIN.trim_start_matches("dbrp \"telegraf\".\"autogen\"\n"),
        "telegraf",
    );

    std::fs::remove_file(dir.join("tasks/plain.tick")).unwrap();
    write(dir, "tasks/bad.tick", PLAIN);
    write(
        dir,
        "handlers/second.json",
        &format!(
            "{{\"topic\": \"mem\", \"id\": \"second\", \"kind\": \"post\", \"options\": {{\"url\": \"{}/second\"}}}}",
            hook.url
        ),
    );
    d.signal(Signal::SIGHUP);

    wait_status(&d, &format!("{TASKS}/plain"), 404);
    wait_status(&d, &format!("{TASKS}/bad"), 200);
    wait_status(&d, &format!("{TOPICS}/mem/handlers/second"), 200);
    assert_eq!(status_of(&d, &format!("{TASKS}/api_task")), 200);
    assert_eq!(status_of(&d, &format!("{TASKS}/cpu_from_tmpl")), 200);
    assert_eq!(status_of(&d, &format!("{TOPICS}/cpu/handlers/hook")), 200);
    assert!(
        d.pid() > 0 && kapacitor_tests::pid_alive(d.pid()),
        "SIGHUP must not stop the daemon"
    );

    // Removing the handler file deletes the handler.
    std::fs::remove_file(dir.join("handlers/hook.yaml")).unwrap();
    d.signal(Signal::SIGHUP);
    wait_status(&d, &format!("{TOPICS}/cpu/handlers/hook"), 404);
}

#[test]
fn disabled_load_section_loads_nothing() {
    let load = tempfile::tempdir().unwrap();
    write(load.path(), "tasks/plain.tick", PLAIN);
    let d = Daemon::start(DaemonOpts {
        extra_config: format!(
            "[load]\nenabled = false\ndir = \"{}\"\n",
            load.path().display()
        ),
        ..DaemonOpts::default()
    });
    d.signal(Signal::SIGHUP);
    eventually(EVENTUALLY, "SIGHUP logged", || {
        d.log().contains("nothing to reload").then_some(())
    });
    assert_eq!(status_of(&d, &format!("{TASKS}/plain")), 404);
}
