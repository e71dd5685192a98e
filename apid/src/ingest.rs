//! `POST /write` and `/kapacitor/v1/write`: InfluxDB line protocol in, points routed to the
//! task workers subscribed to the (db, rp) and measurement.
//!
//! Kapacitor's semantics (§1.3 of the reference): `db` required, `rp` defaulting to
//! `default-retention-policy`, `precision` n/u/ms/s/m/h, gzip bodies, points without a
//! timestamp get the time of the request, 204 on success, plain-text error bodies.
//!
//! Partial writes follow InfluxDB 1.x and Kapacitor: the lines that parse are written, and
//! the answer is 400 `partial write:\n` followed by one `unable to parse` line per refused
//! line. Each refused line also names its line number (`(line 3)`), which Kapacitor does
//! not do. A body with no good line writes nothing and answers 400 with the errors alone.

use crate::http::{AppState, JSON};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kapacitor_models::Precision;
use kapacitor_models::line_protocol::{ParseError, lines};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex};

/// Largest body accepted, compressed or not (the gzip stream is cut at this size too).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// (db, rp, measurement)
pub type IngressKey = (String, String, String);

/// Points received per (db, rp, measurement), for `/debug/vars` (`ingress`).
#[derive(Clone, Default)]
pub struct Ingress {
    counts: Arc<Mutex<HashMap<IngressKey, u64>>>,
}

impl Ingress {
    fn add(&self, db: &str, rp: &str, by_measurement: BTreeMap<&str, u64>) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (m, n) in by_measurement {
            *c.entry((db.to_string(), rp.to_string(), m.to_string()))
                .or_default() += n;
        }
    }

    /// ((db, rp, measurement), points received), sorted.
    pub fn snapshot(&self) -> Vec<(IngressKey, u64)> {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = c.iter().map(|(k, n)| (k.clone(), *n)).collect();
        v.sort();
        v
    }
}

/// A plain-text error body (with Kapacitor's JSON content type, as it sends).
fn text_error(status: StatusCode, msg: &str) -> Response {
    let mut resp = (status, format!("{msg}\n")).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    resp
}

fn describe(errors: &[ParseError]) -> String {
    errors
        .iter()
        .map(|e| format!("{e} (line {})", e.line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The body as text: borrowed unless it was gzipped.
fn read_body<'b>(headers: &HeaderMap, body: &'b Bytes) -> Result<Cow<'b, str>, String> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gzip {
        return std::str::from_utf8(body)
            .map(Cow::Borrowed)
            .map_err(|e| format!("body is not UTF-8: {e}"));
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip: {e}"))?;
    if out.len() > MAX_BODY {
        return Err(format!("body larger than {MAX_BODY} bytes after gzip"));
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|e| format!("body is not UTF-8: {e}"))
}

pub async fn write(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let q = crate::api_json::parse_query(uri.query());
    let get = |k: &str| crate::api_json::param(&q, k).unwrap_or("");
    let db = get("db");
    if db.is_empty() {
        return text_error(StatusCode::BAD_REQUEST, "database is required");
    }
    let rp = match get("rp") {
        "" => state.default_rp.as_str(),
        rp => rp,
    };
    let precision = match Precision::parse(get("precision")) {
        Ok(p) => p,
        Err(e) => return text_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let text = match read_body(&headers, &body) {
        Ok(t) => t,
        Err(e) => return text_error(StatusCode::BAD_REQUEST, &e),
    };
    let now = crate::api_json::now_ns();
    // Points stay borrowed from the body (`PointRef`): the registry encodes them for the
    // workers directly, so no owned `Point` is built on this path.
    let mut points = Vec::with_capacity(text.bytes().filter(|&b| b == b'\n').count() + 1);
    let mut errors = Vec::new();
    for r in lines(&text, precision, now) {
        match r {
            Ok(p) => points.push(p),
            Err(e) => errors.push(e),
        }
    }
    if points.is_empty() && !errors.is_empty() {
        return text_error(StatusCode::BAD_REQUEST, &describe(&errors));
    }
    if !points.is_empty() {
        let mut by_measurement: BTreeMap<&str, u64> = BTreeMap::new();
        for p in &points {
            *by_measurement.entry(p.name.as_ref()).or_default() += 1;
        }
        state.ingress.add(db, rp, by_measurement);
        state.registry.route_write(db, rp, &points);
    }
    if !errors.is_empty() {
        return text_error(
            StatusCode::BAD_REQUEST,
            &format!("partial write:\n{}", describe(&errors)),
        );
    }
    StatusCode::NO_CONTENT.into_response()
}
