//! Log streaming (`GET /kapacitor/v1preview/logs`, what `kapacitor logs` and `watch` read):
//! lines from every process of the daemon reach a connected client, filtered by their logfmt
//! keys and level, as logfmt or as JSON; a repeated parameter is a 400.

#[path = "support/tasks_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Opens the stream and sends what arrives, chunk by chunk, to the returned channel.
fn stream(d: &Daemon, query: &str, accept: &str) -> mpsc::Receiver<String> {
    let addr = d.url().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    write!(
        s,
        "GET /kapacitor/v1preview/logs?{query} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n"
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                return;
            }
        }
    });
    rx
}

/// Everything received until `pred` holds for it (panics after 30 s).
fn until(rx: &mpsc::Receiver<String>, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut all = String::new();
    while Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            all.push_str(&chunk);
            if pred(&all) {
                return all;
            }
        }
    }
    panic!("timed out waiting for {what}; got: {all}");
}

#[test]
fn a_tasks_log_lines_stream_to_a_client_filtered_by_task_and_level() {
    let d = Daemon::start(DaemonOpts::default());
    let logfmt = stream(&d, "task=streamed&lvl=info%2B", "*/*");
    let as_json = stream(&d, "task=streamed", "application/json");
    // Give the streams a moment to subscribe before the lines are written.
    std::thread::sleep(Duration::from_millis(300));
    create_task(
        &d,
        json!({"id": "streamed", "type": "stream", "dbrps": [{"db": "db", "rp": "rp"}],
                "script": "stream|from().measurement('m')|httpOut('x')", "status": "enabled"}),
    );
    let text = until(&logfmt, "the worker's start line", |t| {
        t.contains("msg=\"task started\"")
    });
    assert!(text.contains("application/logfmt"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("msg=\"task started\""))
        .unwrap();
    assert!(
        line.contains("task=streamed") && line.contains("proc=task:streamed"),
        "{line}"
    );
    // Only this task's lines: nothing from apid or the supervisor without task=streamed.
    assert!(
        text.lines()
            .filter(|l| l.contains(" lvl="))
            .all(|l| l.contains("task=streamed")),
        "{text}"
    );
    let j = until(&as_json, "the JSON start line", |t| {
        t.contains("\"task started\"")
    });
    let obj = j
        .lines()
        .find(|l| l.starts_with('{') && l.contains("task started"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(obj).unwrap();
    assert_eq!(v["task"], "streamed");
    assert_eq!(v["lvl"], "info");

    let r = d.get("/kapacitor/v1preview/logs?task=a&task=b");
    assert_eq!(r.status, 400, "{}", r.body);
}
