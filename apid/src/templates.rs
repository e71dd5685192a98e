//! `/kapacitor/v1/templates`: task templates. A template is a script with declared vars;
//! tasks created from it (`template-id`) take its script, and updating it reloads them.

use crate::api_json::{
    api_error, bad_request, go_quote, list_params, now_rfc3339, parse_query, pick_fields,
    pretty_response, script_format_raw, valid_id,
};
use crate::http::{AppState, BASE};
use crate::tasks::{retemplated_tasks, supervisor, unexpected};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kapacitor_ipc::Message;
use kapacitor_store::TemplateRecord;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tickscript::pipeline::Pipeline;
use tickscript::{Var, VarType, VarValue, Vars};

/// Default fields of template list answers (`vars` on request).
const DEFAULT_FIELDS: &[&str] = &[
    "link", "id", "type", "script", "dot", "error", "created", "modified",
];
const ALL_FIELDS: &[&str] = &[
    "link", "id", "type", "script", "dot", "error", "created", "modified", "vars",
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TemplateBody {
    id: String,
    #[serde(rename = "type")]
    task_type: String,
    script: String,
}

/// A stand-in value of each type, so a template whose required vars have no value yet can
/// still be built (for validation and its DOT).
fn placeholder(ty: VarType) -> VarValue {
    match ty {
        VarType::Bool => VarValue::Bool(false),
        VarType::Int => VarValue::Int(0),
        VarType::Float => VarValue::Float(0.0),
        VarType::String => VarValue::String(String::new()),
        VarType::Regex => VarValue::Regex(".*".into()),
        VarType::Duration => VarValue::Duration(1_000_000_000),
        VarType::Lambda => VarValue::Lambda("TRUE".into()),
        VarType::List => VarValue::List(Vec::new()),
        VarType::Star => VarValue::Star,
    }
}

/// Parses and builds a template's script: (declared vars, pipeline). Errors are worded as
/// for tasks (`parser: ...` or `invalid TICKscript: ...`).
pub fn check_template(script: &str) -> Result<(Vars, Pipeline), String> {
    let program = tickscript::parse(script).map_err(|e| e.to_string())?;
    let declared = tickscript::declared_vars(&program);
    let mut filled = Vars::new();
    for (name, v) in &declared.0 {
        if v.value == VarValue::Null {
            filled.insert(name.clone(), Var::new(v.ty, placeholder(v.ty)));
        }
    }
    let pipeline = tickscript::compile_program(&program, &filled)
        .map_err(|e| format!("invalid TICKscript: {e}"))?;
    Ok((declared, pipeline))
}

pub async fn fetch_template(
    state: &AppState,
    id: &str,
) -> Result<Option<TemplateRecord>, Response> {
    match supervisor(state, Message::TemplateGetRequest { id: id.into() }).await? {
        Message::Templates(v) => match v.first() {
            Some(j) => serde_json::from_str(j).map(Some).map_err(|e| {
                api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("invalid template stored in db: {e}"),
                )
            }),
            None => Ok(None),
        },
        other => Err(unexpected(&other)),
    }
}

fn render(t: &TemplateRecord, raw: bool) -> Map<String, Value> {
    let script = if raw {
        t.script.clone()
    } else {
        tickscript::format(&t.script).unwrap_or_else(|_| t.script.clone())
    };
    let (vars, dot, error) = match check_template(&t.script) {
        Ok((vars, pipeline)) => (
            serde_json::to_value(&vars).unwrap_or_else(|_| json!({})),
            pipeline.dot(&t.id),
            t.error.clone(),
        ),
        Err(e) => (json!({}), String::new(), e),
    };
    let mut m = Map::new();
    m.insert(
        "link".into(),
        json!({"rel": "self", "href": format!("{BASE}/templates/{}", t.id)}),
    );
    m.insert("id".into(), json!(t.id));
    m.insert("type".into(), json!(t.task_type));
    m.insert("script".into(), json!(script));
    m.insert("vars".into(), vars);
    m.insert("dot".into(), json!(dot));
    m.insert("error".into(), json!(error));
    m.insert("created".into(), json!(t.created));
    m.insert("modified".into(), json!(t.modified));
    m
}

pub async fn list_templates(State(state): State<AppState>, uri: Uri) -> Response {
    let q = parse_query(uri.query());
    let (lp, raw) = match (list_params(&q), script_format_raw(&q)) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let fields: Vec<String> = lp
        .fields
        .clone()
        .unwrap_or_else(|| DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect());
    let all: Vec<TemplateRecord> = match supervisor(&state, Message::TemplateListRequest).await {
        Ok(Message::Templates(v)) => v
            .iter()
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect(),
        Ok(other) => return unexpected(&other),
        Err(e) => return e,
    };
    let selected = lp.select(all.iter().map(|t| t.id.as_str()));
    let mut out = Vec::new();
    for t in all.iter().filter(|t| selected.contains(&t.id.as_str())) {
        match pick_fields(&render(t, raw), &fields, ALL_FIELDS) {
            Ok(v) => out.push(v),
            Err(e) => return e,
        }
    }
    pretty_response(StatusCode::OK, &json!({ "templates": out }))
}

pub async fn get_template(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let q = parse_query(uri.query());
    let raw = match script_format_raw(&q) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match fetch_template(&state, &id).await {
        Ok(Some(t)) => pretty_response(StatusCode::OK, &Value::Object(render(&t, raw))),
        Ok(None) => api_error(StatusCode::NOT_FOUND, "no template exists"),
        Err(e) => e,
    }
}

fn parse_body(body: &[u8]) -> Result<TemplateBody, Response> {
    let b: TemplateBody = serde_json::from_slice(body).map_err(|_| bad_request("invalid JSON"))?;
    match b.task_type.as_str() {
        "" | "stream" | "batch" => Ok(b),
        _ => Err(bad_request("invalid JSON")),
    }
}

async fn store(
    state: &AppState,
    t: &TemplateRecord,
    create: bool,
    previous_id: Option<String>,
    tasks: Vec<kapacitor_store::TaskRecord>,
) -> Response {
    let (Ok(record_json), Ok(tasks_json)) = (
        serde_json::to_string(t),
        tasks
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>(),
    ) else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the template",
        );
    };
    let msg = Message::TemplatePut {
        record_json,
        create,
        previous_id,
        tasks_json,
    };
    match supervisor(state, msg).await {
        Ok(_) => pretty_response(StatusCode::OK, &Value::Object(render(t, false))),
        Err(e) => e,
    }
}

pub async fn create_template(State(state): State<AppState>, body: Bytes) -> Response {
    let b = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let id = if b.id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        b.id
    };
    if !valid_id(&id) {
        return bad_request(&format!(
            "template ID must contain only letters, numbers, '-', '.' and '_'. {}",
            go_quote(&id)
        ));
    }
    match fetch_template(&state, &id).await {
        Ok(Some(_)) => return bad_request(&format!("template {id} already exists")),
        Ok(None) => {}
        Err(e) => return e,
    }
    if b.script.is_empty() {
        return bad_request("must provide TICKscript");
    }
    let pipeline = match check_template(&b.script) {
        Ok((_, p)) => p,
        Err(e) => return bad_request(&e),
    };
    let now = now_rfc3339();
    let t = TemplateRecord {
        id,
        task_type: pipeline.task_type.as_str().to_string(),
        script: b.script,
        error: String::new(),
        created: now.clone(),
        modified: now,
    };
    store(&state, &t, true, None, Vec::new()).await
}

pub async fn update_template(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let b = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let original = match fetch_template(&state, &id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return api_error(
                StatusCode::NOT_FOUND,
                "template does not exist, cannot update",
            );
        }
        Err(e) => return e,
    };
    let mut updated = original.clone();
    if !b.id.is_empty() {
        if !valid_id(&b.id) {
            return bad_request(&format!(
                "template ID must contain only letters, numbers, '-', '.' and '_'. {}",
                go_quote(&b.id)
            ));
        }
        updated.id = b.id;
    }
    if !b.script.is_empty() {
        updated.script = b.script;
    }
    let pipeline = match check_template(&updated.script) {
        Ok((_, p)) => p,
        Err(e) => return bad_request(&e),
    };
    updated.task_type = pipeline.task_type.as_str().to_string();
    updated.modified = now_rfc3339();
    let tasks = match retemplated_tasks(&state, &original.id, &updated).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    let previous_id = (original.id != updated.id).then(|| original.id.clone());
    store(&state, &updated, false, previous_id, tasks).await
}

pub async fn delete_template(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match supervisor(&state, Message::TemplateDelete { id }).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_with_required_vars_build_for_validation() {
        let script = "var measurement string\nvar crit lambda\nstream|from().measurement(measurement)|alert().crit(crit)";
        let (vars, pipeline) = check_template(script).unwrap();
        let j = serde_json::to_value(&vars).unwrap();
        assert_eq!(j["measurement"]["value"], Value::Null);
        assert_eq!(j["crit"]["type"], "lambda");
        assert!(pipeline.dot("t").contains("stream0 -> from1;"));
        let e = check_template("stream|from()\n|nope()").unwrap_err();
        assert!(e.starts_with("invalid TICKscript: line 2 char"), "{e}");
    }
}
