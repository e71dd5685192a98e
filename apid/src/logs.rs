//! Log streaming: `GET /kapacitor/v1preview/logs` (also under `/kapacitor/v1`), what
//! `kapacitor logs` and `kapacitor watch` read.
//!
//! Every process of the tree offers each log line it writes to a Unix datagram socket
//! (`<data_dir>/run/logs.sock`, see the supervisor's `logging.rs`); apid binds it and fans
//! the lines out to the connected clients. Query parameters filter on the line's logfmt keys
//! (`task=cpu`, `proc=apid`); `lvl=info+` keeps `info` and above, `lvl=warn` only `warn`.
//! A repeated parameter is a 400. The body is chunked and stays open until the client goes;
//! logfmt lines, or one JSON object per line when the client accepts `application/json`.
//! Best effort by design: a client that does not keep up loses lines (counted in a
//! `lines_dropped` line of its own), and nothing here ever slows a process down.

use crate::api_json::api_error;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::net::UnixDatagram;
use tokio::sync::broadcast;
use tracing::warn;

/// Lines buffered per client before it starts losing them.
const CLIENT_BUFFER: usize = 4096;
const MAX_LINE: usize = 64 * 1024;

static TAP: OnceLock<broadcast::Sender<Arc<str>>> = OnceLock::new();

/// Binds `<data_dir>/run/logs.sock` (replacing a stale one) and starts reading it.
pub fn start(data_dir: &Path) {
    let path = data_dir.join("run").join("logs.sock");
    let _ = std::fs::remove_file(&path);
    let sock = match UnixDatagram::bind(&path) {
        Ok(s) => s,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "log streaming unavailable");
            return;
        }
    };
    let (tx, _) = broadcast::channel(CLIENT_BUFFER);
    if TAP.set(tx.clone()).is_err() {
        return;
    }
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_LINE];
        loop {
            let n = match sock.recv(&mut buf).await {
                Ok(n) => n,
                Err(_) => continue,
            };
            // Nobody listening: the line is dropped here, at the cost of one recv.
            if tx.receiver_count() == 0 {
                continue;
            }
            let line = String::from_utf8_lossy(&buf[..n]);
            let _ = tx.send(Arc::from(line.trim_end_matches('\n')));
        }
    });
}

/// What a client asked for.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    /// `(level rank, or above)`.
    level: Option<(u8, bool)>,
    tags: Vec<(String, String)>,
}

fn rank(lvl: &str) -> Option<u8> {
    Some(match lvl {
        "debug" => 0,
        "info" => 1,
        "warn" | "warning" => 2,
        "error" => 3,
        _ => return None,
    })
}

fn parse_filter(query: Option<&str>) -> Result<Filter, String> {
    let mut f = Filter::default();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in crate::api_json::parse_query(query) {
        if !seen.insert(k.clone()) {
            return Err(format!("duplicate parameter {k:?}"));
        }
        if k == "lvl" {
            // `info+` arrives as `info%2B` from the CLI, as `info ` from a bare `+` in a URL.
            let above = v.ends_with('+') || v.ends_with(' ');
            let name = v.trim_end_matches(['+', ' ']).to_ascii_lowercase();
            let r = rank(&name).ok_or_else(|| format!("invalid level {v:?}"))?;
            f.level = Some((r, above));
        } else {
            f.tags.push((k, v));
        }
    }
    Ok(f)
}

/// The `key=value` pairs of a logfmt line, values unquoted.
fn logfmt_pairs(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_string();
        rest = &rest[eq + 1..];
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => v.push('\n'),
                        Some((_, 't')) => v.push('\t'),
                        Some((_, c)) => v.push(c),
                        None => {}
                    },
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &q[end.min(q.len())..];
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            value = rest[..end].to_string();
            rest = &rest[end..];
        }
        out.push((key, value));
        rest = rest.trim_start();
    }
    out
}

impl Filter {
    fn keeps(&self, pairs: &[(String, String)]) -> bool {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        if let Some((want, above)) = self.level {
            let Some(have) = get("lvl").and_then(rank) else {
                return false;
            };
            if have < want || (!above && have != want) {
                return false;
            }
        }
        self.tags.iter().all(|(k, v)| get(k) == Some(v.as_str()))
    }
}

fn json_line(pairs: &[(String, String)]) -> String {
    let obj: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let mut s = serde_json::Value::Object(obj).to_string();
    s.push('\n');
    s
}

pub async fn stream_logs(uri: Uri, headers: HeaderMap) -> Response {
    let filter = match parse_filter(uri.query()) {
        Ok(f) => f,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, &e),
    };
    let Some(tap) = TAP.get() else {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "log streaming is unavailable: the log socket could not be opened",
        );
    };
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let state = (tap.subscribe(), Arc::new(filter));
    let lines = futures::stream::unfold(state, move |(mut rx, filter)| async move {
        loop {
            let (line, pairs) = match rx.recv().await {
                Ok(line) => {
                    let pairs = logfmt_pairs(&line);
                    if !filter.keeps(&pairs) {
                        continue;
                    }
                    (line.to_string(), pairs)
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let note = format!("lvl=warn msg=\"log stream lagged\" lines_dropped={n}");
                    let pairs = logfmt_pairs(&note);
                    (note, pairs)
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            let chunk = if json {
                json_line(&pairs)
            } else {
                format!("{line}\n")
            };
            return Some((Ok::<_, std::convert::Infallible>(chunk), (rx, filter)));
        }
    });
    let ctype = if json {
        "application/json"
    } else {
        "application/logfmt"
    };
    ([(header::CONTENT_TYPE, ctype)], Body::from_stream(lines)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_lines_split_into_unquoted_pairs() {
        let p = logfmt_pairs(
            r#"ts=2026-11-21T05:40:00.123Z lvl=info proc=apid msg="a \"b\" c" task=cpu"#,
        );
        assert_eq!(
            p,
            vec![
                ("ts".into(), "2026-11-21T05:40:00.123Z".into()),
                ("lvl".into(), "info".into()),
                ("proc".into(), "apid".into()),
                ("msg".into(), "a \"b\" c".into()),
                ("task".into(), "cpu".into()),
            ]
        );
    }

    #[test]
    fn filters_on_level_and_tags_and_refuse_duplicates() {
        let f = parse_filter(Some("task=cpu&lvl=warn%2B")).unwrap();
        let line = |lvl: &str, task: &str| logfmt_pairs(&format!("lvl={lvl} task={task} msg=x"));
        assert!(f.keeps(&line("warn", "cpu")));
        assert!(f.keeps(&line("error", "cpu")));
        assert!(!f.keeps(&line("info", "cpu")));
        assert!(!f.keeps(&line("error", "mem")));
        let exact = parse_filter(Some("lvl=info")).unwrap();
        assert!(!exact.keeps(&line("error", "cpu")));
        let bare_plus = parse_filter(Some("lvl=info+")).unwrap();
        assert!(bare_plus.keeps(&line("error", "cpu")));
        assert!(
            parse_filter(Some("task=a&task=b"))
                .unwrap_err()
                .contains("duplicate")
        );
        assert!(parse_filter(Some("lvl=loud")).is_err());
    }
}
