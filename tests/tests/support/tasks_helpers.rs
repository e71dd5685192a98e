//! Helpers shared by the `tasks_*` black-box tests (included with `#[path = "support/..."]`): HTTP with any
//! method and headers, task requests, the reference's stream task, and a stored-block gzip
//! writer (the tests crate has no compression dependency).
#![allow(dead_code)]

use kapacitor_tests::{Daemon, EVENTUALLY, Response, eventually};
use serde_json::{Value, json};
use std::time::Duration;

pub const TASKS: &str = "/kapacitor/v1/tasks";
pub const TEMPLATES: &str = "/kapacitor/v1/templates";

/// TestServer_StreamTask's script (reference §7.1).
pub const STREAM_SCRIPT: &str = "stream\n    |from()\n        .measurement('test')\n    |window()\n        .period(10s)\n        .every(10s)\n    |count('value')\n    |httpOut('count')\n";

/// TestServer_StreamTask's 17 points (precision s); the window [0s, 10s) holds 15 of them.
pub const STREAM_POINTS: &str = "test value=1 0000000000
test value=1 0000000001
test value=1 0000000001
test value=1 0000000002
test value=1 0000000002
test value=1 0000000003
test value=1 0000000003
test value=1 0000000004
test value=1 0000000005
test value=1 0000000005
test value=1 0000000005
test value=1 0000000006
test value=1 0000000007
test value=1 0000000008
test value=1 0000000009
test value=1 0000000010
test value=1 0000000011
";

pub const STREAM_COUNT_BODY: &str = r#"{"series":[{"name":"test","columns":["time","count"],"values":[["1970-01-01T00:00:10Z",15]]}]}"#;

/// Any request; any status is a response.
pub fn request(
    d: &Daemon,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Response {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .allow_non_standard_methods(true)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let url = format!("{}{path}", d.url());
    let mut builder = ureq::http::Request::builder().method(method).uri(&url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder
        .body(body.map(<[u8]>::to_vec).unwrap_or_default())
        .expect("request");
    let mut r = agent
        .run(req)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", d.diagnostics()));
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    Response {
        status,
        headers,
        body,
    }
}

pub fn post_json(d: &Daemon, path: &str, v: &Value) -> Response {
    request(d, "POST", path, Some(v.to_string().as_bytes()), &[])
}

pub fn patch_json(d: &Daemon, path: &str, v: &Value) -> Response {
    request(d, "PATCH", path, Some(v.to_string().as_bytes()), &[])
}

pub fn delete(d: &Daemon, path: &str) -> Response {
    request(d, "DELETE", path, None, &[])
}

pub fn write(d: &Daemon, query: &str, body: &str) -> Response {
    request(
        d,
        "POST",
        &format!("/write?{query}"),
        Some(body.as_bytes()),
        &[],
    )
}

/// Creates a task and asserts 200.
pub fn create_task(d: &Daemon, body: Value) -> Value {
    let r = post_json(d, TASKS, &body);
    assert_eq!(r.status, 200, "create {body}: {}", r.body);
    r.json()
}

pub fn stream_task(id: &str, status: &str) -> Value {
    json!({
        "id": id,
        "type": "stream",
        "dbrps": [{"db": "mydb", "rp": "myrp"}],
        "script": STREAM_SCRIPT,
        "status": status,
    })
}

pub fn get_task(d: &Daemon, id: &str) -> Value {
    let r = d.get(&format!("{TASKS}/{id}"));
    assert_eq!(r.status, 200, "GET task {id}: {}", r.body);
    r.json()
}

/// Waits until the task's `executing` is `want`; returns the task.
pub fn wait_executing(d: &Daemon, id: &str, want: bool) -> Value {
    eventually(EVENTUALLY, &format!("task {id} executing={want}"), || {
        let t = d.try_get(&format!("{TASKS}/{id}"))?;
        let v: Value = serde_json::from_str(&t.body).ok()?;
        (v["executing"] == want).then_some(v)
    })
}

/// `collected` of a node in the task's stats (0 when not executing).
pub fn collected(d: &Daemon, id: &str, node: &str) -> u64 {
    get_task(d, id)["stats"]["node-stats"][node]["collected"]
        .as_u64()
        .unwrap_or(0)
}

/// apid's routing counters of a task from `/debug/vars`: (received, dropped).
pub fn task_ingress(d: &Daemon, id: &str) -> (u64, u64) {
    let v = d.get("/kapacitor/v1/debug/vars").json();
    let e = &v["kapacitor"][format!("task_ingress:{id}")]["values"];
    (
        e["points_received"].as_u64().unwrap_or(0),
        e["points_dropped"].as_u64().unwrap_or(0),
    )
}

/// gzip of `data` with stored (uncompressed) deflate blocks: a valid gzip stream without a
/// compressor.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}
