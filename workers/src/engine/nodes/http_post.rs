//! `httpPost(url)` / `httpPost().endpoint(name)`: POSTs each point or batch as Kapacitor's
//! JSON (`{"series":[row]}` plus a newline, the row as httpOut shows it), then forwards the
//! data, with the status code in `.codeField()` if set (0 when there was no answer).

use super::NodeImpl;
use crate::engine::http_post::{HttpPostContext, HttpPoster, MAX_WAIT, PostRequest, ReqwestPoster};
use crate::engine::msg::Msg;
use crate::engine::props::NodeSpec;
use crate::engine::result::{Row, result_json};
use crate::engine::{Cx, EngineError};
use kapacitor_models::FieldValue;
use std::sync::Arc;
use std::time::Duration;
use tickscript::pipeline::Arg;

/// Where one node posts: a URL with the headers and credentials of its `[[httppost]]` entry.
struct Target {
    url: String,
    headers: Vec<(String, String)>,
    basic_auth: Option<(String, String)>,
}

pub struct HttpPost {
    targets: Vec<Target>,
    code_field: Option<String>,
    capture_response: bool,
    timeout: Duration,
    poster: Arc<dyn HttpPoster>,
}

impl HttpPost {
    pub fn new(spec: &NodeSpec, ctx: &HttpPostContext) -> Result<Self, EngineError> {
        let mut node_headers = Vec::new();
        for p in spec.props("header") {
            match p.args.as_slice() {
                [Arg::Str(k), Arg::Str(v)] => node_headers.push((k.clone(), v.clone())),
                _ => return Err(spec.err(".header() takes a name and a value")),
            }
        }
        let mut targets = Vec::new();
        for a in &spec.node.args {
            match a {
                Arg::Str(u) => targets.push(Target {
                    url: u.clone(),
                    headers: node_headers.clone(),
                    basic_auth: None,
                }),
                _ => return Err(spec.err("httpPost takes URLs as strings")),
            }
        }
        if let Some(name) = spec.prop_str("endpoint")? {
            let e = ctx
                .endpoints
                .iter()
                .find(|e| e.name == name)
                .ok_or_else(|| spec.err(format!("endpoint '{name}' does not exist")))?;
            if e.row_template {
                return Err(spec.err(format!(
                    "endpoint '{name}' has a row-template, which httpPost does not support"
                )));
            }
            // The node's headers apply after the endpoint's, as Kapacitor sets them.
            let mut headers: Vec<(String, String)> = e
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            headers.extend(node_headers.iter().cloned());
            targets.push(Target {
                url: e.url.clone(),
                headers,
                basic_auth: e.basic_auth.clone(),
            });
        }
        if targets.is_empty() {
            return Err(spec.err("must provide url or endpoint"));
        }
        let timeout = match spec.prop_duration("timeout")? {
            Some(d) if d < 0 => return Err(spec.err("timeout must not be negative")),
            Some(d) if d > 0 => Duration::from_nanos(d as u64).min(MAX_WAIT),
            _ => MAX_WAIT,
        };
        let poster: Arc<dyn HttpPoster> = match &ctx.poster {
            Some(p) => p.clone(),
            None => Arc::new(ReqwestPoster::new().map_err(|e| spec.err(e))?),
        };
        Ok(HttpPost {
            targets,
            code_field: spec.prop_str("codeField")?.filter(|f| !f.is_empty()),
            capture_response: spec.flag("captureResponse")?,
            timeout,
            poster,
        })
    }

    /// Posts `row` to every target; the status code of the last one.
    fn post(&self, row: &Row, cx: &Cx) -> u16 {
        let mut body = result_json(Some(std::iter::once(row)));
        // Go's json.Encoder ends the document with a newline.
        body.push('\n');
        let mut code = 0;
        for t in &self.targets {
            let out = self.poster.post(PostRequest {
                url: t.url.clone(),
                headers: t.headers.clone(),
                basic_auth: t.basic_auth.clone(),
                body: body.clone(),
                timeout: self.timeout,
                capture_response: self.capture_response,
            });
            code = out.code;
            // Logged, not counted as node errors: the data goes on, as in Kapacitor.
            if let Some(e) = out.error {
                if out.code == 0 {
                    tracing::error!(task = %cx.task().task_id, node = %cx.node_name(),
                        url = %t.url, error = %e, "failed to POST data");
                } else {
                    tracing::error!(task = %cx.task().task_id, node = %cx.node_name(),
                        url = %t.url, code = out.code, error = %e,
                        "POST returned non 2xx status code");
                }
            }
        }
        code
    }
}

impl NodeImpl for HttpPost {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => {
                let code = self.post(&Row::from_point(&pm), cx);
                if let Some(f) = &self.code_field {
                    pm.p.fields
                        .insert(f.clone(), FieldValue::Int(i64::from(code)));
                }
                cx.emit(Msg::Point(pm));
            }
            Msg::Batch(mut bm) => {
                let code = self.post(&Row::from_batch(&bm), cx);
                if let Some(f) = &self.code_field {
                    for p in &mut bm.b.points {
                        p.fields.insert(f.clone(), FieldValue::Int(i64::from(code)));
                    }
                }
                cx.emit(Msg::Batch(bm));
            }
            other => cx.emit(other),
        }
    }
}
