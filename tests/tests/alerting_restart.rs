//! Alert state across restarts: topic event states and handler specs survive `kill -9` of
//! the API process (which hosts the alert service) and a restart of the whole daemon; events
//! keep flowing afterwards. The test reports how many events were lost in the window of an
//! apid kill while alerts flow.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;

use alerting_helpers::{Endpoint, TOPICS, enable_task, wait_states_saved};
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually, http};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const SCRIPT: &str = "stream
    |from()
        .measurement('cpu')
        .groupBy('host')
    |alert()
        .id('{{ index .Tags \"host\" }}')
        .crit(lambda: \"value\" > 90)
        .topic('cpu')
";

const T0: u64 = 1_600_000_000;

fn kill_apid(d: &Daemon) {
    let pid = d.running_pid("apid");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill apid");
    eventually(EVENTUALLY, "apid restarted", || {
        let row = d.child("apid")?;
        (row.state == "running" && row.pid.is_some_and(|p| p != pid)).then_some(())
    });
}

/// Event ids of the topic with their levels, once the topic answers.
fn events(d: &Daemon) -> Vec<(String, String)> {
    let r = eventually(EVENTUALLY, "topic events readable", || {
        d.try_get(&format!("{TOPICS}/cpu/events"))
            .filter(|r| r.status == 200)
    });
    let v: Value = r.json();
    let mut out: Vec<(String, String)> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["state"]["level"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn ids_received(hook: &Endpoint) -> BTreeSet<String> {
    hook.hits()
        .iter()
        .filter_map(|h| serde_json::from_str::<Value>(&h.body).ok())
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn alert_state_survives_apid_kill_and_daemon_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        ..DaemonOpts::default()
    };
    let hook = Endpoint::start(false);
    let mut d = Daemon::start(opts.clone());
    let r = d.post_json(
        &format!("{TOPICS}/cpu/handlers"),
        &json!({"id": "hook", "kind": "post", "options": {"url": format!("{}/a", hook.url)}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    enable_task(&d, "cpu_r", SCRIPT, "telegraf");

    // h0..h4 critical; h5 critical then back to OK (an OK state is not kept on disk).
    let mut lines: Vec<String> = (0..6)
        .map(|i| format!("cpu,host=h{i} value=95 {T0}"))
        .collect();
    lines.push(format!("cpu,host=h5 value=10 {}", T0 + 1));
    d.write("telegraf", "autogen", "s", &lines.join("\n"));
    hook.wait_for(7);
    wait_states_saved(&d);
    let critical: Vec<(String, String)> = (0..5)
        .map(|i| (format!("h{i}"), "CRITICAL".to_string()))
        .collect();

    kill_apid(&d);
    // Before any new event: the restored states, the stored handler.
    assert_eq!(events(&d), critical);
    let topic = d.get(&format!("{TOPICS}/cpu")).json();
    assert_eq!(topic["level"], "CRITICAL");
    assert_eq!(topic["collected"], 0, "collected is not persisted");
    assert_eq!(d.get(&format!("{TOPICS}/cpu/handlers/hook")).status, 200);
    // The worker reconnected: the task runs and events flow again.
    eventually(EVENTUALLY, "task reconnected", || {
        let t: Value = serde_json::from_str(&d.try_get("/kapacitor/v1/tasks/cpu_r")?.body).ok()?;
        (t["executing"] == Value::Bool(true)).then_some(())
    });
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!("cpu,host=h0 value=10 {}", T0 + 2),
    );
    eventually(EVENTUALLY, "h0 recovery delivered", || {
        hook.hits()
            .iter()
            .any(|h| h.body.contains("\"id\":\"h0\"") && h.body.contains("\"level\":\"OK\""))
            .then_some(())
    });
    let recovered = hook
        .hits()
        .into_iter()
        .rev()
        .find(|h| h.body.contains("\"id\":\"h0\""))
        .unwrap();
    assert!(
        recovered.body.contains("\"previousLevel\":\"CRITICAL\""),
        "the restored state is the previous level: {}",
        recovered.body
    );

    // Alerts flowing while apid is killed: every accepted write makes one new event id.
    let url = d.url();
    let writer = std::thread::spawn(move || {
        let mut accepted = Vec::new();
        for seq in 0..300u64 {
            let line = format!("cpu,host=s{seq} value=95 {}", T0 + 10 + seq);
            let r = http::post(
                &format!("{url}/kapacitor/v1/write?db=telegraf&rp=autogen&precision=s"),
                &line,
            );
            if r.is_ok_and(|r| r.status == 204) {
                accepted.push(seq);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        accepted
    });
    eventually(EVENTUALLY, "alerts flowing", || {
        (ids_received(&hook)
            .iter()
            .filter(|id| id.starts_with('s'))
            .count()
            >= 30)
            .then_some(())
    });
    kill_apid(&d);
    let accepted = writer.join().unwrap();
    let last = *accepted
        .last()
        .expect("writes were accepted after the restart");
    eventually(EVENTUALLY, "the last accepted event delivered", || {
        ids_received(&hook)
            .contains(&format!("s{last}"))
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let got = ids_received(&hook);
    let lost: Vec<u64> = accepted
        .iter()
        .copied()
        .filter(|s| !got.contains(&format!("s{s}")))
        .collect();
    println!(
        "apid kill -9 while alerts flow: {} writes accepted, {} events delivered, {} lost {:?}",
        accepted.len(),
        accepted.len() - lost.len(),
        lost.len(),
        lost
    );
    assert!(
        accepted.len() > lost.len() + 30,
        "events must keep flowing after the restart"
    );
    wait_states_saved(&d);

    // The whole daemon restarts: states and handler come back from the store.
    let before = events(&d);
    d.stop();
    drop(d);
    let d = Daemon::start(opts);
    assert_eq!(events(&d), before);
    assert_eq!(d.get(&format!("{TOPICS}/cpu/handlers/hook")).status, 200);
}

#[test]
fn a_restarted_task_continues_from_its_alert_levels() {
    // Kapacitor restores each event id's last level when a task starts: a state-changes-only
    // alert does not fire again after its worker is killed, and the recovery still comes
    // (with the incident's duration continuing).
    let d = Daemon::start(DaemonOpts::default());
    let hook = Endpoint::start(false);
    let script = format!(
        "stream\n    |from()\n        .measurement('cpu')\n        .groupBy('host')\n    |alert()\n        .id('{{{{ index .Tags \"host\" }}}}')\n        .crit(lambda: \"value\" > 90)\n        .stateChangesOnly()\n        .post('{}/sco')\n",
        hook.url
    );
    enable_task(&d, "sco", &script, "telegraf");
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!("cpu,host=h0 value=95 {T0}"),
    );
    hook.wait_for(1);

    let pid = d.running_pid("sco");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill the worker");
    eventually(EVENTUALLY, "the task's worker restarted", || {
        let row = d.child("sco")?;
        let t: Value = serde_json::from_str(&d.try_get("/kapacitor/v1/tasks/sco")?.body).ok()?;
        (row.pid.is_some_and(|p| p != pid) && t["executing"] == Value::Bool(true)).then_some(())
    });
    // Still critical: no new event. Then the recovery, whose previous level is CRITICAL.
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!("cpu,host=h0 value=96 {}", T0 + 10),
    );
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!("cpu,host=h0 value=10 {}", T0 + 20),
    );
    let hits = hook.wait_for(2);
    std::thread::sleep(Duration::from_millis(500));
    let hits = hook.hits().len().max(hits.len());
    assert_eq!(
        hits,
        2,
        "the critical event again after the restart: {:?}",
        hook.hits()
    );
    let recovery: Value = serde_json::from_str(&hook.hits()[1].body).unwrap();
    assert_eq!(recovery["level"], "OK");
    assert_eq!(recovery["previousLevel"], "CRITICAL");
    assert_eq!(
        recovery["duration"].as_i64(),
        Some(20_000_000_000),
        "the incident started before the restart"
    );
}
