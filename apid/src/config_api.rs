//! The config API (`/kapacitor/v1/config`): Kapacitor's sections with their overrides.
//!
//! The supervisor owns the overrides and the effective configuration
//! (`supervisor/src/config_overrides.rs`): these routes ask it for the sections and send it
//! the changes, then apply the new configuration live to the alert service (`[slack]`,
//! `[smtp]`, ... take effect on the next event). Sections whose users cannot change live
//! (`[influxdb]`, the discovery sections) apply when those processes next start.

use crate::api_json::store_failed_status;
use crate::http::{AppState, IPC_TIMEOUT, error_response, json_response};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kapacitor_config::Config;
use kapacitor_ipc::Message;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

const CONFIG: &str = "/kapacitor/v1/config";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/config", get(get_all))
        .route("/config/", get(no_section).post(post_no_section))
        .route("/config/{section}", get(get_section).post(post_section))
        .route(
            "/config/{section}/",
            get(get_default_element).post(post_default_element),
        )
        .route(
            "/config/{section}/{element}",
            get(get_element).post(post_element),
        )
}

/// Kapacitor answers with `json.NewEncoder`: compact, with a newline.
fn ok(v: &Value) -> Response {
    let mut resp = json_response(StatusCode::OK, v);
    let body = format!("{v}\n");
    *resp.body_mut() = body.into();
    resp
}

fn disabled(state: &AppState) -> Option<Response> {
    (!state.alerts.service().config().config_override.enabled).then(|| {
        error_response(
            StatusCode::FORBIDDEN,
            "config override service is not enabled",
        )
    })
}

fn link(href: String) -> Value {
    json!({"rel": "self", "href": href})
}

fn element_href(section: &str, element: &str) -> String {
    if element.is_empty() {
        format!("{CONFIG}/{section}/")
    } else {
        format!("{CONFIG}/{section}/{element}")
    }
}

/// The supervisor's sections: `{section: [{"element", "options", "redacted"}]}`.
async fn sections(state: &AppState) -> Result<Map<String, Value>, Response> {
    let answer = state
        .supervisor
        .request_timeout(Message::ConfigSectionsRequest, IPC_TIMEOUT)
        .await;
    let fail = |m: String| {
        error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to resolve current config:{m}"),
        )
    };
    match answer {
        Ok(Message::ConfigSections { json }) => match serde_json::from_str(&json) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(fail("invalid sections from the supervisor".into())),
        },
        Ok(Message::Error { message }) => Err(fail(message)),
        Ok(other) => Err(fail(format!("unexpected answer {}", other.name()))),
        Err(e) => Err(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("supervisor unavailable: {e}"),
        )),
    }
}

fn element_json(section: &str, e: &Value) -> Value {
    let name = e["element"].as_str().unwrap_or("");
    json!({
        "link": link(element_href(section, name)),
        "options": e["options"],
        "redacted": e["redacted"],
    })
}

fn section_json(section: &str, elements: &Value) -> Value {
    let elements: Vec<Value> = elements
        .as_array()
        .map(|a| a.iter().map(|e| element_json(section, e)).collect())
        .unwrap_or_default();
    json!({
        "link": link(format!("{CONFIG}/{section}")),
        "elements": elements,
    })
}

async fn get_all(State(state): State<AppState>) -> Response {
    if let Some(r) = disabled(&state) {
        return r;
    }
    let all = match sections(&state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let out: Map<String, Value> = all
        .iter()
        .map(|(name, els)| (name.clone(), section_json(name, els)))
        .collect();
    ok(&json!({"link": link(CONFIG.to_string()), "sections": out}))
}

async fn no_section(State(state): State<AppState>) -> Response {
    if let Some(r) = disabled(&state) {
        return r;
    }
    error_response(
        StatusCode::BAD_REQUEST,
        "section not specified, do you have an extra trailing '/'?",
    )
}

async fn get_section(State(state): State<AppState>, Path(section): Path<String>) -> Response {
    if let Some(r) = disabled(&state) {
        return r;
    }
    match sections(&state).await {
        Ok(all) => match all.get(&section) {
            Some(els) => ok(&section_json(&section, els)),
            None => error_response(
                StatusCode::NOT_FOUND,
                &format!("unknown section: {section}"),
            ),
        },
        Err(r) => r,
    }
}

async fn element(state: &AppState, section: &str, element: &str) -> Response {
    if let Some(r) = disabled(state) {
        return r;
    }
    let all = match sections(state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(els) = all.get(section) else {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("unknown section: {section}"),
        );
    };
    let found = els
        .as_array()
        .and_then(|a| a.iter().find(|e| e["element"].as_str() == Some(element)));
    match found {
        Some(e) => ok(&element_json(section, e)),
        None => error_response(
            StatusCode::NOT_FOUND,
            &format!("unknown section/element: {section}/{element}"),
        ),
    }
}

async fn get_default_element(
    State(state): State<AppState>,
    Path(section): Path<String>,
) -> Response {
    element(&state, &section, "").await
}

async fn get_element(
    State(state): State<AppState>,
    Path((section, el)): Path<(String, String)>,
) -> Response {
    element(&state, &section, &el).await
}

async fn update(state: &AppState, section: &str, element: Option<&str>, body: Bytes) -> Response {
    if let Some(r) = disabled(state) {
        return r;
    }
    let action_json = match std::str::from_utf8(&body) {
        Ok(s) => s.to_string(),
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("failed to decode JSON:{e}"),
            );
        }
    };
    let msg = Message::ConfigUpdate {
        section: section.to_string(),
        element: element.map(str::to_string),
        action_json,
    };
    let toml = match state.supervisor.request_timeout(msg, IPC_TIMEOUT).await {
        Ok(Message::ConfigUpdated { toml }) => toml,
        Ok(Message::Rejected { message }) => {
            return error_response(StatusCode::BAD_REQUEST, &message);
        }
        Ok(Message::Error { message }) => {
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, &message);
        }
        Ok(Message::StoreFailed { disk_full, message }) => {
            return error_response(store_failed_status(disk_full), &message);
        }
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
    apply_live(state, &toml, section);
    StatusCode::NO_CONTENT.into_response()
}

/// Gives the alert service the new configuration. The supervisor already stored it, and
/// children it starts from now on get it, so a failure here is only logged.
fn apply_live(state: &AppState, toml: &str, section: &str) {
    match Config::from_toml(toml) {
        Ok(cfg) => {
            state.alerts.service().update_config(&cfg);
            info!(section, "configuration override applied");
        }
        Err(e) => {
            warn!(section, error = %e, "updated configuration does not parse; not applied live")
        }
    }
}

async fn post_no_section(State(state): State<AppState>, body: Bytes) -> Response {
    update(&state, "", Some(""), body).await
}

async fn post_section(
    State(state): State<AppState>,
    Path(section): Path<String>,
    body: Bytes,
) -> Response {
    update(&state, &section, None, body).await
}

async fn post_default_element(
    State(state): State<AppState>,
    Path(section): Path<String>,
    body: Bytes,
) -> Response {
    update(&state, &section, Some(""), body).await
}

async fn post_element(
    State(state): State<AppState>,
    Path((section, el)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    update(&state, &section, Some(&el), body).await
}
