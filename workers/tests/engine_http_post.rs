//! `httpPost` against a real HTTP server on a local socket: the body is Kapacitor's JSON (the
//! row httpOut shows, as `{"series":[row]}` and a newline), node and endpoint headers and basic
//! auth are sent, and `.codeField()` carries the status code (0 without an answer).

use kapacitor_models::{FieldValue, Fields, Point, Tags};
use kapacitor_workers::engine::{HttpPostContext, HttpPostEndpoint, Task, TaskContext};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const S: i64 = 1_000_000_000;
const T0: i64 = 31_536_000 * S;

#[derive(Debug, Clone)]
struct Request {
    path: String,
    /// Lower-cased names.
    headers: BTreeMap<String, String>,
    body: String,
}

/// A one-thread HTTP/1.1 server answering every request with `status` and `answer`.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    fn start(status: u16, answer: &'static str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut r = BufReader::new(conn.try_clone().expect("clone"));
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
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Server { port, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn task_with(script: &str, endpoints: Vec<HttpPostEndpoint>) -> Task {
    let p = tickscript::compile(script, &tickscript::Vars::new()).expect("script compiles");
    let ctx = TaskContext {
        http_post: HttpPostContext {
            endpoints,
            poster: None,
        },
        ..TaskContext::default()
    };
    Task::new("t", &p, ctx).expect("task builds")
}

fn point(host: &str, v: f64, t: i64) -> Point {
    let mut tags = Tags::new();
    tags.insert("host".into(), host.into());
    let mut fields = Fields::new();
    fields.insert("value".into(), FieldValue::Float(v));
    Point {
        name: "cpu".into(),
        tags,
        fields,
        time: t,
    }
}

#[test]
fn points_are_posted_as_kapacitor_json_with_the_status_code() {
    let srv = Server::start(200, "ok");
    let mut t = task_with(
        &format!(
            "stream|from().measurement('cpu')|httpPost('{}').header('X-Kap', 'v1').codeField('code')|httpOut('out')",
            srv.url("/data")
        ),
        Vec::new(),
    );
    t.push_point("db", "rp", point("a", 1.5, T0));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/data");
    assert_eq!(
        reqs[0].body,
        "{\"series\":[{\"name\":\"cpu\",\"tags\":{\"host\":\"a\"},\"columns\":[\"time\",\"value\"],\"values\":[[\"1971-01-01T00:00:00Z\",1.5]]}]}\n"
    );
    assert_eq!(reqs[0].headers["content-type"], "application/json");
    assert_eq!(reqs[0].headers["x-kap"], "v1");
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","code","value"],"values":[["1971-01-01T00:00:00Z",200,1.5]]}]}"#
    );
}

#[test]
fn batches_are_posted_as_one_row() {
    let srv = Server::start(204, "");
    let mut t = task_with(
        &format!(
            "stream|from().measurement('cpu').groupBy('host')|window().period(2s).every(2s)|httpPost('{}').codeField('code')|httpOut('out')",
            srv.url("/w")
        ),
        Vec::new(),
    );
    for s in 0..3 {
        t.push_point("db", "rp", point("a", s as f64, T0 + s * S));
    }
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        reqs[0].body,
        "{\"series\":[{\"name\":\"cpu\",\"tags\":{\"host\":\"a\"},\"columns\":[\"time\",\"value\"],\"values\":[[\"1971-01-01T00:00:00Z\",0],[\"1971-01-01T00:00:01Z\",1]]}]}\n"
    );
    assert!(
        t.http_out("out")
            .unwrap()
            .contains(r#"["1971-01-01T00:00:01Z",204,1]"#)
    );
}

#[test]
fn errors_keep_the_data_flowing_with_their_code() {
    let srv = Server::start(500, "boom");
    let mut t = task_with(
        &format!(
            "stream|from()|httpPost('{}').captureResponse().codeField('code')|httpOut('out')",
            srv.url("/")
        ),
        Vec::new(),
    );
    t.push_point("db", "rp", point("a", 1.0, T0));
    assert_eq!(srv.requests().len(), 1);
    assert!(t.http_out("out").unwrap().contains(r#"500,1]"#));

    // Nothing listens: no answer is code 0, and the point still goes on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let mut t = task_with(
        &format!("stream|from()|httpPost('{url}').timeout(2s).codeField('code')|httpOut('out')"),
        Vec::new(),
    );
    t.push_point("db", "rp", point("a", 1.0, T0));
    assert!(
        t.http_out("out").unwrap().contains(
            r#""columns":["time","code","value"],"values":[["1971-01-01T00:00:00Z",0,1]]"#
        )
    );
    assert_eq!(t.stats().nodes[2].errors, 0);
}

#[test]
fn endpoints_come_from_the_httppost_config() {
    let srv = Server::start(200, "");
    let mut headers = BTreeMap::new();
    headers.insert("X-From-Config".to_string(), "c".to_string());
    headers.insert("X-Both".to_string(), "config".to_string());
    let endpoints = vec![HttpPostEndpoint {
        name: "example".into(),
        url: srv.url("/configured"),
        headers,
        basic_auth: Some(("user".into(), "pass".into())),
        row_template: false,
    }];
    let mut t = task_with(
        "stream|from()|httpPost().endpoint('example').header('X-Both', 'node')",
        endpoints.clone(),
    );
    t.push_point("db", "rp", point("a", 1.0, T0));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/configured");
    assert_eq!(reqs[0].headers["x-from-config"], "c");
    assert_eq!(reqs[0].headers["x-both"], "node");
    // base64("user:pass")
    assert_eq!(reqs[0].headers["authorization"], "Basic dXNlcjpwYXNz");

    let p = tickscript::compile(
        "stream|from()|httpPost().endpoint('nope')",
        &tickscript::Vars::new(),
    )
    .unwrap();
    let ctx = TaskContext {
        http_post: HttpPostContext {
            endpoints,
            poster: None,
        },
        ..TaskContext::default()
    };
    let err = Task::new("t", &p, ctx)
        .err()
        .expect("unknown endpoint refused");
    assert_eq!(
        err.to_string(),
        "http_post2: endpoint 'nope' does not exist"
    );
}
