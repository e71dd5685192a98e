//! apid's side of the `[load]` directory: the supervisor reads the files, in order, and sends
//! each one here (`LoadItem`); this module defines it through the HTTP API itself (as
//! Kapacitor's load service does with its local client), so a file is validated exactly as a
//! request would be and the error names the line and column. The supervisor link loop of
//! apid also lives here, since these are the requests the supervisor sends apid.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode};
use kapacitor_ipc::{Inbox, Incoming, LoadKind, Message, StopReason};
use serde_json::{Map, Value, json};
use tower::ServiceExt;
use tracing::debug;

const BASE: &str = crate::http::BASE;

/// Serves the supervisor link until it says stop: `Ping`, the `[load]` requests (each on a
/// task of its own, so a slow task start never delays a ping), `Shutdown`, EOF or SIGTERM.
pub async fn serve_supervisor_link(
    inbox: &mut Inbox,
    term: &mut tokio::signal::unix::Signal,
    app: Router,
) -> StopReason {
    kapacitor_ipc::serve_until_stopped_with(inbox, term, |inc| match &inc.msg {
        Message::LoadItem { .. } | Message::LoadItemRemove { .. } => {
            tokio::spawn(serve_load(app.clone(), inc));
        }
        other => debug!(msg = other.name(), "ignored message"),
    })
    .await
}

async fn serve_load(app: Router, inc: Incoming) {
    let answer = match &inc.msg {
        Message::LoadItem {
            kind,
            id,
            format,
            text,
        } => match load(&app, *kind, id, format, text).await {
            Ok(key) => Message::LoadItemDone { key },
            Err(message) => Message::Rejected { message },
        },
        Message::LoadItemRemove { kind, key } => match remove(&app, *kind, key).await {
            Ok(()) => Message::Done,
            Err(message) => Message::Error { message },
        },
        other => Message::Error {
            message: format!("apid does not serve {}", other.name()),
        },
    };
    if inc.is_request() {
        let _ = inc.reply(answer).await;
    }
}

/// One API call through the router; the answer's status and JSON body (`Null` if none).
async fn call(
    app: &Router,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(format!("{BASE}{path}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())));
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("invalid request: {e}")}),
            );
        }
    };
    let resp = match app.clone().oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn api_message(status: StatusCode, body: &Value) -> String {
    body.get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status}"))
}

/// `call` that must succeed.
async fn must(
    app: &Router,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let (status, v) = call(app, method, path, body).await;
    if status.is_success() {
        Ok(v)
    } else {
        Err(api_message(status, &v))
    }
}

/// The current definition at `path`, or `None` when the API says 404.
async fn existing(app: &Router, path: &str) -> Result<Option<Value>, String> {
    let (status, v) = call(app, Method::GET, path, None).await;
    match status {
        s if s.is_success() => Ok(Some(v)),
        StatusCode::NOT_FOUND => Ok(None),
        s => Err(api_message(s, &v)),
    }
}

/// A YAML or JSON file as a JSON object; a syntax error names the line and column.
fn parse_doc(format: &str, text: &str) -> Result<Map<String, Value>, String> {
    let v: Value = match format {
        "json" => serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?,
        _ => serde_yaml_ng::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?,
    };
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Err("the file is empty".into()),
        _ => Err("expected a mapping of keys to values".into()),
    }
}

/// Defines one file; returns the key of what it defined.
async fn load(
    app: &Router,
    kind: LoadKind,
    id: &str,
    format: &str,
    text: &str,
) -> Result<String, String> {
    match kind {
        LoadKind::Template => load_template(app, id, text).await,
        LoadKind::Task => load_task(app, id, text).await,
        LoadKind::TaskVars => load_task_vars(app, id, format, text).await,
        LoadKind::Handler => load_handler(app, format, text).await,
    }
}

async fn load_template(app: &Router, id: &str, script: &str) -> Result<String, String> {
    let path = format!("/templates/{id}");
    match existing(app, &format!("{path}?script-format=raw")).await? {
        None => {
            must(
                app,
                Method::POST,
                "/templates",
                Some(&json!({"id": id, "script": script})),
            )
            .await?;
        }
        Some(t) if t["script"].as_str() == Some(script) => {}
        Some(_) => {
            must(app, Method::PATCH, &path, Some(&json!({"script": script}))).await?;
        }
    }
    Ok(id.to_string())
}

async fn load_task(app: &Router, id: &str, script: &str) -> Result<String, String> {
    let path = format!("/tasks/{id}?script-format=raw");
    match existing(app, &path).await? {
        None => {
            let body = json!({"id": id, "script": script, "status": "enabled"});
            must(app, Method::POST, "/tasks", Some(&body)).await?;
        }
        // Unchanged and running: a reload would only restart it.
        Some(t) if t["script"].as_str() == Some(script) && t["status"] == "enabled" => {}
        Some(_) => {
            let body = json!({"script": script, "status": "enabled"});
            must(app, Method::PATCH, &format!("/tasks/{id}"), Some(&body)).await?;
        }
    }
    Ok(id.to_string())
}

/// `tasks/<id>.yaml|json`: `template-id`, `dbrps`, `vars` (Kapacitor's `TaskVars`). With a
/// `template-id` it defines a templated task; without one it gives vars (and dbrps) to the
/// task of the same id, normally loaded from `<id>.tick` just before.
async fn load_task_vars(
    app: &Router,
    id: &str,
    format: &str,
    text: &str,
) -> Result<String, String> {
    let doc = parse_doc(format, text)?;
    for key in doc.keys() {
        if !matches!(key.as_str(), "id" | "template-id" | "dbrps" | "vars") {
            return Err(format!(
                "unknown key {key:?} (expected template-id, dbrps, vars)"
            ));
        }
    }
    let mut body = Map::new();
    for key in ["template-id", "dbrps", "vars"] {
        if let Some(v) = doc.get(key) {
            body.insert(key.to_string(), v.clone());
        }
    }
    body.insert("status".into(), json!("enabled"));
    let path = format!("/tasks/{id}");
    match existing(app, &path).await? {
        None => {
            if !body.contains_key("template-id") {
                return Err(format!(
                    "no task {id} to give vars to: a task file needs a template-id, or a {id}.tick beside it"
                ));
            }
            body.insert("id".into(), json!(id));
            must(app, Method::POST, "/tasks", Some(&Value::Object(body))).await?;
        }
        Some(_) => {
            must(app, Method::PATCH, &path, Some(&Value::Object(body))).await?;
        }
    }
    Ok(id.to_string())
}

async fn load_handler(app: &Router, format: &str, text: &str) -> Result<String, String> {
    let mut doc = parse_doc(format, text)?;
    let topic = match doc.remove("topic") {
        Some(Value::String(t)) if !t.is_empty() => t,
        _ => return Err("a handler file needs a topic".into()),
    };
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
        .ok_or("a handler file needs an id")?
        .to_string();
    if topic.contains('/') || id.contains('/') {
        return Err("topic and handler ids cannot contain '/'".into());
    }
    let body = Value::Object(doc);
    let path = format!("/alerts/topics/{topic}/handlers/{id}");
    match existing(app, &path).await? {
        None => {
            let list = format!("/alerts/topics/{topic}/handlers");
            must(app, Method::POST, &list, Some(&body)).await?;
        }
        Some(_) => {
            must(app, Method::PUT, &path, Some(&body)).await?;
        }
    }
    Ok(format!("{topic}/{id}"))
}

/// Deletes what a file that left the directory had defined (already gone is fine).
async fn remove(app: &Router, kind: LoadKind, key: &str) -> Result<(), String> {
    let path = match kind {
        LoadKind::Template => format!("/templates/{key}"),
        LoadKind::Task | LoadKind::TaskVars => format!("/tasks/{key}"),
        LoadKind::Handler => {
            let (topic, id) = key
                .split_once('/')
                .ok_or_else(|| format!("invalid handler key {key:?}"))?;
            format!("/alerts/topics/{topic}/handlers/{id}")
        }
    };
    let (status, v) = call(app, Method::DELETE, &path, None).await;
    if status.is_success() || status == StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(api_message(status, &v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_parse_with_positions_in_errors() {
        let m = parse_doc("yaml", "topic: cpu\nid: s\nkind: slack\n").unwrap();
        assert_eq!(m["topic"], "cpu");
        let e = parse_doc("yaml", "topic: cpu\n  id: [\n").unwrap_err();
        assert!(e.contains("line"), "{e}");
        let e = parse_doc("json", "{\"a\": }").unwrap_err();
        assert!(e.contains("line 1 column"), "{e}");
        assert!(parse_doc("yaml", "").is_err());
        assert!(parse_doc("yaml", "- a\n").is_err());
    }
}
