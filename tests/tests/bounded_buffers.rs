//! Buffers an outside party controls stay bounded on the real daemon: an `exec` handler's
//! output, the log line that reports it, and `sideload()` sources that are not regular files.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;

use alerting_helpers::{TOPICS, debug_values, enable_task};
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::json;

/// `VmHWM` (peak RSS) of a process in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_exec_handler_printing_100_mb_keeps_apid_under_100_mb() {
    let d = Daemon::start(DaemonOpts::default());
    // 100 MB of output after a NUL, then failure: the output ends up in the error.
    let prog = "printf 'start\\0nul '; head -c 100000000 /dev/zero | tr '\\0' x; exit 3";
    let r = d.post_json(
        &format!("{TOPICS}/cpu/handlers"),
        &json!({"id": "loud", "kind": "exec",
                "options": {"prog": "/bin/sh", "args": ["-c", prog]}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    enable_task(
        &d,
        "cpu_exec",
        "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .crit(lambda: \"value\" > 90)\n        .topic('cpu')\n",
        "telegraf",
    );
    let apid = d.running_pid("apid");
    d.write("telegraf", "autogen", "s", "cpu value=95 1600000000");
    eventually(EVENTUALLY, "the exec handler failed", || {
        let v = debug_values(&d, "alert_handlers:cpu:loud")?;
        (v["failed"] == 1).then_some(())
    });
    let peak = peak_kib(apid);
    assert!(
        peak < 100 * 1024,
        "apid's peak RSS was {peak} KiB with a program printing 100 MB"
    );
    let log = d.log();
    let line = log
        .lines()
        .find(|l| l.contains("exec command failed"))
        .expect("the failure is logged");
    assert!(line.len() < 16 * 1024, "a log line of {} bytes", line.len());
    assert!(line.contains("start\\x00nul xxxx"), "{}", &line[..300]);
    assert!(
        line.contains("more bytes of output not shown, 100000010 in all]"),
        "{line}"
    );
    assert!(line.contains("exit status: 3"), "{line}");
}

#[test]
fn a_sideload_source_with_a_fifo_fails_the_task_naming_it_without_blocking() {
    let d = Daemon::start(DaemonOpts::default());
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("default.json"), r#"{"threshold": 1}"#).unwrap();
    let fifo = src.path().join("hosts.yml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let script = format!(
        "stream\n    |from()\n        .measurement('cpu')\n    |sideload()\n        .source('file://{}')\n        .order('default.json')\n        .field('threshold', 0.0)\n    |httpOut('out')\n",
        src.path().display()
    );
    let r = d.post_json(
        "/kapacitor/v1/tasks",
        &json!({"id": "side", "type": "stream", "dbrps": [{"db": "db", "rp": "rp"}],
                "script": script, "status": "enabled"}),
    );
    assert_eq!(r.status, 500, "{}", r.body);
    let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.contains("hosts.yml") && msg.contains("is a FIFO"),
        "{msg}"
    );
    let task = d.task("side");
    assert_eq!(task["executing"], false);
    assert!(
        task["error"]
            .as_str()
            .is_some_and(|e| e.contains("is a FIFO")),
        "{task}"
    );
}
