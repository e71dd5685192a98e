//! Local endpoints for handler tests: a small HTTP/1.1 server that records requests, a TCP
//! sink, and helpers to build the service and events.
#![allow(dead_code)]

use kapacitor_alert::{AlertService, Event, Level, MemoryPersistence, ServiceOptions};
use kapacitor_config::Config;
use kapacitor_models::{Result as InfluxResult, Row};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

#[derive(Clone)]
pub struct HttpServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl HttpServer {
    /// Answers `status` to every request (after any queued with `then_status`).
    pub async fn start(status: u16) -> HttpServer {
        HttpServer::start_with(status, false).await
    }

    /// Accepts and reads requests but never answers.
    pub async fn hanging() -> HttpServer {
        HttpServer::start_with(200, true).await
    }

    async fn start_with(default_status: u16, hang: bool) -> HttpServer {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let statuses: Arc<Mutex<VecDeque<u16>>> = Arc::new(Mutex::new(VecDeque::new()));
        let (reqs, sts) = (requests.clone(), statuses.clone());
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = l.accept().await else {
                    return;
                };
                let (reqs, sts) = (reqs.clone(), sts.clone());
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut r = BufReader::new(r);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or("").to_string();
                        let path = parts.next().unwrap_or("").to_string();
                        let mut headers = BTreeMap::new();
                        loop {
                            let mut h = String::new();
                            if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':') {
                                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                            }
                        }
                        let len: usize = headers
                            .get("content-length")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        reqs.lock().unwrap().push(Request {
                            method,
                            path,
                            headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        if hang {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        let status = sts.lock().unwrap().pop_front().unwrap_or(default_status);
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nno"
                        );
                        if w.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        HttpServer {
            url,
            requests,
            statuses,
        }
    }

    /// The next requests get these statuses, in order.
    pub fn then_status(&self, statuses: &[u16]) {
        self.statuses.lock().unwrap().extend(statuses);
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Waits (up to 10 s) for `n` requests and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Request> {
        wait_until(|| self.count() >= n).await;
        self.requests.lock().unwrap().clone()
    }
}

/// Polls `cond` every 10 ms, for at most 10 s (a deadline against hangs, not a timing check).
pub async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 10s");
}

/// A TCP server that records each connection's bytes; answers `reply` (if any) and closes.
pub async fn tcp_sink(reply: Option<&'static str>) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            let g = g.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                match reply {
                    None => {
                        let _ = sock.read_to_end(&mut buf).await;
                    }
                    Some(r) => {
                        // A Sensu client reads one JSON document, answers, and closes.
                        let mut chunk = [0u8; 4096];
                        while !buf.ends_with(b"\n") {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let _ = sock.write_all(r.as_bytes()).await;
                    }
                }
                g.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
            });
        }
    });
    (addr, got)
}

pub fn config(toml_text: &str) -> Config {
    Config::from_toml(toml_text).unwrap_or_else(|e| panic!("bad test config: {e}"))
}

pub fn service(cfg: &Config) -> (AlertService, Arc<MemoryPersistence>) {
    service_with(cfg, &[])
}

pub fn service_with(cfg: &Config, disabled: &[&str]) -> (AlertService, Arc<MemoryPersistence>) {
    let persist = Arc::new(MemoryPersistence::default());
    let opts = ServiceOptions {
        retry: kapacitor_alert::RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        http_timeout: Duration::from_secs(5),
        exec_timeout: Duration::from_secs(5),
        client_url: Some("http://kapacitor.test:9092/kapacitor/v1".into()),
    };
    let disabled: Vec<String> = disabled.iter().map(|s| s.to_string()).collect();
    let svc = AlertService::with_options(cfg, &disabled, Box::new(persist.clone()), opts).unwrap();
    (svc, persist)
}

/// The event of Kapacitor's `TestServer_AlertJSON`, on `topic`.
pub fn event(topic: &str, level: Level) -> Event {
    Event {
        topic: topic.into(),
        id: "id".into(),
        message: "message".into(),
        details: "details".into(),
        time: 0,
        duration: 0,
        level,
        recoverable: true,
        data: InfluxResult::from_rows(vec![Row {
            name: "alert".into(),
            columns: vec!["time".into(), "value".into()],
            values: vec![vec![
                serde_json::json!("1970-01-01T00:00:00Z"),
                serde_json::json!(1),
            ]],
            ..Row::default()
        }]),
        name: "cpu".into(),
        task_name: "cpu_alert".into(),
        group: "nil".into(),
        tags: BTreeMap::from([("host".to_string(), "serverA".to_string())]),
        ..Event::default()
    }
}

/// The exact alert JSON of `event(_, CRITICAL)` with previous level OK.
pub const ALERT_JSON: &str = "{\"id\":\"id\",\"message\":\"message\",\"details\":\"details\",\"time\":\"1970-01-01T00:00:00Z\",\"duration\":0,\"level\":\"CRITICAL\",\"data\":{\"series\":[{\"name\":\"alert\",\"columns\":[\"time\",\"value\"],\"values\":[[\"1970-01-01T00:00:00Z\",1]]}]},\"previousLevel\":\"OK\",\"recoverable\":true}\n";

pub fn opts(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => panic!("options must be an object"),
    }
}
