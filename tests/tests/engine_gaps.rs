//! Engine gaps closed after the first engine issue, on a live daemon: node settings the engine
//! cannot run are refused when the task is defined (400 with line and column, nothing stored),
//! httpPost POSTs the task's data to a real endpoint, by URL or by `[[httppost]]` name, and alert
//! templates see the member's cluster and server ids.

#[path = "support/tasks_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Request {
    path: String,
    /// Lower-cased names.
    headers: BTreeMap<String, String>,
    body: String,
}

/// A one-thread HTTP/1.1 server on a free local port that answers 200 to everything and keeps
/// what it received.
fn http_server() -> (u16, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let Ok(read_half) = conn.try_clone() else {
                continue;
            };
            let mut r = BufReader::new(read_half);
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or_default().to_string();
            let mut headers = BTreeMap::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':') {
                    headers.insert(k.to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len: usize = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            seen.lock().unwrap().push(Request {
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, requests)
}

fn error_of(r: &kapacitor_tests::Response) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn node_settings_the_engine_cannot_run_are_refused_at_define_time() {
    let d = Daemon::start(DaemonOpts::default());
    let cases = [
        (
            "stream\n    |from()\n    |window()\n        .period(10s)\n        .periodCount(5)\n",
            "invalid TICKscript: line 5 char 10: window2: cannot specify both period and periodCount",
        ),
        (
            "stream\n    |from()\n    |barrier()\n",
            "invalid TICKscript: line 3 char 6: barrier2: idle must be greater than zero",
        ),
        (
            "stream\n    |from()\n    |httpPost()\n",
            "invalid TICKscript: line 3 char 6: http_post2: must provide url or endpoint",
        ),
    ];
    for (script, want) in cases {
        let r = post_json(
            &d,
            TASKS,
            &json!({"id": "bad", "type": "stream", "dbrps": [{"db": "mydb", "rp": "myrp"}],
                    "script": script, "status": "enabled"}),
        );
        assert_eq!(r.status, 400, "{script}: {}", r.body);
        assert_eq!(error_of(&r), want);
        assert_eq!(d.get(&format!("{TASKS}/bad")).status, 404);
    }
}

#[test]
fn http_post_sends_the_data_to_a_url_and_to_a_configured_endpoint() {
    let (port, requests) = http_server();
    let d = Daemon::start(DaemonOpts {
        extra_config: format!(
            "\n[[httppost]]\n  endpoint = \"local\"\n  url = \"http://127.0.0.1:{port}/configured\"\n  headers = {{ X-Config = \"yes\" }}\n"
        ),
        ..DaemonOpts::default()
    });
    let script = format!(
        "stream\n    |from()\n        .measurement('cpu')\n    |httpPost('http://127.0.0.1:{port}/direct')\n        .header('X-Node', 'n')\n        .codeField('code')\n    |httpPost()\n        .endpoint('local')\n    |httpOut('out')\n"
    );
    create_task(
        &d,
        json!({"id": "post", "type": "stream", "dbrps": [{"db": "mydb", "rp": "myrp"}],
                "script": script, "status": "enabled"}),
    );
    wait_executing(&d, "post", true);
    let r = write(&d, "db=mydb&rp=myrp&precision=s", "cpu,host=a value=2 10\n");
    assert_eq!(r.status, 204, "{}", r.body);
    let reqs = eventually(EVENTUALLY, "two POSTs", || {
        let r = requests.lock().unwrap().clone();
        (r.len() >= 2).then_some(r)
    });
    let direct = reqs
        .iter()
        .find(|r| r.path == "/direct")
        .expect("direct POST");
    assert_eq!(
        direct.body,
        "{\"series\":[{\"name\":\"cpu\",\"tags\":{\"host\":\"a\"},\"columns\":[\"time\",\"value\"],\"values\":[[\"1970-01-01T00:00:10Z\",2]]}]}\n"
    );
    assert_eq!(direct.headers["x-node"], "n");
    assert_eq!(direct.headers["content-type"], "application/json");
    // The second node sees the first one's code field.
    let configured = reqs
        .iter()
        .find(|r| r.path == "/configured")
        .expect("endpoint POST");
    assert_eq!(configured.headers["x-config"], "yes");
    assert!(
        configured
            .body
            .contains(r#""columns":["time","code","value"]"#),
        "{}",
        configured.body
    );
    let out = eventually(EVENTUALLY, "httpOut", || {
        let b = d.get(&format!("{TASKS}/post/out")).body;
        b.contains("200").then_some(b)
    });
    assert_eq!(
        out,
        r#"{"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","code","value"],"values":[["1970-01-01T00:00:10Z",200,2]]}]}"#
    );
}

#[test]
fn alert_templates_see_the_members_cluster_and_server_ids() {
    let (port, requests) = http_server();
    let d = Daemon::start(DaemonOpts::default());
    let script = format!(
        "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .crit(lambda: TRUE)\n        .message('{{{{ .ServerInfo.ClusterID }}}} {{{{ .ServerInfo.ServerID }}}}')\n        .post('http://127.0.0.1:{port}/alert')\n"
    );
    create_task(
        &d,
        json!({"id": "ids", "type": "stream", "dbrps": [{"db": "mydb", "rp": "myrp"}],
                "script": script, "status": "enabled"}),
    );
    wait_executing(&d, "ids", true);
    let r = write(&d, "db=mydb&rp=myrp&precision=s", "cpu,host=a value=2 10\n");
    assert_eq!(r.status, 204, "{}", r.body);
    let req = eventually(EVENTUALLY, "the alert POST", || {
        requests.lock().unwrap().first().cloned()
    });
    let v: serde_json::Value = serde_json::from_str(&req.body).expect("alert JSON");
    let id = |f: &str| {
        std::fs::read_to_string(d.data_dir().join(f))
            .expect("identity file")
            .trim()
            .to_string()
    };
    let want = format!("{} {}", id("cluster.id"), id("server.id"));
    assert_eq!(v["message"], want.as_str());
    assert_eq!(want.len(), 73, "two UUIDs: {want}");
}
