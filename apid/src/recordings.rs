//! `/kapacitor/v1/recordings`: Kapacitor's recording routes, and the stream recorder.
//!
//! A stream recording tees what `/write` (and the InfluxDB subscriptions) route for the
//! task's dbrps and `from()` measurements into `<id>.srpl` until a point whose timestamp is
//! after `stop` arrives (Kapacitor's rule: a recording with no newer data stays running).
//! The tee costs one atomic load per write while nothing records; a recording's lines are
//! encoded on the write path and compressed by its own writer thread.

use crate::api_json::{
    api_error, bad_request, io_error_status, list_params, parse_query, pick_fields, valid_id,
};
use crate::http::{AppState, BASE};
use crate::registry::Routable;
use crate::replay_store::{FAILED, FINISHED, IndexError, RUNNING, RecordingMeta};
use crate::replays::{Service, service};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kapacitor_models::Precision;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing::{error, info};

/// Fields of a recording, in Kapacitor's order.
pub const RECORDING_FIELDS: &[&str] = &[
    "link", "id", "type", "size", "date", "error", "status", "progress",
];

/// Encoded bytes a recording may have waiting for its writer thread before it fails: a
/// recorder must never hold up `/write`, nor grow without bound behind a stalled disk.
const RECORDER_BACKLOG: usize = 64 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/recordings", get(list_recordings))
        .route("/recordings/stream", post(record_stream))
        .route(
            "/recordings/batch",
            post(crate::batch_recording::record_batch),
        )
        .route(
            "/recordings/query",
            post(crate::batch_recording::record_query),
        )
        .route(
            "/recordings/{id}",
            get(get_recording).delete(delete_recording),
        )
}

/// The recording object of the API.
pub fn recording_json(r: &RecordingMeta) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "link".into(),
        json!({"rel": "self", "href": format!("{BASE}/recordings/{}", r.id)}),
    );
    m.insert("id".into(), json!(r.id));
    m.insert("type".into(), json!(r.kind));
    m.insert("size".into(), json!(r.size));
    m.insert("date".into(), json!(r.date));
    m.insert("error".into(), json!(r.error));
    m.insert("status".into(), json!(r.status));
    m.insert("progress".into(), json!(r.progress));
    m
}

/// 201 with the recording, as every start answers.
pub fn created(r: &RecordingMeta) -> Response {
    crate::api_json::pretty_response(StatusCode::CREATED, &Value::Object(recording_json(r)))
}

/// The answer to a failed write of the recordings or replays index: 507 when the disk is
/// full, else 500 (a duplicate id is Kapacitor's 500 too).
pub fn index_error(e: &IndexError) -> Response {
    let status = e
        .io_error()
        .map(io_error_status)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    api_error(status, &e.to_string())
}

pub fn unavailable_response() -> Response {
    api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "recordings are unavailable: the replay directory could not be opened",
    )
}

async fn list_recordings(uri: Uri) -> Response {
    let Some(svc) = service() else {
        return unavailable_response();
    };
    list_response(
        &uri,
        svc.store.recordings.all(),
        "recordings",
        RECORDING_FIELDS,
        RECORDING_FIELDS,
        |r| (r.date.as_str(), r.id.as_str()),
        recording_json,
    )
}

/// `GET /recordings` and `GET /replays`: Kapacitor's list parameters (`pattern`, `fields`,
/// `offset`, `limit`) over `all`, newest first as its date index read backwards.
/// `date_id` gives an item's date and id; `to_json` its full object.
pub(crate) fn list_response<T>(
    uri: &Uri,
    mut all: Vec<T>,
    key: &str,
    default_fields: &[&str],
    known: &[&str],
    date_id: impl Fn(&T) -> (&str, &str),
    to_json: impl Fn(&T) -> Map<String, Value>,
) -> Response {
    let q = parse_query(uri.query());
    let lp = match list_params(&q) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let fields: Vec<String> = lp
        .fields
        .clone()
        .unwrap_or_else(|| default_fields.iter().map(|s| s.to_string()).collect());
    if let Some(bad) = fields.iter().find(|f| !known.contains(&f.as_str())) {
        return bad_request(&format!(
            "unsupported field {}",
            crate::api_json::go_quote(bad)
        ));
    }
    all.sort_by(|a, b| date_id(b).cmp(&date_id(a)));
    let selected = lp.select(all.iter().map(|r| date_id(r).1));
    let mut out = Vec::new();
    for r in all.iter().filter(|r| selected.contains(&date_id(r).1)) {
        match pick_fields(&to_json(r), &fields, known) {
            Ok(v) => out.push(v),
            Err(e) => return e,
        }
    }
    crate::api_json::pretty_response(StatusCode::OK, &json!({ key: out }))
}

async fn get_recording(Path(id): Path<String>) -> Response {
    let Some(svc) = service() else {
        return unavailable_response();
    };
    match svc.store.recordings.get(&id) {
        Some(r) => {
            let status = if r.status == RUNNING {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            crate::api_json::pretty_response(status, &Value::Object(recording_json(&r)))
        }
        // Kapacitor's quirk: an unknown recording is a 500.
        None => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error finding recording: no recording exists",
        ),
    }
}

async fn delete_recording(Path(id): Path<String>) -> Response {
    let Some(svc) = service() else {
        return unavailable_response();
    };
    stop_stream_recorder(&id);
    match svc.store.recordings.remove(&id) {
        Ok(Some(r)) => {
            let path = svc.store.data_path(&id, &r.kind);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return api_error(
                    io_error_status(&e),
                    &format!("deleting {}: {e}", path.display()),
                );
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => index_error(&e),
    }
}

/// The id of a new recording or replay: the request's, or a random UUID. A bad one is a 400
/// with Kapacitor's text (`what`: `recording`, `replay`).
pub fn new_id(requested: &str, what: &str) -> Result<String, Response> {
    let id = if requested.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        requested.to_string()
    };
    if !valid_id(&id) {
        return Err(bad_request(&format!(
            "{what} ID must contain only letters, numbers, '-', '.' and '_'. {}",
            crate::api_json::go_quote(&id)
        )));
    }
    Ok(id)
}

/// A JSON request body; a malformed one is a 400 naming the problem.
pub fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| bad_request(&format!("invalid JSON: {e}")))
}

/// Parses an RFC 3339 time of a request to nanoseconds.
pub fn parse_time(s: &str, what: &str) -> Result<i64, Response> {
    kapacitor_models::time_fmt::parse_rfc3339(s)
        .map_err(|e| bad_request(&format!("invalid {what} time {s:?}: {e}")))
}

/// Registers a new running recording; a duplicate id is Kapacitor's 500, an index that cannot
/// be written (disk full: 507) leaves no record behind.
pub fn create_running(svc: &Service, id: &str, kind: &str) -> Result<RecordingMeta, Response> {
    let meta = RecordingMeta {
        id: id.to_string(),
        kind: kind.into(),
        size: 0,
        date: crate::api_json::now_rfc3339(),
        error: String::new(),
        status: RUNNING.into(),
        progress: 0.0,
    };
    svc.store
        .recordings
        .create(meta.clone())
        .map_err(|e| index_error(&e))?;
    Ok(meta)
}

/// Marks a recording finished (size from its file) or failed. In memory even when the index
/// cannot be written: a recording that ended is never shown `running`.
pub fn finish_recording(svc: &Service, id: &str, kind: &str, result: Result<(), String>) {
    let size = std::fs::metadata(svc.store.data_path(id, kind))
        .map(|m| m.len())
        .unwrap_or(0);
    let now = crate::api_json::now_rfc3339();
    let updated = svc.store.recordings.update(id, |r| {
        match &result {
            Ok(()) => r.status = FINISHED.into(),
            Err(e) => {
                r.status = FAILED.into();
                r.error = e.clone();
            }
        }
        r.size = size;
        r.date = now;
        r.progress = 1.0;
    });
    match updated {
        Ok(Some(_)) => info!(recording = id, ok = result.is_ok(), "recording done"),
        // Deleted while it ran: its file goes too.
        Ok(None) => {
            let _ = std::fs::remove_file(svc.store.data_path(id, kind));
        }
        Err(e) => error!(recording = id, error = %e, "cannot store the recording's result"),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StreamBody {
    id: String,
    task: String,
    stop: String,
}

async fn record_stream(State(state): State<AppState>, body: Bytes) -> Response {
    let Some(svc) = service() else {
        return unavailable_response();
    };
    let b: StreamBody = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let id = match new_id(&b.id, "recording") {
        Ok(id) => id,
        Err(e) => return e,
    };
    let stop_ns = match parse_time(&b.stop, "stop") {
        Ok(t) => t,
        Err(e) => return e,
    };
    let task = match crate::tasks::fetch_task(&state, &b.task).await {
        Ok(Some((rec, _))) => rec,
        Ok(None) => return api_error(StatusCode::NOT_FOUND, "no task exists"),
        Err(e) => return e,
    };
    if task.task_type != "stream" {
        return bad_request(&format!(
            "task {} is a {} task; a stream recording needs a stream task",
            task.id, task.task_type
        ));
    }
    let measurements = match task_measurements(&task) {
        Ok(m) => m,
        Err(e) => return bad_request(&e),
    };
    let meta = match create_running(svc, &id, "stream") {
        Ok(m) => m,
        Err(e) => return e,
    };
    let path = svc.store.data_path(&id, "stream");
    match StreamRecorder::start(
        &id,
        &path,
        task.dbrps
            .iter()
            .map(|d| (d.db.clone(), d.rp.clone()))
            .collect(),
        measurements,
        stop_ns,
    ) {
        Ok(r) => {
            info!(recording = %id, task = %task.id, "stream recording started");
            add_recorder(r);
            created(&meta)
        }
        Err(e) => {
            error!(recording = %id, error = %e, "stream recording failed to start");
            finish_recording(svc, &id, "stream", Err(e.clone()));
            // Kapacitor's answer to a start is 201 with the recording: here already failed.
            let failed = svc.store.recordings.get(&id).unwrap_or(RecordingMeta {
                status: FAILED.into(),
                error: e,
                ..meta
            });
            created(&failed)
        }
    }
}

/// The measurements of the task's `from()` nodes; `None` when one takes every measurement.
fn task_measurements(
    task: &kapacitor_store::TaskRecord,
) -> Result<Option<HashSet<String>>, String> {
    let vars = crate::tasks::record_vars(task)?;
    let pipeline = tickscript::compile(&task.script, &vars).map_err(|e| e.to_string())?;
    let names = pipeline.measurements();
    if names.is_empty() || names.iter().any(String::is_empty) {
        return Ok(None);
    }
    Ok(Some(names.into_iter().collect()))
}

// ---- the tee ----

/// Number of active stream recorders: `/write` looks at nothing else while it is zero.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static RECORDERS: Mutex<Vec<Arc<StreamRecorder>>> = Mutex::new(Vec::new());

fn recorders() -> std::sync::MutexGuard<'static, Vec<Arc<StreamRecorder>>> {
    RECORDERS.lock().unwrap_or_else(|p| p.into_inner())
}

fn add_recorder(r: Arc<StreamRecorder>) {
    let mut all = recorders();
    all.push(r);
    ACTIVE.store(all.len(), Ordering::Release);
}

fn remove_recorder(id: &str) -> Option<Arc<StreamRecorder>> {
    let mut all = recorders();
    let i = all.iter().position(|r| r.id == id)?;
    let r = all.swap_remove(i);
    ACTIVE.store(all.len(), Ordering::Release);
    Some(r)
}

/// Stops a stream recording early (it was deleted): its writer finishes the file.
fn stop_stream_recorder(id: &str) {
    if let Some(r) = remove_recorder(id) {
        r.close();
    }
}

/// Called for every routed write: copies the points of (db, rp) into the recordings that
/// want them. Never blocks on I/O.
pub fn tee<P: Routable>(db: &str, rp: &str, points: &[P]) {
    if ACTIVE.load(Ordering::Acquire) == 0 {
        return;
    }
    let active: Vec<Arc<StreamRecorder>> = recorders().clone();
    for r in active {
        if r.offer(db, rp, points) {
            remove_recorder(&r.id);
            r.close();
        }
    }
}

/// One running stream recording.
struct StreamRecorder {
    id: String,
    dbrps: HashSet<(String, String)>,
    measurements: Option<HashSet<String>>,
    stop_ns: i64,
    /// Encoded records to the writer thread; `None` once closed.
    tx: Mutex<Option<std::sync::mpsc::Sender<Vec<u8>>>>,
    /// Bytes sent and not yet written.
    backlog: Arc<AtomicUsize>,
}

impl StreamRecorder {
    /// Creates the file and its writer thread, which marks the recording finished (or failed)
    /// when the channel closes.
    fn start(
        id: &str,
        path: &std::path::Path,
        dbrps: HashSet<(String, String)>,
        measurements: Option<HashSet<String>>,
        stop_ns: i64,
    ) -> Result<Arc<StreamRecorder>, String> {
        let file =
            std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let backlog = Arc::new(AtomicUsize::new(0));
        let writer_backlog = backlog.clone();
        let rid = id.to_string();
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                let result = write_stream(file, rx, &writer_backlog);
                if let Some(svc) = service() {
                    finish_recording(svc, &rid, "stream", result);
                }
            })
            .map_err(|e| format!("cannot start the recorder thread: {e}"))?;
        Ok(Arc::new(StreamRecorder {
            id: id.to_string(),
            dbrps,
            measurements,
            stop_ns,
            tx: Mutex::new(Some(tx)),
            backlog,
        }))
    }

    fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Records what matches; returns true when a point past `stop` arrived (the recording
    /// is done) or the recording cannot continue.
    fn offer<P: Routable>(&self, db: &str, rp: &str, points: &[P]) -> bool {
        if !self.dbrps.contains(&(db.to_string(), rp.to_string())) {
            return false;
        }
        let mut buf = String::new();
        let mut done = false;
        for p in points {
            if let Some(m) = &self.measurements
                && !m.contains(p.measurement())
            {
                continue;
            }
            let point = p.to_point();
            if point.time > self.stop_ns {
                done = true;
                break;
            }
            buf.push_str(db);
            buf.push('\n');
            buf.push_str(rp);
            buf.push('\n');
            point.push_line_protocol(&mut buf, Precision::Nanosecond);
            buf.push('\n');
        }
        if !buf.is_empty() {
            let len = buf.len();
            if self.backlog.load(Ordering::Relaxed) + len > RECORDER_BACKLOG {
                error!(recording = %self.id, "recording fell behind the write stream; stopping it");
                return true;
            }
            let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(tx) = tx.as_ref() {
                self.backlog.fetch_add(len, Ordering::Relaxed);
                if tx.send(buf.into_bytes()).is_err() {
                    return true;
                }
            }
        }
        done
    }
}

/// The writer thread's loop: gzip every chunk into the file until the channel closes.
fn write_stream(
    file: std::fs::File,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    backlog: &AtomicUsize,
) -> Result<(), String> {
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(file),
        flate2::Compression::default(),
    );
    for chunk in rx.iter() {
        backlog.fetch_sub(chunk.len(), Ordering::Relaxed);
        if let Err(e) = gz.write_all(&chunk) {
            // Dropping `rx` ends the recording: the tee's next send fails and removes it.
            return Err(format!("writing the recording: {e}"));
        }
    }
    let inner = gz
        .finish()
        .map_err(|e| format!("writing the recording: {e}"))?;
    let file = inner
        .into_inner()
        .map_err(|e| format!("writing the recording: {e}"))?;
    file.sync_all()
        .map_err(|e| format!("writing the recording: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_models::Point;
    use std::io::Read;

    fn pt(name: &str, time: i64) -> Point {
        Point {
            name: name.into(),
            tags: [("host".to_string(), "a".to_string())]
                .into_iter()
                .collect(),
            fields: [(
                "v".to_string(),
                kapacitor_models::point::FieldValue::Float(1.5),
            )]
            .into_iter()
            .collect(),
            time,
        }
    }

    /// A recording whose file cannot be written (ENOSPC, from the real `/dev/full`) ends at
    /// the first failed write with the reason, instead of staying `running` until a point
    /// after `stop` arrives.
    #[test]
    fn a_write_error_ends_the_recording_at_once() {
        let Ok(file) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            eprintln!("SKIPPED: no /dev/full here");
            return;
        };
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let backlog = AtomicUsize::new(usize::MAX / 2);
            let _ = done_tx.send(write_stream(file, rx, &backlog));
        });
        // Incompressible bytes, so that gzip's output reaches the file.
        let mut x: u64 = 1;
        let chunk: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect();
        tx.send(chunk).unwrap();
        // The sender is still open: only the failed write can have ended the writer.
        let result = done_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the writer kept going after a failed write");
        let e = result.unwrap_err();
        assert!(e.contains("No space left on device"), "{e}");
        assert!(tx.send(vec![1]).is_err(), "the tee must see the end");
    }

    #[test]
    fn a_recorder_keeps_matching_points_until_one_is_after_stop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.srpl");
        let r = StreamRecorder::start(
            "r",
            &path,
            [("db".to_string(), "rp".to_string())].into_iter().collect(),
            Some(["cpu".to_string()].into_iter().collect()),
            100,
        )
        .unwrap();
        assert!(!r.offer("db", "rp", &[pt("cpu", 10), pt("mem", 11)]));
        assert!(!r.offer("other", "rp", &[pt("cpu", 500)]));
        assert!(!r.offer("db", "rp", &[pt("cpu", 100)]));
        assert!(r.offer("db", "rp", &[pt("cpu", 101), pt("cpu", 50)]));
        r.close();
        // The writer thread finishes the gzip stream once the channel closes.
        let mut text = String::new();
        for _ in 0..200 {
            text.clear();
            let Ok(f) = std::fs::File::open(&path) else {
                continue;
            };
            if flate2::read::GzDecoder::new(f)
                .read_to_string(&mut text)
                .is_ok()
                && !text.is_empty()
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            text,
            "db\nrp\ncpu,host=a v=1.5 10\ndb\nrp\ncpu,host=a v=1.5 100\n"
        );
    }
}
