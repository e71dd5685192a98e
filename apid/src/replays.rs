//! `/kapacitor/v1/replays`: Kapacitor's replay routes, and the replay runner.
//!
//! A replay runs the task's TICKscript in an ephemeral worker process the supervisor starts
//! for it (`ReplayWorkerStart`; its id is the replay id, so its anonymous alert topics are
//! `main:<replay id>:<node>`), never in apid. apid feeds the worker over the normal data link
//! (`Points`, `ReplayBatches`) with backpressure: a fast clock goes as fast as the worker
//! takes the data, a real clock keeps the recorded spacing. When the input is exhausted a
//! stats request drains the worker (its link serves messages in order), the stats go into the
//! replay, and the worker is stopped. Alert handlers really fire; the task's httpOut answers
//! from the replay's worker while it runs.

use crate::alert_host::AlertHost;
use crate::api_json::{api_error, bad_request};
use crate::http::{AppState, BASE, IPC_TIMEOUT};
use crate::recordings::{list_response, new_id, parse_json, unavailable_response};
use crate::registry::Registry;
use crate::replay_store::{FAILED, FINISHED, RUNNING, ReplayMeta, Store};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kapacitor_ipc::{Dbrp, Message, Peer, TaskSpec};
use kapacitor_models::{Batch, Point};
use kapacitor_store::TaskRecord;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{error, info, warn};

/// Fields of a replay in list answers by default, in Kapacitor's order.
pub const REPLAY_LIST_FIELDS: &[&str] = &[
    "link",
    "id",
    "recording",
    "task",
    "recording-time",
    "clock",
    "date",
    "error",
    "status",
    "progress",
];
/// Every field of a replay.
pub const REPLAY_FIELDS: &[&str] = &[
    "link",
    "id",
    "recording",
    "task",
    "recording-time",
    "clock",
    "date",
    "error",
    "status",
    "progress",
    "stats",
];

/// How long the worker may take to connect its data link after it built the task.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// How long the drain (every point fed processed) may take after the last frame was sent.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// What replays and recordings share: the store and the links apid has.
pub struct Service {
    pub store: Store,
    pub supervisor: Peer,
    pub registry: Registry,
    pub alerts: AlertHost,
    pub influxdb: kapacitor_influxdb::Clusters,
    /// Task id → the replays of it now running (whose worker serves its httpOut).
    running: Mutex<HashMap<String, Vec<String>>>,
}

static SERVICE: OnceLock<Service> = OnceLock::new();

/// The service, once [`start`] opened the replay directory.
pub fn service() -> Option<&'static Service> {
    SERVICE.get()
}

/// Opens `[replay] dir` (repairing what a previous run left running) and makes recordings
/// and replays available. Replays that were running lose their worker too.
pub fn start(
    cfg: &kapacitor_config::Config,
    supervisor: Peer,
    registry: Registry,
    alerts: AlertHost,
) {
    let (store, interrupted) = match Store::open(&cfg.replay.dir) {
        Ok(s) => s,
        Err(e) => {
            error!(dir = %cfg.replay.dir.display(), error = %e,
                "cannot open the replay directory; recordings and replays are unavailable");
            return;
        }
    };
    let influxdb = kapacitor_influxdb::Clusters::from_configs(&cfg.influxdb).unwrap_or_else(|e| {
        warn!(error = %e, "[[influxdb]] unusable; batch recordings will fail");
        kapacitor_influxdb::Clusters::default()
    });
    let svc = Service {
        store,
        supervisor: supervisor.clone(),
        registry,
        alerts,
        influxdb,
        running: Mutex::new(HashMap::new()),
    };
    if SERVICE.set(svc).is_err() {
        return;
    }
    // apid restarted during a replay: its worker may still run under the supervisor.
    for id in interrupted {
        let sup = supervisor.clone();
        tokio::spawn(async move {
            let _ = sup
                .request_timeout(Message::ReplayWorkerStop { id }, IPC_TIMEOUT)
                .await;
        });
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/replays", get(list_replays).post(create_replay))
        .route("/replays/batch", post(crate::batch_recording::replay_batch))
        .route("/replays/query", post(crate::batch_recording::replay_query))
        .route("/replays/{id}", get(get_replay).delete(delete_replay))
}

/// The replay object of the API.
pub fn replay_json(r: &ReplayMeta) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "link".into(),
        json!({"rel": "self", "href": format!("{BASE}/replays/{}", r.id)}),
    );
    m.insert("id".into(), json!(r.id));
    m.insert("task".into(), json!(r.task));
    m.insert("recording".into(), json!(r.recording));
    m.insert("recording-time".into(), json!(r.recording_time));
    m.insert("clock".into(), json!(r.clock));
    m.insert("date".into(), json!(r.date));
    m.insert("error".into(), json!(r.error));
    m.insert("status".into(), json!(r.status));
    m.insert("progress".into(), json!(r.progress));
    m.insert(
        "stats".into(),
        r.stats
            .clone()
            .unwrap_or_else(|| json!({"task-stats": null, "node-stats": null})),
    );
    m
}

async fn list_replays(uri: Uri) -> Response {
    let Some(svc) = service() else {
        return unavailable_response();
    };
    list_response(
        &uri,
        svc.store.replays.all(),
        "replays",
        REPLAY_LIST_FIELDS,
        REPLAY_FIELDS,
        |r| (r.date.as_str(), r.id.as_str()),
        replay_json,
    )
}

async fn get_replay(Path(id): Path<String>) -> Response {
    let Some(svc) = service() else {
        return unavailable_response();
    };
    match svc.store.replays.get(&id) {
        Some(r) => {
            let status = if r.status == RUNNING {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            crate::api_json::pretty_response(status, &Value::Object(replay_json(&r)))
        }
        None => api_error(
            StatusCode::NOT_FOUND,
            "could not find replay: no replay exists",
        ),
    }
}

/// Kapacitor's delete: the record goes (204 also when missing); a running replay goes on.
async fn delete_replay(Path(id): Path<String>) -> Response {
    let Some(svc) = service() else {
        return unavailable_response();
    };
    match svc.store.replays.remove(&id) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => crate::recordings::index_error(&e),
    }
}

/// `clock` of a request: `fast` (default) or `real`.
pub fn parse_clock(s: &str) -> Result<&'static str, Response> {
    match s {
        "" | "fast" => Ok("fast"),
        "real" => Ok("real"),
        other => Err(bad_request(&format!("invalid JSON: unknown clock {other}"))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReplayBody {
    id: String,
    task: String,
    recording: String,
    #[serde(rename = "recording-time")]
    recording_time: bool,
    clock: String,
}

async fn create_replay(State(state): State<AppState>, body: Bytes) -> Response {
    let Some(svc) = service() else {
        return unavailable_response();
    };
    let b: ReplayBody = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let clock = match parse_clock(&b.clock) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let id = match new_id(&b.id, "replay") {
        Ok(id) => id,
        Err(e) => return e,
    };
    let task = match load_task(&state, &b.task).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    let Some(recording) = svc.store.recordings.get(&b.recording) else {
        return api_error(
            StatusCode::NOT_FOUND,
            "recording not found: no recording exists",
        );
    };
    if recording.status == RUNNING {
        return bad_request(&format!("recording {} is still running", recording.id));
    }
    if recording.kind != task.task_type {
        return bad_request(&format!(
            "cannot replay a {} recording into {} task {}",
            recording.kind, task.task_type, task.id
        ));
    }
    let path = svc.store.data_path(&recording.id, &recording.kind);
    let source = if recording.kind == "batch" {
        Source::BatchFile(path)
    } else {
        Source::StreamFile(path)
    };
    start_replay(svc, id, task, recording.id, b.recording_time, clock, source)
}

/// The task of a replay request; unknown is Kapacitor's 404 `task load: …`.
pub async fn load_task(state: &AppState, id: &str) -> Result<TaskRecord, Response> {
    match crate::tasks::fetch_task(state, id).await? {
        Some((rec, _)) => Ok(rec),
        None => Err(api_error(
            StatusCode::NOT_FOUND,
            "task load: no task exists",
        )),
    }
}

/// Registers the replay as running, starts it in the background and answers 201.
pub fn start_replay(
    svc: &'static Service,
    id: String,
    task: TaskRecord,
    recording: String,
    recording_time: bool,
    clock: &'static str,
    source: Source,
) -> Response {
    let meta = ReplayMeta {
        id: id.clone(),
        task: task.id.clone(),
        recording,
        recording_time,
        clock: clock.into(),
        date: crate::api_json::now_rfc3339(),
        error: String::new(),
        status: RUNNING.into(),
        progress: 0.0,
        stats: None,
    };
    if let Err(e) = svc.store.replays.create(meta.clone()) {
        return crate::recordings::index_error(&e);
    }
    let opts = Pace {
        real_clock: clock == "real",
        recording_time,
    };
    tokio::spawn(async move {
        info!(replay = %id, task = %task.id, "replay started");
        let result = run(svc, &id, &task, source, opts).await;
        if let Err(e) = &result {
            warn!(replay = %id, error = %e, "replay failed");
        } else {
            info!(replay = %id, "replay finished");
        }
        let now = crate::api_json::now_rfc3339();
        let _ = svc.store.replays.update(&id, |r| {
            match result {
                Ok(stats) => {
                    r.status = FINISHED.into();
                    r.stats = Some(stats);
                }
                Err(e) => {
                    r.status = FAILED.into();
                    r.error = e;
                }
            }
            r.progress = 1.0;
            r.date = now;
        });
    });
    crate::api_json::pretty_response(StatusCode::CREATED, &Value::Object(replay_json(&meta)))
}

/// Where a replay's data comes from.
pub enum Source {
    /// A `.srpl` file.
    StreamFile(PathBuf),
    /// A `.brpl` file.
    BatchFile(PathBuf),
    /// Batches already in memory (a live replay), by query node in pipeline order.
    Batches(Vec<Vec<Batch>>),
    /// Stream points already in memory (a live query replay), in time order.
    Points(Vec<(Dbrp, Point)>),
}

#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub real_clock: bool,
    pub recording_time: bool,
}

/// Runs one replay from start to cleanup; the task's stats, or why it failed.
async fn run(
    svc: &'static Service,
    id: &str,
    task: &TaskRecord,
    source: Source,
    pace: Pace,
) -> Result<Value, String> {
    let spec = TaskSpec {
        id: id.to_string(),
        task_type: task.task_type.clone(),
        dbrps: task
            .dbrps
            .iter()
            .map(|d| Dbrp {
                db: d.db.clone(),
                rp: d.rp.clone(),
            })
            .collect(),
        script: task.script.clone(),
        vars_json: if task.vars.is_null() {
            "{}".into()
        } else {
            task.vars.to_string()
        },
    };
    let started = match svc
        .supervisor
        .request_timeout(Message::ReplayWorkerStart { spec }, IPC_TIMEOUT)
        .await
    {
        Ok(Message::Done) => Ok(()),
        Ok(Message::Rejected { message }) => return Err(message),
        Ok(Message::Error { message }) => Err(message),
        Ok(other) => Err(format!(
            "unexpected answer from the supervisor: {}",
            other.name()
        )),
        Err(e) => Err(format!("supervisor unavailable: {e}")),
    };
    if let Err(e) = started {
        // A worker that failed to build the task keeps its row until it is stopped.
        stop_worker(svc, id).await;
        return Err(e);
    }
    add_running(svc, &task.id, id);
    let result = feed_and_drain(svc, id, task, source, pace).await;
    remove_running(svc, &task.id, id);
    stop_worker(svc, id).await;
    result
}

async fn feed_and_drain(
    svc: &'static Service,
    id: &str,
    task: &TaskRecord,
    source: Source,
    pace: Pace,
) -> Result<Value, String> {
    let until = Instant::now() + CONNECT_WAIT;
    let peer = loop {
        if svc.registry.is_subscribed(id)
            && let Some(p) = svc.registry.peer(id)
        {
            break p;
        }
        if Instant::now() >= until {
            return Err("the replay worker did not connect to apid".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let feeder = crate::replay_feed::Feeder::new(peer.clone(), pace);
    match source {
        Source::StreamFile(path) => feeder.stream_file(path).await?,
        Source::Points(points) => feeder.points(points).await?,
        Source::BatchFile(path) => {
            let sources = crate::batch_recording::read_brpl(&path)?;
            let nodes = crate::batch_recording::query_nodes(task)?;
            feeder.batches(sources, &nodes).await?
        }
        Source::Batches(sources) => {
            let nodes = crate::batch_recording::query_nodes(task)?;
            feeder.batches(sources, &nodes).await?
        }
    }
    // The link serves messages in order: the answer comes once every point was processed.
    let stats = match peer
        .request_timeout(Message::StatsRequest, DRAIN_TIMEOUT)
        .await
    {
        Ok(Message::Stats { json }) => serde_json::from_str::<Value>(&json)
            .map_err(|e| format!("unreadable stats from the replay worker: {e}"))?,
        Ok(other) => {
            return Err(format!(
                "unexpected answer from the replay worker: {}",
                other.name()
            ));
        }
        Err(e) => return Err(format!("the replay worker did not drain: {e}")),
    };
    // The worker sends its pending alert events before it reads the next message.
    let _ = peer.request_timeout(Message::Ping, IPC_TIMEOUT).await;
    Ok(stats)
}

/// Stops the replay's worker, waits until its link is gone (every alert event it sent has
/// been published), and drops what apid kept for it.
async fn stop_worker(svc: &Service, id: &str) {
    if let Err(e) = svc
        .supervisor
        .request_timeout(
            Message::ReplayWorkerStop { id: id.to_string() },
            IPC_TIMEOUT,
        )
        .await
    {
        warn!(replay = id, error = %e, "could not stop the replay worker");
    }
    let until = Instant::now() + Duration::from_secs(5);
    while svc.registry.is_connected(id) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    svc.registry.forget(id);
    svc.alerts.task_deleted(id);
}

fn add_running(svc: &Service, task: &str, replay: &str) {
    let mut m = svc.running.lock().unwrap_or_else(|p| p.into_inner());
    m.entry(task.to_string())
        .or_default()
        .push(replay.to_string());
}

fn remove_running(svc: &Service, task: &str, replay: &str) {
    let mut m = svc.running.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = m.get_mut(task) {
        v.retain(|r| r != replay);
        if v.is_empty() {
            m.remove(task);
        }
    }
}

/// Whether `replay` is a running replay of `task`.
pub fn is_running(task: &str, replay: &str) -> bool {
    let Some(svc) = service() else { return false };
    let m = svc.running.lock().unwrap_or_else(|p| p.into_inner());
    m.get(task).is_some_and(|v| v.iter().any(|r| r == replay))
}

/// The newest running replay of `task`, if any.
fn running_replay(task: &str) -> Option<String> {
    let svc = service()?;
    let m = svc.running.lock().unwrap_or_else(|p| p.into_inner());
    m.get(task).and_then(|v| v.last().cloned())
}

/// `GET /tasks/<id>/<endpoint>`: while a replay of the task runs, its worker answers;
/// otherwise the task's own worker.
pub async fn task_endpoint(
    state: State<AppState>,
    Path((id, endpoint)): Path<(String, String)>,
) -> Response {
    if let Some(replay) = running_replay(&id)
        && let Some(svc) = service()
        && let Ok(Message::HttpOutResponse { body: Some(body) }) = svc
            .registry
            .request(
                &replay,
                Message::HttpOutRequest {
                    endpoint: endpoint.clone(),
                },
                crate::tasks::HTTP_OUT_TIMEOUT,
            )
            .await
    {
        let mut resp = (StatusCode::OK, body).into_response();
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(crate::http::JSON),
        );
        return resp;
    }
    crate::tasks::task_endpoint(state, Path((id, endpoint))).await
}
