//! What the task and template routes share: Kapacitor's pretty JSON bodies, ids, list
//! parameters (`pattern`, `fields`, `offset`, `limit`, `script-format`), glob matching and
//! timestamps.

use crate::http::JSON;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// Go's `json.MarshalIndent(v, "", "    ")`, as Kapacitor writes API bodies.
pub fn pretty(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    if v.serialize(&mut ser).is_err() {
        return v.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| v.to_string())
}

pub fn pretty_response(status: StatusCode, v: &Value) -> Response {
    let mut resp = (status, pretty(v)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    resp
}

/// Kapacitor's error body, pretty-printed as its task handlers write it.
pub fn api_error(status: StatusCode, msg: &str) -> Response {
    pretty_response(status, &json!({ "error": msg, "message": msg }))
}

/// The status of the supervisor's `StoreFailed` answer: 507 Insufficient Storage when the
/// disk or quota is full, else 500.
pub fn store_failed_status(disk_full: bool) -> StatusCode {
    if disk_full {
        StatusCode::INSUFFICIENT_STORAGE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// The status of a failed write of apid's own files: 507 when the disk or quota is full.
pub fn io_error_status(e: &std::io::Error) -> StatusCode {
    store_failed_status(kapacitor_store::is_disk_full(e))
}

pub fn bad_request(msg: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, msg)
}

/// `^[-\._\p{L}0-9]+$`, Kapacitor's rule for task and template ids.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c == '-' || c == '.' || c == '_' || c.is_ascii_digit() || c.is_alphabetic())
}

/// Now as Go's RFC3339Nano (what Kapacitor stores in `created`, `modified`...).
pub fn now_rfc3339() -> String {
    kapacitor_models::time_fmt::rfc3339_nano(now_ns())
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Query parameters with repeats kept (`fields=a&fields=b`).
pub type Params = Vec<(String, String)>;

pub fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `script-format`: `true` for raw.
pub fn script_format_raw(params: &Params) -> Result<bool, Response> {
    match param(params, "script-format").unwrap_or("") {
        "" | "formatted" => Ok(false),
        "raw" => Ok(true),
        other => Err(bad_request(&format!(
            "invalid script-format parameter {}",
            go_quote(other)
        ))),
    }
}

/// `dot-view`: `true` for labels.
pub fn dot_view_labels(params: &Params) -> Result<bool, Response> {
    match param(params, "dot-view").unwrap_or("") {
        "" | "attributes" => Ok(false),
        "labels" => Ok(true),
        other => Err(bad_request(&format!(
            "invalid dot-view parameter {}",
            go_quote(other)
        ))),
    }
}

/// The list parameters shared by tasks and templates.
pub struct ListParams {
    pub pattern: String,
    /// `None`: the default fields.
    pub fields: Option<Vec<String>>,
    pub offset: usize,
    pub limit: usize,
}

pub fn list_params(params: &Params) -> Result<ListParams, Response> {
    let fields: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.clone())
        .collect();
    let int = |name: &str, default: i64| -> Result<i64, Response> {
        match param(params, name) {
            None | Some("") => Ok(default),
            Some(s) => s.parse::<i64>().map_err(|_| {
                bad_request(&format!(
                    "invalid {name} parameter {} must be an integer: strconv.ParseInt: parsing {}: invalid syntax",
                    go_quote(s),
                    go_quote(s)
                ))
            }),
        }
    };
    let offset = int("offset", 0)?;
    let limit = int("limit", 100)?;
    let pattern = param(params, "pattern").unwrap_or("").to_string();
    if let Err(e) = glob_match(&pattern, "") {
        return Err(bad_request(&format!(
            "failed to list with pattern {}: {e}",
            go_quote(&pattern)
        )));
    }
    Ok(ListParams {
        pattern,
        fields: (!fields.is_empty()).then(|| {
            let mut f = fields;
            f.push("id".into());
            f.push("link".into());
            f
        }),
        offset: offset.max(0) as usize,
        limit: limit.max(0) as usize,
    })
}

impl ListParams {
    /// Ids selected by `pattern`, `offset` and `limit`, from ids sorted ascending.
    pub fn select<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
        ids.filter(|id| self.pattern.is_empty() || glob_match(&self.pattern, id).unwrap_or(false))
            .skip(self.offset)
            .take(self.limit)
            .collect()
    }
}

/// A list item: the requested fields of `full`, keys sorted as Go prints a map. Unknown
/// fields are Kapacitor's 400 `unsupported field "x"`.
pub fn pick_fields(
    full: &serde_json::Map<String, Value>,
    fields: &[String],
    known: &[&str],
) -> Result<Value, Response> {
    let mut out: std::collections::BTreeMap<String, Value> = Default::default();
    for f in fields {
        if !known.contains(&f.as_str()) {
            return Err(bad_request(&format!("unsupported field {}", go_quote(f))));
        }
        out.insert(f.clone(), full.get(f).cloned().unwrap_or(Value::Null));
    }
    Ok(Value::Object(out.into_iter().collect()))
}

/// Go's `%q` for plain text (enough for ids and parameters).
pub fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Go's `path.Match`: `*` (any run without `/`), `?`, `[...]` classes with ranges and `^`
/// negation, `\` escapes. A malformed pattern is an error, as in Go.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, &'static str> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Check the syntax of the whole pattern first so the answer does not depend on the name.
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err("syntax error in pattern");
                }
                i += 2;
            }
            '[' => i = class_end(&p, i)?,
            _ => i += 1,
        }
    }
    Ok(match_from(&p, 0, &n, 0))
}

fn class_end(p: &[char], start: usize) -> Result<usize, &'static str> {
    let mut i = start + 1;
    if i < p.len() && p[i] == '^' {
        i += 1;
    }
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Ok(i + 1);
        }
        if p[i] == '\\' {
            i += 1;
        }
        i += 1;
        first = false;
    }
    Err("syntax error in pattern")
}

fn class_matches(p: &[char], start: usize, c: char) -> bool {
    let mut i = start + 1;
    let negate = i < p.len() && p[i] == '^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() && (p[i] != ']' || first) {
        first = false;
        let mut lo = p[i];
        if lo == '\\' && i + 1 < p.len() {
            i += 1;
            lo = p[i];
        }
        let mut hi = lo;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            hi = p[i + 2];
            if hi == '\\' && i + 3 < p.len() {
                i += 1;
                hi = p[i + 2];
            }
            i += 2;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
        i += 1;
    }
    matched != negate
}

fn match_from(p: &[char], pi: usize, n: &[char], ni: usize) -> bool {
    if pi == p.len() {
        return ni == n.len();
    }
    match p[pi] {
        '*' => (ni..=n.len())
            .take_while(|&k| k == ni || n[k - 1] != '/')
            .any(|k| match_from(p, pi + 1, n, k)),
        '?' => ni < n.len() && n[ni] != '/' && match_from(p, pi + 1, n, ni + 1),
        '[' => {
            let Ok(end) = class_end(p, pi) else {
                return false;
            };
            ni < n.len()
                && n[ni] != '/'
                && class_matches(p, pi, n[ni])
                && match_from(p, end, n, ni + 1)
        }
        '\\' => {
            pi + 1 < p.len()
                && ni < n.len()
                && n[ni] == p[pi + 1]
                && match_from(p, pi + 2, n, ni + 1)
        }
        c => ni < n.len() && n[ni] == c && match_from(p, pi + 1, n, ni + 1),
    }
}

/// Query string to [`Params`].
pub fn parse_query(query: Option<&str>) -> Params {
    let Some(q) = query else {
        return Vec::new();
    };
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_kapacitors_rule() {
        assert!(valid_id("cpu_alert-1.x"));
        assert!(valid_id("tâche"));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id("a/b"));
    }

    #[test]
    fn glob_matches_like_go_path_match() {
        assert_eq!(glob_match("cpu*", "cpu_alert"), Ok(true));
        assert_eq!(glob_match("cpu*", "mem"), Ok(false));
        assert_eq!(glob_match("?pu", "cpu"), Ok(true));
        assert_eq!(glob_match("[a-c]pu", "cpu"), Ok(true));
        assert_eq!(glob_match("[^a-c]pu", "cpu"), Ok(false));
        assert_eq!(glob_match("a\\*", "a*"), Ok(true));
        assert_eq!(glob_match("*", "a/b"), Ok(false));
        assert!(glob_match("[", "x").is_err());
        assert!(glob_match("a\\", "a").is_err());
    }

    #[test]
    fn pretty_uses_four_spaces() {
        assert_eq!(
            pretty(&json!({"a": [1]})),
            "{\n    \"a\": [\n        1\n    ]\n}"
        );
    }

    #[test]
    fn query_keeps_repeats_and_decodes() {
        let p = parse_query(Some("fields=a&fields=b%20c&pattern=x*&q=1+2"));
        assert_eq!(p[1], ("fields".to_string(), "b c".to_string()));
        assert_eq!(param(&p, "q"), Some("1 2"));
        let l = list_params(&p).ok().unwrap();
        assert_eq!(l.fields.clone().unwrap(), ["a", "b c", "id", "link"]);
        assert_eq!(l.select(["x1", "y", "x2"].into_iter()), ["x1", "x2"]);
    }
}
