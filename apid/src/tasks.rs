//! `/kapacitor/v1/tasks`: Kapacitor's task routes. apid validates, compiles and formats
//! scripts and renders the JSON; the supervisor stores the records and runs the workers;
//! the workers answer for `dot` and `stats` while they execute.

use crate::api_json::{
    Params, api_error, bad_request, dot_view_labels, list_params, now_rfc3339, parse_query,
    pick_fields, pretty_response, script_format_raw, store_failed_status, valid_id,
};
use crate::http::{AppState, BASE, IPC_TIMEOUT, error_response};
use crate::templates::fetch_template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kapacitor_ipc::{Message, TaskState};
use kapacitor_store::{DbrpRecord, TaskRecord, TaskStatus, TemplateRecord};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tickscript::Vars;
use tickscript::pipeline::Pipeline;

/// Fields of a task in list answers, in Kapacitor's order (`allTaskFields`).
pub const ALL_TASK_FIELDS: &[&str] = &[
    "link",
    "id",
    "type",
    "dbrps",
    "script",
    "dot",
    "status",
    "executing",
    "error",
    "stats",
    "created",
    "modified",
    "last-enabled",
    "vars",
];

/// How long an answer to enabling a task waits for its ready worker to connect for data.
const SUBSCRIBE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a task's `dot` and `stats` wait for its worker. One that does not answer in time
/// (stopped, stuck, or busy in a long operation) is shown without them, as Kapacitor shows a
/// task that is not executing.
pub const WORKER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long an httpOut read waits for the task's worker before answering an error.
pub const HTTP_OUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Go's zero `time.Time`, which Kapacitor shows for a task never enabled.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DbrpBody {
    db: String,
    rp: String,
}

/// Body of create and update; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TaskBody {
    id: String,
    #[serde(rename = "template-id")]
    template_id: String,
    #[serde(rename = "type")]
    task_type: String,
    dbrps: Vec<DbrpBody>,
    script: String,
    status: String,
    vars: Map<String, Value>,
}

fn parse_body(body: &[u8]) -> Result<TaskBody, Response> {
    let b: TaskBody = serde_json::from_slice(body).map_err(|_| bad_request("invalid JSON"))?;
    match b.status.as_str() {
        "" | "enabled" | "disabled" => {}
        _ => return Err(bad_request("invalid JSON")),
    }
    match b.task_type.as_str() {
        "" | "stream" | "batch" => {}
        _ => return Err(bad_request("invalid JSON")),
    }
    Ok(b)
}

/// Task vars from a request, checked one by one so the error names the var.
pub fn parse_vars(vars: &Map<String, Value>) -> Result<Vars, String> {
    let mut out = Vars::new();
    for (name, v) in vars {
        let var: tickscript::Var =
            serde_json::from_value(v.clone()).map_err(|e| format!("invalid var {name}: {e}"))?;
        out.insert(name.clone(), var);
    }
    Ok(out)
}

/// The vars stored with a task.
pub fn record_vars(rec: &TaskRecord) -> Result<Vars, String> {
    match &rec.vars {
        Value::Null => Ok(Vars::new()),
        Value::Object(m) => parse_vars(m),
        other => Err(format!("invalid stored vars {other}")),
    }
}

/// What checking a script found.
pub struct Checked {
    pub pipeline: Pipeline,
    pub script_dbrps: Vec<DbrpRecord>,
}

/// Kapacitor's two-step validation: a parse error is returned as the parser wrote it
/// (`parser: unexpected ... line L char C ...`); a script that parses but does not build is
/// `invalid TICKscript: line L char C: ...`.
pub fn check_script(script: &str, vars: &Vars) -> Result<Checked, String> {
    let program = tickscript::parse(script).map_err(|e| e.to_string())?;
    let pipeline = tickscript::compile_program(&program, vars)
        .map_err(|e| format!("invalid TICKscript: {e}"))?;
    let script_dbrps = pipeline
        .dbrps
        .iter()
        .map(|d| DbrpRecord {
            db: d.db.clone(),
            rp: d.rp.clone(),
        })
        .collect();
    Ok(Checked {
        pipeline,
        script_dbrps,
    })
}

fn dbrps_json(dbrps: &[DbrpRecord]) -> Value {
    Value::Array(
        dbrps
            .iter()
            .map(|d| json!({"db": d.db, "rp": d.rp}))
            .collect(),
    )
}

/// Sends a request to the supervisor; an IPC failure is a 503.
pub async fn supervisor(state: &AppState, msg: Message) -> Result<Message, Response> {
    match state.supervisor.request_timeout(msg, IPC_TIMEOUT).await {
        Ok(Message::Error { message }) => {
            Err(api_error(StatusCode::INTERNAL_SERVER_ERROR, &message))
        }
        Ok(Message::Rejected { message }) => Err(bad_request(&message)),
        Ok(Message::StoreFailed { disk_full, message }) => {
            Err(api_error(store_failed_status(disk_full), &message))
        }
        Ok(m) => Ok(m),
        Err(e) => Err(api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("supervisor unavailable: {e}"),
        )),
    }
}

/// A 500 for an answer of the supervisor the request did not expect.
pub fn unexpected(m: &Message) -> Response {
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("unexpected answer from the supervisor: {}", m.name()),
    )
}

fn decode_states(states: Vec<TaskState>) -> Result<Vec<(TaskRecord, TaskState)>, Response> {
    states
        .into_iter()
        .map(|s| {
            serde_json::from_str::<TaskRecord>(&s.record_json)
                .map(|r| (r, s))
                .map_err(|e| {
                    api_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("invalid task stored in db: {e}"),
                    )
                })
        })
        .collect()
}

pub async fn fetch_task(
    state: &AppState,
    id: &str,
) -> Result<Option<(TaskRecord, TaskState)>, Response> {
    match supervisor(state, Message::TaskGetRequest { id: id.into() }).await? {
        Message::Tasks(v) => Ok(decode_states(v)?.into_iter().next()),
        other => Err(unexpected(&other)),
    }
}

pub async fn fetch_all_tasks(state: &AppState) -> Result<Vec<(TaskRecord, TaskState)>, Response> {
    match supervisor(state, Message::TaskListRequest).await? {
        Message::Tasks(v) => decode_states(v),
        other => Err(unexpected(&other)),
    }
}

/// What a task's worker told about it: its DOT with statistics and its `stats`; `None` for
/// what it did not answer in time.
#[derive(Default)]
struct Live {
    dot: Option<String>,
    stats: Option<Value>,
}

/// Whether the task is executing as the API shows it: the supervisor saw its worker build
/// the task, and its data link is up, so a write made now reaches it. A replay's worker
/// executes while the replay runs.
fn is_executing(state: &AppState, rec: &TaskRecord, st: &TaskState, replay: Option<&str>) -> bool {
    match replay {
        Some(_) => true,
        None => st.executing && state.registry.is_subscribed(&rec.id),
    }
}

/// Asks `worker` for its DOT and its stats at once, each bounded by [`WORKER_READ_TIMEOUT`].
async fn ask_live(state: &AppState, worker: &str, labels: bool) -> Live {
    let (dot, stats) = tokio::join!(
        worker_dot(state, worker, labels),
        worker_stats(state, worker)
    );
    Live { dot, stats }
}

/// The task object, keys in Kapacitor's order. `live`: ask the worker for `dot` and `stats`
/// (only needed when those fields are shown).
async fn render(
    state: &AppState,
    rec: &TaskRecord,
    st: &TaskState,
    raw: bool,
    labels: bool,
    live: bool,
) -> Map<String, Value> {
    render_in(state, rec, st, raw, labels, live, None).await
}

/// [`render`], shown as running inside the replay whose worker is `replay` (its DOT and
/// statistics), as `GET /tasks/<id>?replay-id=` does.
async fn render_in(
    state: &AppState,
    rec: &TaskRecord,
    st: &TaskState,
    raw: bool,
    labels: bool,
    live: bool,
    replay: Option<&str>,
) -> Map<String, Value> {
    let executing = is_executing(state, rec, st, replay);
    let worker_parts = if executing && live {
        Some(ask_live(state, replay.unwrap_or(&rec.id), labels).await)
    } else {
        None
    };
    render_with(rec, st, executing, raw, worker_parts)
}

/// The task object from what is known: `live` is what the worker answered (`None`: it was
/// not asked).
fn render_with(
    rec: &TaskRecord,
    st: &TaskState,
    executing: bool,
    raw: bool,
    live: Option<Live>,
) -> Map<String, Value> {
    let script = if raw {
        rec.script.clone()
    } else {
        // A script the formatter refuses is shown as stored, never hidden.
        tickscript::format(&rec.script).unwrap_or_else(|_| rec.script.clone())
    };
    let compiled = record_vars(rec)
        .and_then(|vars| tickscript::compile(&rec.script, &vars).map_err(|e| e.to_string()));
    let mut error = st.error.clone();
    let mut dot = String::new();
    let mut stats = json!({});
    match &compiled {
        Ok(pipeline) => {
            let live = live.unwrap_or_default();
            dot = live.dot.unwrap_or_else(|| pipeline.dot(&rec.id));
            if let Some(s) = live.stats {
                stats = s;
            }
        }
        Err(e) => error = e.clone(),
    }
    let mut m = Map::new();
    m.insert(
        "link".into(),
        json!({"rel": "self", "href": format!("{BASE}/tasks/{}", rec.id)}),
    );
    m.insert("id".into(), json!(rec.id));
    m.insert("template-id".into(), json!(rec.template_id));
    m.insert("type".into(), json!(rec.task_type));
    m.insert("dbrps".into(), dbrps_json(&rec.dbrps));
    m.insert("script".into(), json!(script));
    m.insert(
        "vars".into(),
        if rec.vars.is_object() {
            rec.vars.clone()
        } else {
            json!({})
        },
    );
    m.insert("dot".into(), json!(dot));
    m.insert(
        "status".into(),
        json!(match rec.status {
            TaskStatus::Enabled => "enabled",
            TaskStatus::Disabled => "disabled",
        }),
    );
    m.insert("executing".into(), json!(executing));
    m.insert("error".into(), json!(error));
    m.insert("stats".into(), stats);
    m.insert("created".into(), json!(rec.created));
    m.insert("modified".into(), json!(rec.modified));
    m.insert("last-enabled".into(), json!(rec.last_enabled));
    m
}

async fn worker_dot(state: &AppState, id: &str, labels: bool) -> Option<String> {
    match state
        .registry
        .request(id, Message::DotRequest { labels }, WORKER_READ_TIMEOUT)
        .await
    {
        Ok(Message::Dot { dot }) => Some(dot),
        _ => None,
    }
}

/// The worker's `stats`, with apid's counters of the task's queue added to `task-stats`
/// (extra keys beside Kapacitor's: points queued, sent, acknowledged and sent again, the
/// queue's depth in memory and on disk, spilled bytes, in-flight batches, write waits and
/// refusals), so that the state of the task's input is visible where the task is.
async fn worker_stats(state: &AppState, id: &str) -> Option<Value> {
    let json = match state
        .registry
        .request(id, Message::StatsRequest, WORKER_READ_TIMEOUT)
        .await
    {
        Ok(Message::Stats { json }) => json,
        _ => return None,
    };
    let mut v: Value = serde_json::from_str(&json).ok()?;
    let counts = state.registry.task_count(id);
    if let Some(ts) = v.get_mut("task-stats").and_then(Value::as_object_mut) {
        ts.extend(counts.json_fields());
    }
    Some(v)
}

fn params(uri: &Uri) -> Params {
    parse_query(uri.query())
}

pub async fn list_tasks(State(state): State<AppState>, uri: Uri) -> Response {
    let q = params(&uri);
    let (lp, raw, labels) = match (list_params(&q), script_format_raw(&q), dot_view_labels(&q)) {
        (Ok(l), Ok(r), Ok(d)) => (l, r, d),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
    };
    let fields: Vec<String> = lp
        .fields
        .clone()
        .unwrap_or_else(|| ALL_TASK_FIELDS.iter().map(|s| s.to_string()).collect());
    if let Some(bad) = fields
        .iter()
        .find(|f| !ALL_TASK_FIELDS.contains(&f.as_str()))
    {
        return bad_request(&format!(
            "unsupported field {}",
            crate::api_json::go_quote(bad)
        ));
    }
    let all = match fetch_all_tasks(&state).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    let live = fields.iter().any(|f| f == "dot" || f == "stats");
    let selected = lp.select(all.iter().map(|(r, _)| r.id.as_str()));
    let shown: Vec<(&TaskRecord, &TaskState, bool)> = all
        .iter()
        .filter(|(r, _)| selected.contains(&r.id.as_str()))
        .map(|(r, st)| (r, st, is_executing(&state, r, st, None)))
        .collect();
    // Every worker at once, each bounded; one that did not answer its last request is not
    // asked (it is probed in the background), so a stopped worker delays no list.
    let asks = shown.iter().map(|(rec, _, executing)| {
        let ask = live && *executing && state.registry.answers(&rec.id);
        let state = &state;
        async move {
            if ask {
                Some(ask_live(state, &rec.id, labels).await)
            } else {
                None
            }
        }
    });
    let answers = futures::future::join_all(asks).await;
    let mut out = Vec::with_capacity(shown.len());
    for ((rec, st, executing), live) in shown.into_iter().zip(answers) {
        let full = render_with(rec, st, executing, raw, live);
        match pick_fields(&full, &fields, ALL_TASK_FIELDS) {
            Ok(v) => out.push(v),
            Err(e) => return e,
        }
    }
    pretty_response(StatusCode::OK, &json!({ "tasks": out }))
}

pub async fn get_task(State(state): State<AppState>, Path(id): Path<String>, uri: Uri) -> Response {
    let q = params(&uri);
    let (raw, labels) = match (script_format_raw(&q), dot_view_labels(&q)) {
        (Ok(r), Ok(d)) => (r, d),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let replay = crate::api_json::param(&q, "replay-id").filter(|r| !r.is_empty());
    if let Some(r) = &replay
        && !crate::replays::is_running(&id, r)
    {
        return bad_request(&format!("no running replay with ID: {r}"));
    }
    match fetch_task(&state, &id).await {
        Ok(Some((rec, st))) => {
            let m = render_in(&state, &rec, &st, raw, labels, true, replay).await;
            pretty_response(StatusCode::OK, &Value::Object(m))
        }
        Ok(None) => api_error(StatusCode::NOT_FOUND, "no task exists"),
        Err(e) => e,
    }
}

/// Stores `rec` and answers with the task, as Kapacitor does after a create or update: a
/// task that should run but could not start is a 500 with the reason (it stays stored).
async fn put_and_answer(
    state: &AppState,
    rec: &TaskRecord,
    create: bool,
    previous_id: Option<String>,
) -> Response {
    let record_json = match serde_json::to_string(rec) {
        Ok(j) => j,
        Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let msg = Message::TaskPut {
        record_json,
        create,
        previous_id: previous_id.clone(),
    };
    let answer = match supervisor(state, msg).await {
        Ok(Message::Tasks(v)) => v,
        Ok(other) => return unexpected(&other),
        Err(e) => return e,
    };
    if let Some(old) = previous_id.filter(|o| *o != rec.id) {
        state.registry.forget(&old);
        state.alerts.task_deleted(&old);
    }
    if rec.status == TaskStatus::Disabled {
        state.registry.forget(&rec.id);
        state.alerts.task_stopped(&rec.id);
    }
    let Some(st) = answer.into_iter().next() else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "the task was not stored");
    };
    if rec.status == TaskStatus::Enabled && !st.executing && !st.error.is_empty() {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, &st.error);
    }
    if st.executing {
        // The worker is ready; give its data link a moment to come up (bounded).
        let until = std::time::Instant::now() + SUBSCRIBE_WAIT;
        let up = |id: &str| state.registry.is_subscribed(id) && state.registry.has_control(id);
        while !up(&rec.id) && std::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let m = render(state, rec, &st, false, false, true).await;
    pretty_response(StatusCode::OK, &Value::Object(m))
}

pub async fn create_task(State(state): State<AppState>, body: Bytes) -> Response {
    let b = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let id = if b.id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        b.id.clone()
    };
    if !valid_id(&id) {
        return bad_request(&format!(
            "task ID must contain only letters, numbers, '-', '.' and '_'. {}",
            crate::api_json::go_quote(&id)
        ));
    }
    match fetch_task(&state, &id).await {
        Ok(Some(_)) => return bad_request(&format!("task {id} already exists")),
        Ok(None) => {}
        Err(e) => return e,
    }
    let (script, template_id) = if !b.template_id.is_empty() {
        match fetch_template(&state, &b.template_id).await {
            Ok(Some(t)) => (t.script, b.template_id.clone()),
            Ok(None) => {
                return bad_request(&format!(
                    "unknown template {}: err: no template exists",
                    b.template_id
                ));
            }
            Err(e) => return e,
        }
    } else {
        if b.script.is_empty() {
            return bad_request("must provide TICKscript");
        }
        (b.script.clone(), String::new())
    };
    let vars = match parse_vars(&b.vars) {
        Ok(v) => v,
        Err(e) => return bad_request(&e),
    };
    let checked = match check_script(&script, &vars) {
        Ok(c) => c,
        Err(e) => return bad_request(&e),
    };
    let body_dbrps: Vec<DbrpRecord> = b
        .dbrps
        .iter()
        .map(|d| DbrpRecord {
            db: d.db.clone(),
            rp: d.rp.clone(),
        })
        .collect();
    let dbrps = match (checked.script_dbrps.is_empty(), body_dbrps.is_empty()) {
        (true, true) => return bad_request("must specify dbrp"),
        (false, false) => {
            return bad_request("cannot specify dbrp in both implicitly and explicitly");
        }
        (false, true) => checked.script_dbrps,
        (true, false) => body_dbrps,
    };
    let now = now_rfc3339();
    let enabled = b.status == "enabled";
    let rec = TaskRecord {
        id,
        template_id,
        task_type: checked.pipeline.task_type.as_str().to_string(),
        dbrps,
        script,
        vars: serde_json::to_value(&vars).unwrap_or_else(|_| json!({})),
        status: if enabled {
            TaskStatus::Enabled
        } else {
            TaskStatus::Disabled
        },
        error: String::new(),
        created: now.clone(),
        modified: now.clone(),
        last_enabled: if enabled { now } else { ZERO_TIME.into() },
    };
    put_and_answer(&state, &rec, true, None).await
}

pub async fn update_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let b = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let original = match fetch_task(&state, &id).await {
        Ok(Some((rec, _))) => rec,
        Ok(None) => return api_error(StatusCode::NOT_FOUND, "task does not exist, cannot update"),
        Err(e) => return e,
    };
    let mut updated = original.clone();
    if !b.id.is_empty() {
        if !valid_id(&b.id) {
            return bad_request(&format!(
                "task ID must contain only letters, numbers, '-', '.' and '_'. {}",
                crate::api_json::go_quote(&b.id)
            ));
        }
        updated.id = b.id.clone();
    }
    if !b.template_id.is_empty() || !updated.template_id.is_empty() {
        let tid = if b.template_id.is_empty() {
            updated.template_id.clone()
        } else {
            b.template_id.clone()
        };
        match fetch_template(&state, &tid).await {
            Ok(Some(t)) => {
                updated.script = t.script;
                updated.template_id = tid;
            }
            Ok(None) => {
                return bad_request(&format!(
                    "unknown template {}: err: no template exists",
                    b.template_id
                ));
            }
            Err(e) => return e,
        }
    } else if !b.script.is_empty() {
        let old_has = tickscript::parse(&original.script)
            .ok()
            .is_some_and(|p| program_has_dbrp(&p));
        let new_has = match tickscript::parse(&b.script) {
            Ok(p) => program_has_dbrp(&p),
            Err(e) => return bad_request(&e.to_string()),
        };
        if old_has && !new_has && b.dbrps.is_empty() {
            return bad_request("must specify dbrp");
        }
        updated.script = b.script.clone();
    }
    let vars = if b.vars.is_empty() {
        match record_vars(&updated) {
            Ok(v) => v,
            Err(e) => return bad_request(&e),
        }
    } else {
        match parse_vars(&b.vars) {
            Ok(v) => v,
            Err(e) => return bad_request(&e),
        }
    };
    let checked = match check_script(&updated.script, &vars) {
        Ok(c) => c,
        Err(e) => return bad_request(&e),
    };
    if !checked.script_dbrps.is_empty() && !b.dbrps.is_empty() {
        return bad_request("cannot specify dbrp in implicitly and explicitly");
    } else if !checked.script_dbrps.is_empty() {
        updated.dbrps = checked.script_dbrps.clone();
    } else if !b.dbrps.is_empty() {
        updated.dbrps = b
            .dbrps
            .iter()
            .map(|d| DbrpRecord {
                db: d.db.clone(),
                rp: d.rp.clone(),
            })
            .collect();
    }
    if updated.dbrps.is_empty() {
        return bad_request("must specify dbrp");
    }
    let previous = updated.status;
    match b.status.as_str() {
        "enabled" => updated.status = TaskStatus::Enabled,
        "disabled" => updated.status = TaskStatus::Disabled,
        _ => {}
    }
    updated.vars = serde_json::to_value(&vars).unwrap_or_else(|_| json!({}));
    updated.task_type = checked.pipeline.task_type.as_str().to_string();
    let now = now_rfc3339();
    updated.modified = now.clone();
    if previous != updated.status && updated.status == TaskStatus::Enabled {
        updated.last_enabled = now;
    }
    let previous_id = (original.id != updated.id).then(|| original.id.clone());
    put_and_answer(&state, &updated, false, previous_id).await
}

/// Whether a program has `dbrp` statements (without building it).
fn program_has_dbrp(p: &tickscript::ast::Program) -> bool {
    tickscript::compile_program(p, &Vars::new())
        .map(|pl| !pl.dbrps.is_empty())
        .unwrap_or_else(|_| {
            // Required vars without values stop a build; fall back on the text.
            tickscript::format_program(p)
                .lines()
                .any(|l| l.trim_start().starts_with("dbrp "))
        })
}

pub async fn delete_task(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match supervisor(&state, Message::TaskDelete { id: id.clone() }).await {
        Ok(_) => {
            state.registry.forget(&id);
            state.alerts.task_deleted(&id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e,
    }
}

/// `GET /kapacitor/v1/tasks/<id>/<endpoint>`: the body of the task's `httpOut('<endpoint>')`.
pub async fn task_endpoint(
    State(state): State<AppState>,
    Path((id, endpoint)): Path<(String, String)>,
) -> Response {
    match state
        .registry
        .request(&id, Message::HttpOutRequest { endpoint }, HTTP_OUT_TIMEOUT)
        .await
    {
        Ok(Message::HttpOutResponse { body: Some(body) }) => {
            let mut resp = (StatusCode::OK, body).into_response();
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static(crate::http::JSON),
            );
            resp
        }
        Err(e) if e.is_timeout() => api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "task {id} did not answer within {}s",
                HTTP_OUT_TIMEOUT.as_secs()
            ),
        ),
        _ => error_response(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// The task records of template `tpl`'s tasks, re-rendered for its new script (id, script,
/// type, dbrps), each checked with its own vars. The first task that would not build is the
/// error, and nothing is stored.
pub async fn retemplated_tasks(
    state: &AppState,
    old_id: &str,
    tpl: &TemplateRecord,
) -> Result<Vec<TaskRecord>, Response> {
    let all = fetch_all_tasks(state).await?;
    let mut out = Vec::new();
    for (mut rec, _) in all.into_iter().filter(|(r, _)| r.template_id == old_id) {
        let vars = record_vars(&rec).map_err(|e| bad_request(&e))?;
        let checked = check_script(&tpl.script, &vars).map_err(|e| {
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("error reloading associated task {}: {e}", rec.id),
            )
        })?;
        rec.template_id = tpl.id.clone();
        rec.script = tpl.script.clone();
        rec.task_type = checked.pipeline.task_type.as_str().to_string();
        if !checked.script_dbrps.is_empty() {
            rec.dbrps = checked.script_dbrps;
        }
        rec.modified = now_rfc3339();
        out.push(rec);
    }
    Ok(out)
}
