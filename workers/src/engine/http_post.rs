//! `httpPost` nodes: what they need from outside the engine. The POST itself is synchronous,
//! as in Kapacitor: `.codeField()` puts the answer's status code on the data the node forwards,
//! so the node waits for the answer (bounded by `.timeout()`, [`MAX_WAIT`] without one). The
//! engine reaches the network only through the [`HttpPoster`] it is given.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The longest a POST may hold the pipeline when the node sets no `.timeout()`.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// One `[[httppost]]` config entry that `.endpoint(name)` can name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpPostEndpoint {
    pub name: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// `(username, password)`.
    pub basic_auth: Option<(String, String)>,
    /// `row-template` is set: the engine does not render row templates, so the node refuses
    /// such an endpoint rather than post something else.
    pub row_template: bool,
}

impl HttpPostEndpoint {
    /// The entries of kapacitord's `[[httppost]]` sections.
    pub fn from_config(c: &[kapacitor_config::HttpPostConfig]) -> Vec<HttpPostEndpoint> {
        c.iter()
            .map(|h| HttpPostEndpoint {
                name: h.endpoint.clone(),
                url: h.url.clone(),
                headers: h.headers.clone(),
                basic_auth: (!h.basic_auth.username.is_empty()
                    || !h.basic_auth.password.is_empty())
                .then(|| (h.basic_auth.username.clone(), h.basic_auth.password.clone())),
                row_template: !h.row_template.is_empty() || !h.row_template_file.is_empty(),
            })
            .collect()
    }
}

/// One POST of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct PostRequest {
    pub url: String,
    /// In the order they are set; a later one replaces an earlier one of the same name.
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
    pub body: String,
    pub timeout: Duration,
    /// Read the body of a non-2xx answer (`.captureResponse()`).
    pub capture_response: bool,
}

/// What came back: `code` 0 when there was no HTTP answer (refused connection, timeout), as
/// Kapacitor reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PostOutcome {
    pub code: u16,
    /// Why the POST failed, for the log: the transport error, or for a non-2xx answer the
    /// response body (with `capture_response`) or "unknown error".
    pub error: Option<String>,
}

/// Sends POSTs for httpPost nodes. Blocking: returns when the answer is in or the request's
/// timeout has passed.
pub trait HttpPoster: Send + Sync + std::fmt::Debug {
    fn post(&self, req: PostRequest) -> PostOutcome;
}

type Job = (PostRequest, mpsc::SyncSender<PostOutcome>);

/// The real poster: reqwest (the alert crate's client) on a thread of its own with a
/// current-thread runtime, so that it can be called from any thread, inside a runtime or not.
/// The thread ends when the poster is dropped.
#[derive(Debug)]
pub struct ReqwestPoster {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl ReqwestPoster {
    pub fn new() -> Result<ReqwestPoster, String> {
        // reqwest is built without a default crypto provider; installing one twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot create the HTTP runtime: {e}"))?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("http-post".into())
            .spawn(move || {
                while let Ok((req, reply)) = rx.recv() {
                    let out = rt.block_on(send(&client, req));
                    let _ = reply.send(out);
                }
            })
            .map_err(|e| format!("cannot start the HTTP thread: {e}"))?;
        Ok(ReqwestPoster {
            jobs: Mutex::new(tx),
        })
    }
}

impl HttpPoster for ReqwestPoster {
    fn post(&self, req: PostRequest) -> PostOutcome {
        let (tx, rx) = mpsc::sync_channel(1);
        let wait = req.timeout + Duration::from_secs(1);
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((req, tx));
        if sent.is_err() {
            return failed("the HTTP thread has stopped");
        }
        rx.recv_timeout(wait)
            .unwrap_or_else(|_| failed("no answer from the HTTP thread"))
    }
}

fn failed(msg: &str) -> PostOutcome {
    PostOutcome {
        code: 0,
        error: Some(msg.to_string()),
    }
}

async fn send(client: &reqwest::Client, req: PostRequest) -> PostOutcome {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    for (k, v) in &req.headers {
        match (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(v),
        ) {
            (Ok(k), Ok(v)) => {
                headers.insert(k, v);
            }
            _ => return failed(&format!("invalid header {k:?}")),
        }
    }
    let mut rb = client
        .post(&req.url)
        .headers(headers)
        .timeout(req.timeout)
        .body(req.body);
    if let Some((u, p)) = &req.basic_auth {
        rb = rb.basic_auth(u, Some(p));
    }
    match rb.send().await {
        Err(e) => failed(&e.to_string()),
        Ok(resp) => {
            let code = resp.status().as_u16();
            let error = if resp.status().is_success() {
                None
            } else if req.capture_response {
                Some(
                    kapacitor_alert::capped_body::read_capped(
                        resp,
                        kapacitor_alert::capped_body::ERROR_BODY_CAP,
                    )
                    .await
                    .unwrap_or_else(|e| e.to_string()),
                )
            } else {
                Some("unknown error".to_string())
            };
            PostOutcome { code, error }
        }
    }
}

/// What an httpPost node gets from the task: the `[[httppost]]` entries and the poster (a
/// [`ReqwestPoster`] is made for the node when none is given).
#[derive(Debug, Clone, Default)]
pub struct HttpPostContext {
    pub endpoints: Vec<HttpPostEndpoint>,
    pub poster: Option<Arc<dyn HttpPoster>>,
}
