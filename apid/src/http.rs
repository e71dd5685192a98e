//! The HTTP API: routes under `/kapacitor/v1` (and the same under `/kapacitor/v1preview`),
//! Kapacitor's headers on every response, and its JSON error body.

use crate::ingest::{self, Ingress};
use crate::registry::Registry;
use crate::{tasks, templates};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kapacitor_config::GoDuration;
use kapacitor_ipc::{Message, Peer, ProcessInfo, Role};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::info;

pub const BASE: &str = "/kapacitor/v1";
pub const PREVIEW: &str = "/kapacitor/v1preview";
pub const JSON: &str = "application/json; charset=utf-8";
/// How long a handler waits for the supervisor or a worker. Enabling a task waits for its
/// worker to be ready (up to 5 s in the supervisor), so this is longer.
pub const IPC_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone)]
pub struct AppState {
    pub supervisor: Peer,
    pub registry: Registry,
    pub log_enabled: bool,
    /// `default-retention-policy`: the rp of a write that names none.
    pub default_rp: String,
    pub ingress: Ingress,
    /// `[http] max-body-size` for `/write`.
    pub write_limits: crate::write_body::WriteLimits,
    /// `[http] max-concurrent-write-bytes`, shared by every `/write`.
    pub write_budget: crate::write_budget::WriteBudget,
    /// The alert service and its store client.
    pub alerts: crate::alert_host::AlertHost,
}

/// `POST /sideload/reload`: every running task's sideload nodes read their sources again;
/// 204, or Kapacitor's 500 naming what failed.
async fn sideload_reload(State(state): State<AppState>) -> Response {
    let mut failed = Vec::new();
    for task in state.registry.connected() {
        match state
            .registry
            .request(&task, Message::SideloadReload, IPC_TIMEOUT)
            .await
        {
            Ok(Message::Done) => {}
            Ok(Message::Error { message }) => failed.push(format!("{task}: {message}")),
            Ok(other) => failed.push(format!("{task}: unexpected answer {}", other.name())),
            Err(e) => failed.push(format!("{task}: {e}")),
        }
    }
    if failed.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        crate::api_json::api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to reload sideload sources: {}", failed.join("; ")),
        )
    }
}

/// Largest body of every route but `/write` (task and template definitions, handler specs,
/// config updates, recordings and replays): what axum's body extractors read at most.
pub const API_MAX_BODY: usize = 2 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    // `/write` reads its body itself, within `[http] max-body-size` and the write budget.
    let write = post(ingest::write);
    let api = Router::new()
        .route("/ping", get(ping).head(ping))
        .merge(crate::cluster::routes())
        .merge(crate::alerts::routes())
        .merge(crate::config_api::routes())
        .merge(crate::subscriptions::routes())
        .merge(crate::recordings::routes())
        .merge(crate::replays::routes())
        .route("/sideload/reload", post(sideload_reload))
        .route("/logs", get(crate::logs::stream_logs))
        .route("/debug/vars", get(debug_vars))
        .route("/debug/processes", get(debug_processes))
        .route("/write", write.clone())
        .route("/tasks", get(tasks::list_tasks).post(tasks::create_task))
        .route(
            "/tasks/{id}",
            get(tasks::get_task)
                .patch(tasks::update_task)
                .delete(tasks::delete_task),
        )
        .route("/tasks/{id}/{endpoint}", get(crate::replays::task_endpoint))
        .route(
            "/templates",
            get(templates::list_templates).post(templates::create_template),
        )
        .route(
            "/templates/{id}",
            get(templates::get_template)
                .patch(templates::update_template)
                .delete(templates::delete_template),
        );
    Router::new()
        .route("/write", write)
        .nest(BASE, api.clone())
        .nest(PREVIEW, api)
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(DefaultBodyLimit::max(API_MAX_BODY))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            common_headers,
        ))
        .with_state(state)
}

/// `X-Kapacitor-Version` and `Request-Id` on every response, and the access log line.
async fn common_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let started = Instant::now();
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.insert(
        "X-Kapacitor-Version",
        HeaderValue::from_static(kapacitor_ipc::VERSION),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("Request-Id", v);
    }
    if state.log_enabled {
        info!(
            method = %method,
            uri = %uri,
            status = resp.status().as_u16(),
            duration = ?started.elapsed(),
            request_id = %request_id,
            "http request"
        );
    }
    resp
}

/// A JSON body with Kapacitor's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    resp
}

/// Kapacitor's error body: `{"error": msg, "message": msg}`.
pub fn error_response(status: StatusCode, msg: &str) -> Response {
    json_response(status, &json!({ "error": msg, "message": msg }))
}

async fn ping() -> Response {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::NO_CONTENT.into_response())
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "Not Found")
}

fn go_duration_since(unix_ns: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    // Whole milliseconds keep the string short (`1m2.345s`).
    let ms = (now - unix_ns).max(0) as u64 / 1_000_000;
    GoDuration(Duration::from_millis(ms)).to_string()
}

fn rfc3339(unix_ns: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(unix_ns.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

async fn debug_vars(State(state): State<AppState>) -> Response {
    let status = match state
        .supervisor
        .request_timeout(Message::StatusRequest, IPC_TIMEOUT)
        .await
    {
        Ok(Message::Status(s)) => s,
        Ok(other) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("unexpected answer from the supervisor: {}", other.name()),
            );
        }
        Err(e) => {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("supervisor unavailable: {e}"),
            );
        }
    };
    let body = json!({
        "cluster_id": status.cluster_id,
        "server_id": status.server_id,
        "host": status.hostname,
        "product": "kapacitor",
        "version": kapacitor_ipc::VERSION,
        "platform": "OSS",
        "num_tasks": status.num_tasks,
        "num_enabled_tasks": status.num_enabled_tasks,
        "num_subscriptions": crate::subscriptions::count(),
        "uptime": go_duration_since(status.started_unix_ns),
        "kapacitor": kapacitor_vars(&state, &status),
    });
    json_response(StatusCode::OK, &body)
}

/// The `kapacitor` map of `/debug/vars`: `ingress` per (db, rp, measurement) as Kapacitor
/// reports it, and `task_ingress` per task (points routed to its worker and points it could
/// not take). Keys are stable names rather than Kapacitor's random ids.
fn kapacitor_vars(state: &AppState, status: &kapacitor_ipc::Status) -> Value {
    let mut m = serde_json::Map::new();
    for ((db, rp, meas), n) in state.ingress.snapshot() {
        m.insert(
            format!("ingress:{db}:{rp}:{meas}"),
            json!({
                "name": "ingress",
                "tags": {
                    "cluster_id": status.cluster_id,
                    "database": db,
                    "host": status.hostname,
                    "measurement": meas,
                    "retention_policy": rp,
                    "server_id": status.server_id,
                    "task_master": "main",
                },
                "values": {"points_received": n},
            }),
        );
    }
    for c in state.registry.task_counts() {
        m.insert(
            format!("task_ingress:{}", c.task_id),
            json!({
                "name": "task_ingress",
                "tags": {
                    "cluster_id": status.cluster_id,
                    "host": status.hostname,
                    "server_id": status.server_id,
                    "task": c.task_id,
                    "task_master": "main",
                },
                "values": ingress_values(&c),
            }),
        );
    }
    let alert_tags = json!({
        "cluster_id": status.cluster_id,
        "host": status.hostname,
        "server_id": status.server_id,
    });
    state.alerts.debug_vars(&mut m, &alert_tags);
    crate::cluster_alert::debug_vars(&mut m, &alert_tags);
    Value::Object(m)
}

/// One row of `/debug/processes`.
pub fn process_json(p: &ProcessInfo, registry: &Registry) -> Value {
    let mut row = json!({
        "role": p.role.kind(),
        "pid": p.pid,
        "state": p.state.as_str(),
        "restarts": p.restarts,
        "uptime": p.started_unix_ns.map(go_duration_since).unwrap_or_else(|| "0s".into()),
        "started": p.started_unix_ns.map(rfc3339),
        "last_exit": p.last_exit,
    });
    if let Role::Worker { task_id } = &p.role {
        row["task"] = json!(task_id);
        // Whether the worker's data link to this apid is up.
        row["connected"] = json!(registry.is_connected(task_id));
    }
    if let Some(error) = &p.error {
        row["error"] = json!(error);
    }
    row
}

async fn debug_processes(State(state): State<AppState>) -> Response {
    match state
        .supervisor
        .request_timeout(Message::ProcessTreeRequest, IPC_TIMEOUT)
        .await
    {
        Ok(Message::ProcessTree(rows)) => {
            let rows: Vec<Value> = rows
                .iter()
                .map(|p| process_json(p, &state.registry))
                .collect();
            json_response(StatusCode::OK, &Value::Array(rows))
        }
        Ok(other) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("unexpected answer from the supervisor: {}", other.name()),
        ),
        Err(e) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("supervisor unavailable: {e}"),
        ),
    }
}

/// A task's `task_ingress` values: `points_received` (points queued for it) and its queue's
/// counters ([`crate::registry::TaskCount::json_fields`]).
fn ingress_values(c: &crate::registry::TaskCount) -> Value {
    let mut m = c.json_fields();
    m.insert("points_received".into(), json!(c.points_queued));
    Value::Object(m)
}
