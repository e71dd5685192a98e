//! The alert routes (reference §1.5): topics, their events and their handlers, with
//! Kapacitor's texts and status codes (services/alert/api.go).

use crate::api_json::{api_error, bad_request, go_quote, param, parse_query, pretty_response};
use crate::http::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kapacitor_alert::api;
use kapacitor_alert::{HandlerSpec, Level, validate_pattern};
use serde::Deserialize;
use serde_json::{Map, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts/topics", get(list_topics))
        .route(
            "/alerts/topics/{topic}",
            get(get_topic).delete(delete_topic),
        )
        .route("/alerts/topics/{topic}/events", get(list_events))
        .route("/alerts/topics/{topic}/events/{event}", get(get_event))
        .route(
            "/alerts/topics/{topic}/handlers",
            get(list_handlers).post(create_handler),
        )
        .route(
            "/alerts/topics/{topic}/handlers/{handler}",
            get(get_handler)
                .put(put_handler)
                .patch(patch_handler)
                .delete(delete_handler),
        )
}

fn ok(v: &Value) -> Response {
    pretty_response(StatusCode::OK, v)
}

fn href(uri: &OriginalUri) -> String {
    uri.0
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.0.path().to_string())
}

/// `min-level`: case-insensitive, empty is OK; Kapacitor's error text otherwise.
fn min_level(uri: &OriginalUri) -> Result<Level, Response> {
    let q = parse_query(uri.0.query());
    match param(&q, "min-level").unwrap_or("") {
        "" => Ok(Level::Ok),
        s => s.parse::<Level>().map_err(|e| bad_request(&e.to_string())),
    }
}

fn pattern(uri: &OriginalUri) -> Result<String, Response> {
    let q = parse_query(uri.0.query());
    let p = param(&q, "pattern").unwrap_or("").to_string();
    validate_pattern(&p).map_err(|e| bad_request(&format!("invalid pattern: {e}")))?;
    Ok(p)
}

async fn list_topics(State(state): State<AppState>, uri: OriginalUri) -> Response {
    let (pattern, min) = match (pattern(&uri), min_level(&uri)) {
        (Ok(p), Ok(m)) => (p, m),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match state.alerts.service().topics(&pattern, min) {
        Ok(topics) => ok(&api::topics_json(&href(&uri), &topics)),
        Err(e) => bad_request(&format!("invalid pattern: {e}")),
    }
}

async fn get_topic(State(state): State<AppState>, Path(topic): Path<String>) -> Response {
    match state.alerts.service().topic(&topic) {
        Some(t) => ok(&api::topic_json(&t)),
        None => api_error(
            StatusCode::NOT_FOUND,
            &format!("unknown topic: {}", go_quote(&topic)),
        ),
    }
}

async fn delete_topic(State(state): State<AppState>, Path(topic): Path<String>) -> Response {
    state.alerts.service().delete_topic(&topic);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_events(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    uri: OriginalUri,
) -> Response {
    let min = match min_level(&uri) {
        Ok(m) => m,
        Err(e) => return e,
    };
    match state.alerts.service().events(&topic, min) {
        Ok(events) => ok(&api::events_json(
            &format!("/kapacitor/v1/alerts/topics/{topic}/events"),
            &topic,
            &events,
        )),
        Err(e) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to get topic events: {e}"),
        ),
    }
}

async fn get_event(
    State(state): State<AppState>,
    Path((topic, event)): Path<(String, String)>,
) -> Response {
    match state.alerts.service().event(&topic, &event) {
        Some(s) => ok(&api::event_json(&topic, &event, &s)),
        None => api_error(
            StatusCode::NOT_FOUND,
            &format!(
                "unknown event {} in topic {}",
                go_quote(&event),
                go_quote(&topic)
            ),
        ),
    }
}

async fn list_handlers(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    uri: OriginalUri,
) -> Response {
    let pattern = match pattern(&uri) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let handlers = state.alerts.service().handlers(&topic, &pattern);
    ok(&api::handlers_json(&href(&uri), &topic, &handlers))
}

/// A handler body as Go decodes it: missing keys are empty (then refused by validation with
/// Kapacitor's text), a `topic` in the body is ignored (the URL names it).
#[derive(Deserialize)]
struct SpecBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    options: Option<Map<String, Value>>,
    #[serde(default, rename = "match")]
    match_: String,
}

fn spec_from(topic: &str, body: SpecBody) -> HandlerSpec {
    HandlerSpec {
        id: body.id,
        topic: topic.to_string(),
        kind: body.kind,
        options: body.options.unwrap_or_default(),
        match_: body.match_,
    }
}

fn validated(spec: HandlerSpec) -> Result<HandlerSpec, Response> {
    spec.validate()
        .map_err(|e| bad_request(&format!("invalid handler spec: {e}")))?;
    Ok(spec)
}

fn unknown_handler(id: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        &format!("unknown handler: {}", go_quote(id)),
    )
}

async fn create_handler(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    body: Bytes,
) -> Response {
    let spec = match serde_json::from_slice::<SpecBody>(&body) {
        Ok(b) => spec_from(&topic, b),
        Err(e) => return bad_request(&format!("invalid handler json: {e}")),
    };
    let spec = match validated(spec) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match state.alerts.create_handler(spec.clone()).await {
        Ok(()) => ok(&api::handler_json(&spec)),
        Err(e) => e,
    }
}

async fn get_handler(
    State(state): State<AppState>,
    Path((topic, id)): Path<(String, String)>,
) -> Response {
    match state.alerts.service().handler(&topic, &id) {
        Some(h) => ok(&api::handler_json(&h)),
        None => unknown_handler(&id),
    }
}

async fn put_handler(
    State(state): State<AppState>,
    Path((topic, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(old) = state.alerts.service().handler(&topic, &id) else {
        return unknown_handler(&id);
    };
    let spec = match serde_json::from_slice::<SpecBody>(&body) {
        Ok(b) => spec_from(&topic, b),
        Err(e) => return bad_request(&format!("failed to unmarshal JSON: {e}")),
    };
    let spec = match validated(spec) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match state.alerts.update_handler(&old, spec.clone()).await {
        Ok(()) => ok(&api::handler_json(&spec)),
        Err(e) => e,
    }
}

async fn patch_handler(
    State(state): State<AppState>,
    Path((topic, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(old) = state.alerts.service().handler(&topic, &id) else {
        return unknown_handler(&id);
    };
    let ops = match crate::json_patch::decode(&body) {
        Ok(ops) => ops,
        Err(e) => return bad_request(&format!("invalid patch json: {e}")),
    };
    let doc = match serde_json::to_value(&old) {
        Ok(d) => d,
        Err(e) => {
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to marshal JSON: {e}"),
            );
        }
    };
    let patched = match crate::json_patch::apply(&doc, &ops) {
        Ok(p) => p,
        Err(e) => return bad_request(&format!("failed to apply patch: {e}")),
    };
    let spec = match serde_json::from_value::<SpecBody>(patched) {
        Ok(b) => spec_from(&topic, b),
        Err(e) => {
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to unmarshal patched json: {e}"),
            );
        }
    };
    let spec = match validated(spec) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match state.alerts.update_handler(&old, spec.clone()).await {
        Ok(()) => ok(&api::handler_json(&spec)),
        Err(e) => e,
    }
}

async fn delete_handler(
    State(state): State<AppState>,
    Path((topic, id)): Path<(String, String)>,
) -> Response {
    match state.alerts.delete_handler(&topic, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e,
    }
}
