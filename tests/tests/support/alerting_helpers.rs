//! Helpers shared by the `alerting_*` black-box tests (included with `#[path = "support/..."]`): a local HTTP
//! endpoint that records what alert handlers post to it (or never answers), and alert reads.
#![allow(dead_code)]

use kapacitor_tests::{Daemon, EVENTUALLY, eventually};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOPICS: &str = "/kapacitor/v1/alerts/topics";

/// One request a handler made.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub content_type: Option<String>,
    /// Every header, names lower-cased.
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
    /// When the request arrived.
    pub at: Instant,
}

/// A local HTTP endpoint on 127.0.0.1. `hang`: requests are read and recorded but never
/// answered (the connection stays open until the test ends).
pub struct Endpoint {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Endpoint {
    pub fn start(hang: bool) -> Endpoint {
        Endpoint::listen(
            TcpListener::bind("127.0.0.1:0").expect("bind the endpoint"),
            hang,
        )
    }

    /// An answering endpoint on a given port: the same URL in several network namespaces.
    pub fn start_on(port: u16) -> Endpoint {
        Endpoint::listen(
            TcpListener::bind(("127.0.0.1", port)).expect("bind the endpoint"),
            false,
        )
    }

    fn listen(listener: TcpListener, hang: bool) -> Endpoint {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = hits.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let recorded = recorded.clone();
                if hang {
                    if let Ok(clone) = stream.try_clone() {
                        held.push(clone);
                    }
                    std::thread::spawn(move || {
                        if let Some(hit) = read_request(&stream) {
                            recorded.lock().unwrap().push(hit);
                        }
                        std::thread::sleep(Duration::from_secs(3600));
                    });
                } else {
                    std::thread::spawn(move || serve(stream, recorded));
                }
            }
        });
        Endpoint { url, hits }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The request bodies so far.
    pub fn bodies(&self) -> Vec<String> {
        self.hits().into_iter().map(|h| h.body).collect()
    }

    /// Waits until `n` requests arrived; returns them.
    pub fn wait_for(&self, n: usize) -> Vec<Hit> {
        eventually(EVENTUALLY, &format!("{n} requests at {}", self.url), || {
            let hits = self.hits();
            (hits.len() >= n).then_some(hits)
        })
    }
}

fn serve(stream: TcpStream, recorded: Arc<Mutex<Vec<Hit>>>) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    // Keep-alive: one connection may carry many requests.
    let mut reader = BufReader::new(stream);
    while let Some(hit) = read_one(&mut reader) {
        recorded.lock().unwrap().push(hit);
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Hit> {
    read_one(&mut BufReader::new(stream.try_clone().ok()?))
}

fn read_one<R: Read>(reader: &mut BufReader<R>) -> Option<Hit> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = std::collections::BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = match headers.get("content-length") {
        Some(l) => l.parse().ok()?,
        None => 0,
    };
    let content_type = headers.get("content-type").cloned();
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Hit {
        path,
        content_type,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    })
}

/// `/debug/vars` → `kapacitor` → `key` → `values`, if present.
pub fn debug_values(d: &Daemon, key: &str) -> Option<Value> {
    let r = d.try_get("/kapacitor/v1/debug/vars")?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    let vals = v["kapacitor"][key]["values"].clone();
    (!vals.is_null()).then_some(vals)
}

/// A counter of a handler (`sent`, `failed`, `dropped`...).
pub fn handler_counter(d: &Daemon, topic: &str, id: &str, counter: &str) -> u64 {
    debug_values(d, &format!("alert_handlers:{topic}:{id}"))
        .and_then(|v| v[counter].as_u64())
        .unwrap_or(0)
}

/// Waits until the topic collected at least `n` events.
pub fn wait_collected(d: &Daemon, topic: &str, n: u64) {
    eventually(EVENTUALLY, &format!("topic {topic} collected {n}"), || {
        let r = d.try_get(&format!("{TOPICS}/{topic}"))?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        (v["collected"].as_u64()? >= n).then_some(())
    })
}

/// Waits until every topic state change was saved by the supervisor.
pub fn wait_states_saved(d: &Daemon) {
    eventually(EVENTUALLY, "topic states saved", || {
        let v = debug_values(d, "alert_service")?;
        (v["state_changes_pending"].as_u64()? == 0).then_some(())
    })
}

/// Creates and enables a stream task on `db.autogen`; asserts 200.
pub fn enable_task(d: &Daemon, id: &str, script: &str, db: &str) {
    let body = serde_json::json!({
        "id": id,
        "type": "stream",
        "dbrps": [{"db": db, "rp": "autogen"}],
        "script": script,
        "status": "enabled",
    });
    let r = d.post_json("/kapacitor/v1/tasks", &body);
    assert_eq!(r.status, 200, "create task {id}: {}", r.body);
    eventually(EVENTUALLY, &format!("task {id} executing"), || {
        let t = d.try_get(&format!("/kapacitor/v1/tasks/{id}"))?;
        let v: Value = serde_json::from_str(&t.body).ok()?;
        (v["executing"] == Value::Bool(true)).then_some(())
    });
}

/// The ids of a topic's events with their levels, sorted (`None` while the topic is unknown
/// or the member does not answer).
pub fn topic_events(d: &Daemon, topic: &str) -> Option<Vec<(String, String)>> {
    let r = d.try_get(&format!("{TOPICS}/{topic}/events"))?;
    if r.status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&r.body).ok()?;
    let mut out: Vec<(String, String)> = v["events"]
        .as_array()?
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap_or_default().to_string(),
                e["state"]["level"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    Some(out)
}
