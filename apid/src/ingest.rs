//! `POST /write` and `/kapacitor/v1/write`: InfluxDB line protocol in, points routed to the
//! task workers subscribed to the (db, rp) and measurement.
//!
//! Kapacitor's semantics (§1.3 of the reference): `db` required, `rp` defaulting to
//! `default-retention-policy`, `precision` n/u/ms/s/m/h, gzip bodies, points without a
//! timestamp get the time of the request, 204 on success, plain-text error bodies.
//!
//! Memory: the body is read within `[http] max-body-size` (413 beyond) and the shared
//! `[http] max-concurrent-write-bytes` budget (503 with `Retry-After` when it stays full,
//! see [`crate::write_budget`]), then parsed and encoded [`LINES_PER_CHUNK`] lines at a time
//! with [`crate::Registry::encode_write`], so apid holds the text, one chunk of parsed
//! points and the encoded batches (about the size of the text), never the body as parsed
//! points.
//!
//! Durability: the encoded write is then committed to the queue of every target task, all
//! or nothing ([`crate::enqueue::commit`]): 204 means every target queue committed it.
//! When a target stays full (memory and disk) for `[queue] write-timeout`, the answer is
//! 503 with `Retry-After` and a JSON error naming the task(s), and no task got the write; a
//! disk error answers 507 (no space) or 500, naming the task and the reason.
//!
//! Partial writes follow InfluxDB 1.x and Kapacitor: the lines that parse are written, and
//! the answer is 400 `partial write:\n` followed by one `unable to parse` line per refused
//! line. Each refused line also names its line number (`(line 3)`), which Kapacitor does
//! not do. A body with no good line writes nothing and answers 400 with the errors alone.

use crate::enqueue::{PendingWrite, WriteError, commit};
use crate::http::{AppState, JSON};
use crate::write_body::{BodyError, read_text};
use crate::write_budget::BudgetError;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kapacitor_models::Precision;
use kapacitor_models::line_protocol::{ParseError, PointRef, lines};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// (db, rp, measurement)
pub type IngressKey = (String, String, String);

/// Points received per (db, rp, measurement), for `/debug/vars` (`ingress`).
#[derive(Clone, Default)]
pub struct Ingress {
    counts: Arc<Mutex<HashMap<IngressKey, u64>>>,
}

impl Ingress {
    fn add(&self, db: &str, rp: &str, by_measurement: &BTreeMap<Cow<'_, str>, u64>) {
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

/// Lines parsed and routed at a time: the body is never held as parsed points, only this
/// many (one frame's worth; each [`kapacitor_models::PointRef`] costs ~300 bytes).
pub const LINES_PER_CHUNK: usize = crate::registry::POINTS_PER_FRAME;

pub async fn write(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
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
    let (text, reservation) =
        match read_text(&headers, body, state.write_limits, &state.write_budget).await {
            Ok(t) => t,
            Err(e) => return body_error(e),
        };
    let resp = parse_and_route(&state, db, rp, &text, precision).await;
    // The text first: the reservation's drop may give the memory of a burst back to the OS.
    drop(text);
    drop(reservation);
    resp
}

/// Parses and routes in chunks, in order: which lines are written, and the answer, are the
/// same as for the body parsed whole. Points stay borrowed from the body (`PointRef`): the
/// registry encodes them for the workers directly, so no owned `Point` is built here.
async fn parse_and_route(
    state: &AppState,
    db: &str,
    rp: &str,
    text: &str,
    precision: Precision,
) -> Response {
    let now = crate::api_json::now_ns();
    let mut points = Vec::with_capacity(LINES_PER_CHUNK.min(line_count_hint(text)));
    let mut errors = Vec::new();
    let mut any_written = false;
    let mut pending = PendingWrite::default();
    let mut by_measurement: BTreeMap<Cow<'_, str>, u64> = BTreeMap::new();
    for r in lines(text, precision, now) {
        match r {
            Ok(p) => points.push(p),
            Err(e) => errors.push(e),
        }
        if points.len() == LINES_PER_CHUNK {
            encode_chunk(
                state,
                db,
                rp,
                &mut points,
                &mut pending,
                &mut by_measurement,
            );
            any_written = true;
            // Let other requests (the control plane) in between chunks of a large body.
            tokio::task::yield_now().await;
        }
    }
    if !points.is_empty() {
        encode_chunk(
            state,
            db,
            rp,
            &mut points,
            &mut pending,
            &mut by_measurement,
        );
        any_written = true;
    }
    drop(points);
    if !any_written && !errors.is_empty() {
        return text_error(StatusCode::BAD_REQUEST, &describe(&errors));
    }
    let timeout = state.registry.queue_settings().write_timeout;
    if let Err(e) = commit(&state.registry, pending, timeout).await {
        return write_error(&e);
    }
    state.ingress.add(db, rp, &by_measurement);
    if !errors.is_empty() {
        return text_error(
            StatusCode::BAD_REQUEST,
            &format!("partial write:\n{}", describe(&errors)),
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

/// An upper bound of the lines in `text`.
fn line_count_hint(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count() + 1
}

/// Counts and encodes one chunk of points, leaving `points` empty for the next.
fn encode_chunk<'t>(
    state: &AppState,
    db: &str,
    rp: &str,
    points: &mut Vec<PointRef<'t>>,
    pending: &mut PendingWrite,
    by_measurement: &mut BTreeMap<Cow<'t, str>, u64>,
) {
    for p in points.iter() {
        match by_measurement.get_mut(p.name.as_ref()) {
            Some(n) => *n += 1,
            None => {
                by_measurement.insert(p.name.clone(), 1);
            }
        }
    }
    state.registry.encode_write(db, rp, points, pending);
    points.clear();
}

/// A write the queues did not take: Kapacitor's JSON error body, `Retry-After` on a 503.
fn write_error(e: &WriteError) -> Response {
    let status = e.status();
    let mut resp = crate::http::error_response(status, &e.to_string());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// 413 for a body over `max-body-size`, 503 with `Retry-After` when the write budget is
/// full, both with Kapacitor's JSON error body; other body errors as before (400, text).
fn body_error(e: BodyError) -> Response {
    match &e {
        BodyError::TooLarge { .. }
        | BodyError::TooLargeDecoded { .. }
        | BodyError::Budget(BudgetError::NeverFits { .. }) => {
            crate::http::error_response(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string())
        }
        BodyError::Budget(BudgetError::Busy { .. }) => {
            let mut resp =
                crate::http::error_response(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            resp
        }
        BodyError::Stalled(_) => {
            crate::http::error_response(StatusCode::REQUEST_TIMEOUT, &e.to_string())
        }
        BodyError::Read(_) | BodyError::Gzip(_) | BodyError::NotUtf8(_) => {
            text_error(StatusCode::BAD_REQUEST, &e.to_string())
        }
    }
}
