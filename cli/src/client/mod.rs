//! A blocking, typed client for Kapacitor's HTTP API.
//!
//! Works against any base URL (`http://` or `https://`), so black-box tests can point it at a
//! daemon on a free port. Server errors surface as [`ClientError::Server`] carrying the `error`
//! field of Kapacitor's error body.

mod types;

use std::io::{Read, Write};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use ureq::Agent;
use ureq::http::Response;
use ureq::tls::TlsConfig;

pub use types::*;

/// The API prefix every route lives under.
pub const BASE_PATH: &str = "/kapacitor/v1";

/// The URL used when neither `-url` nor `KAPACITOR_URL` is given.
pub const DEFAULT_URL: &str = "http://localhost:9092";

/// Largest JSON body the client will read; a list of 100 tasks with long scripts stays far below.
const MAX_BODY: u64 = 256 * 1024 * 1024;

/// How long to wait for a TCP connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The URL given to [`Client::new`] is unusable.
    #[error("{0}")]
    InvalidUrl(String),
    /// Connecting or talking to the server failed.
    #[error("{method} \"{url}\": {reason}")]
    Transport {
        method: &'static str,
        url: String,
        reason: String,
    },
    /// The server answered with an error body; `message` is its `error` field.
    #[error("{message}")]
    Server { status: u16, message: String },
    /// The server answered with an unexpected status and no error body.
    #[error("invalid response: code {status}: body: {body}")]
    UnexpectedStatus { status: u16, body: String },
    /// The response body was not the expected JSON.
    #[error("failed to decode JSON: {0}")]
    Decode(String),
    /// Writing a downloaded body failed.
    #[error("{0}")]
    Io(String),
}

impl ClientError {
    /// The HTTP status for server-side errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Server { status, .. } | ClientError::UnexpectedStatus { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Whether the server said the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Paging and filtering for the list endpoints (`pattern`, `fields`, `offset`, `limit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    pub pattern: String,
    pub fields: Vec<String>,
    pub offset: usize,
    pub limit: usize,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            pattern: String::new(),
            fields: Vec::new(),
            offset: 0,
            limit: 100,
        }
    }
}

impl ListOptions {
    /// Options matching `pattern`, returning only `fields` (plus `id` and `link`, always sent).
    pub fn new(pattern: &str, fields: &[&str]) -> Self {
        ListOptions {
            pattern: pattern.to_string(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        }
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("pattern", self.pattern.clone())];
        q.extend(self.fields.iter().map(|f| ("fields", f.clone())));
        q.push(("offset", self.offset.to_string()));
        q.push(("limit", self.limit.to_string()));
        q
    }
}

/// HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "Get",
            Method::Post => "Post",
            Method::Put => "Put",
            Method::Patch => "Patch",
            Method::Delete => "Delete",
        }
    }
}

/// A connection to one Kapacitor server.
#[derive(Debug, Clone)]
pub struct Client {
    /// `scheme://host[:port]` without a trailing slash; paths replace any path in the input URL,
    /// as in Kapacitor's Go client.
    base: String,
    /// `Basic ...` header built from `user:password@` in the URL.
    authorization: Option<String>,
    agent: Agent,
}

impl Client {
    /// Creates a client for `url` (`http(s)://host:port`). `skip_verify` disables TLS
    /// certificate verification. No request is made.
    pub fn new(url: &str, skip_verify: bool) -> Result<Client, ClientError> {
        let (base, authorization) = parse_base_url(url)?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .user_agent("KapacitorClient")
            .tls_config(
                TlsConfig::builder()
                    .disable_verification(skip_verify)
                    .build(),
            )
            .build();
        Ok(Client {
            base,
            authorization,
            agent: config.new_agent(),
        })
    }

    /// The server's base URL (`scheme://host:port`).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The path of a task (`/kapacitor/v1/tasks/<id>`), percent-encoded.
    pub fn task_path(id: &str) -> String {
        format!("{BASE_PATH}/tasks/{}", encode_segment(id))
    }

    /// The path of a template.
    pub fn template_path(id: &str) -> String {
        format!("{BASE_PATH}/templates/{}", encode_segment(id))
    }

    /// The path of an alert topic.
    pub fn topic_path(id: &str) -> String {
        format!("{BASE_PATH}/alerts/topics/{}", encode_segment(id))
    }

    /// The path of a topic's handler list.
    pub fn topic_handlers_path(topic: &str) -> String {
        format!("{}/handlers", Self::topic_path(topic))
    }

    /// The path of one topic handler.
    pub fn topic_handler_path(topic: &str, id: &str) -> String {
        format!(
            "{}/{}",
            Self::topic_handlers_path(topic),
            encode_segment(id)
        )
    }

    /// `GET /ping`; returns the server version from `X-Kapacitor-Version`.
    pub fn ping(&self) -> Result<String, ClientError> {
        let (resp, _) = self.send(Method::Get, &format!("{BASE_PATH}/ping"), &[], None)?;
        Ok(resp
            .headers()
            .get("X-Kapacitor-Version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string())
    }

    // ---- tasks ----

    /// `GET /tasks/<id>`. `replay_id` shows the task as it runs inside that replay.
    pub fn task(&self, id: &str, replay_id: Option<&str>) -> Result<Task, ClientError> {
        let mut q = vec![
            ("dot-view", "attributes".to_string()),
            ("script-format", "formatted".to_string()),
        ];
        if let Some(r) = replay_id.filter(|r| !r.is_empty()) {
            q.push(("replay-id", r.to_string()));
        }
        self.json(Method::Get, &Self::task_path(id), &q, None)
    }

    /// `GET /tasks` with paging and filters.
    pub fn list_tasks(&self, opts: &ListOptions) -> Result<Vec<Task>, ClientError> {
        let list: TaskList = self.json(
            Method::Get,
            &format!("{BASE_PATH}/tasks"),
            &opts.query(),
            None,
        )?;
        Ok(list.tasks)
    }

    /// `POST /tasks`.
    pub fn create_task(&self, task: &CreateTask) -> Result<Task, ClientError> {
        self.json(
            Method::Post,
            &format!("{BASE_PATH}/tasks"),
            &[],
            Some(to_json(task)?),
        )
    }

    /// `PATCH /tasks/<id>`.
    pub fn update_task(&self, id: &str, update: &UpdateTask) -> Result<Task, ClientError> {
        self.json(
            Method::Patch,
            &Self::task_path(id),
            &[],
            Some(to_json(update)?),
        )
    }

    /// Sets a task's status (`enabled` or `disabled`).
    pub fn set_task_status(&self, id: &str, status: &str) -> Result<Task, ClientError> {
        let update = UpdateTask {
            status: status.to_string(),
            ..Default::default()
        };
        self.update_task(id, &update)
    }

    /// `DELETE /tasks/<id>`.
    pub fn delete_task(&self, id: &str) -> Result<(), ClientError> {
        self.empty(Method::Delete, &Self::task_path(id))
    }

    // ---- templates ----

    /// `GET /templates/<id>`.
    pub fn template(&self, id: &str) -> Result<Template, ClientError> {
        let q = [
            ("dot-view", "attributes".to_string()),
            ("script-format", "formatted".to_string()),
        ];
        self.json(Method::Get, &Self::template_path(id), &q, None)
    }

    /// `GET /templates`.
    pub fn list_templates(&self, opts: &ListOptions) -> Result<Vec<Template>, ClientError> {
        let list: TemplateList = self.json(
            Method::Get,
            &format!("{BASE_PATH}/templates"),
            &opts.query(),
            None,
        )?;
        Ok(list.templates)
    }

    /// `POST /templates`.
    pub fn create_template(&self, spec: &TemplateSpec) -> Result<Template, ClientError> {
        self.json(
            Method::Post,
            &format!("{BASE_PATH}/templates"),
            &[],
            Some(to_json(spec)?),
        )
    }

    /// `PATCH /templates/<id>` (the `id` field of `spec` renames the template when set).
    pub fn update_template(&self, id: &str, spec: &TemplateSpec) -> Result<Template, ClientError> {
        self.json(
            Method::Patch,
            &Self::template_path(id),
            &[],
            Some(to_json(spec)?),
        )
    }

    /// `DELETE /templates/<id>`.
    pub fn delete_template(&self, id: &str) -> Result<(), ClientError> {
        self.empty(Method::Delete, &Self::template_path(id))
    }

    // ---- topics and handlers ----

    /// `GET /alerts/topics?pattern=&min-level=`.
    pub fn list_topics(&self, pattern: &str, min_level: &str) -> Result<Vec<Topic>, ClientError> {
        let q = [
            ("pattern", pattern.to_string()),
            ("min-level", min_level.to_string()),
        ];
        let list: TopicList =
            self.json(Method::Get, &format!("{BASE_PATH}/alerts/topics"), &q, None)?;
        Ok(list.topics)
    }

    /// `GET /alerts/topics/<id>`.
    pub fn topic(&self, id: &str) -> Result<Topic, ClientError> {
        self.json(Method::Get, &Self::topic_path(id), &[], None)
    }

    /// `DELETE /alerts/topics/<id>`.
    pub fn delete_topic(&self, id: &str) -> Result<(), ClientError> {
        self.empty(Method::Delete, &Self::topic_path(id))
    }

    /// `GET /alerts/topics/<id>/events?min-level=`.
    pub fn topic_events(&self, id: &str, min_level: &str) -> Result<TopicEvents, ClientError> {
        let q = [("min-level", min_level.to_string())];
        self.json(
            Method::Get,
            &format!("{}/events", Self::topic_path(id)),
            &q,
            None,
        )
    }

    /// `GET /alerts/topics/<topic>/handlers?pattern=`.
    pub fn topic_handlers(
        &self,
        topic: &str,
        pattern: &str,
    ) -> Result<Vec<TopicHandler>, ClientError> {
        let q = [("pattern", pattern.to_string())];
        let list: TopicHandlers =
            self.json(Method::Get, &Self::topic_handlers_path(topic), &q, None)?;
        Ok(list.handlers)
    }

    /// `GET /alerts/topics/<topic>/handlers/<id>`.
    pub fn topic_handler(&self, topic: &str, id: &str) -> Result<TopicHandler, ClientError> {
        self.json(Method::Get, &Self::topic_handler_path(topic, id), &[], None)
    }

    /// `POST /alerts/topics/<topic>/handlers` (topic taken from `spec.topic`).
    pub fn create_topic_handler(&self, spec: &HandlerSpec) -> Result<TopicHandler, ClientError> {
        let path = Self::topic_handlers_path(&spec.topic);
        self.json(Method::Post, &path, &[], Some(to_json(spec)?))
    }

    /// `PUT /alerts/topics/<topic>/handlers/<id>`: replaces the whole handler.
    pub fn replace_topic_handler(&self, spec: &HandlerSpec) -> Result<TopicHandler, ClientError> {
        let path = Self::topic_handler_path(&spec.topic, &spec.id);
        self.json(Method::Put, &path, &[], Some(to_json(spec)?))
    }

    /// `DELETE /alerts/topics/<topic>/handlers/<id>`.
    pub fn delete_topic_handler(&self, topic: &str, id: &str) -> Result<(), ClientError> {
        self.empty(Method::Delete, &Self::topic_handler_path(topic, id))
    }

    // ---- recordings and replays ----

    /// `GET /recordings`.
    pub fn list_recordings(&self, opts: &ListOptions) -> Result<Vec<Recording>, ClientError> {
        let list: RecordingList = self.json(
            Method::Get,
            &format!("{BASE_PATH}/recordings"),
            &opts.query(),
            None,
        )?;
        Ok(list.recordings)
    }

    /// `DELETE /recordings/<id>`.
    pub fn delete_recording(&self, id: &str) -> Result<(), ClientError> {
        self.empty(
            Method::Delete,
            &format!("{BASE_PATH}/recordings/{}", encode_segment(id)),
        )
    }

    /// `GET /replays`.
    pub fn list_replays(&self, opts: &ListOptions) -> Result<Vec<Replay>, ClientError> {
        let list: ReplayList = self.json(
            Method::Get,
            &format!("{BASE_PATH}/replays"),
            &opts.query(),
            None,
        )?;
        Ok(list.replays)
    }

    /// `DELETE /replays/<id>`.
    pub fn delete_replay(&self, id: &str) -> Result<(), ClientError> {
        self.empty(
            Method::Delete,
            &format!("{BASE_PATH}/replays/{}", encode_segment(id)),
        )
    }

    /// `POST /recordings/stream|batch|query` (`kind`), returning the running recording.
    pub fn start_recording(&self, kind: &str, body: &Value) -> Result<Recording, ClientError> {
        let path = format!("{BASE_PATH}/recordings/{}", encode_segment(kind));
        self.json(Method::Post, &path, &[], Some(to_json(body)?))
    }

    /// `GET` of a recording by its link (`/kapacitor/v1/recordings/<id>`); 202 while running.
    pub fn recording_at(&self, href: &str) -> Result<Recording, ClientError> {
        self.json(Method::Get, href, &[], None)
    }

    /// `POST /replays` (`kind` empty), `/replays/batch` or `/replays/query`.
    pub fn start_replay(&self, kind: &str, body: &Value) -> Result<Replay, ClientError> {
        let path = if kind.is_empty() {
            format!("{BASE_PATH}/replays")
        } else {
            format!("{BASE_PATH}/replays/{}", encode_segment(kind))
        };
        self.json(Method::Post, &path, &[], Some(to_json(body)?))
    }

    /// `GET` of a replay by its link; 202 while running.
    pub fn replay_at(&self, href: &str) -> Result<Replay, ClientError> {
        self.json(Method::Get, href, &[], None)
    }

    /// `GET /kapacitor/v1preview/logs?k=v...`: copies the log stream to `out` until the server
    /// closes it (the caller is normally stopped by Ctrl-C first).
    pub fn logs(&self, tags: &[(String, String)], out: &mut dyn Write) -> Result<(), ClientError> {
        let url = format!("{}/kapacitor/v1preview/logs", self.base);
        let mut req = self.agent.get(&url);
        for (k, v) in tags {
            req = req.query(k, v);
        }
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        let mut resp = req.call().map_err(|e| transport(Method::Get, &url, e))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(status_error(status, &body));
        }
        let mut reader = resp.body_mut().as_reader();
        let mut buf = vec![0u8; 8 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ClientError::Io(e.to_string())),
            };
            // Flush per chunk: the point of watching logs is seeing them as they come.
            out.write_all(&buf[..n])
                .and_then(|()| out.flush())
                .map_err(|e| ClientError::Io(e.to_string()))?;
        }
    }

    // ---- service tests ----

    /// `GET /service-tests?pattern=`.
    pub fn list_service_tests(&self, pattern: &str) -> Result<Vec<ServiceTest>, ClientError> {
        let q = [("pattern", pattern.to_string())];
        let list: ServiceTestList =
            self.json(Method::Get, &format!("{BASE_PATH}/service-tests"), &q, None)?;
        Ok(list.services)
    }

    /// `POST /service-tests/<name>` with the default options.
    pub fn run_service_test(&self, name: &str) -> Result<ServiceTestResult, ClientError> {
        let path = format!("{BASE_PATH}/service-tests/{}", encode_segment(name));
        self.json(Method::Post, &path, &[], Some(b"{}".to_vec()))
    }

    // ---- server ----

    /// `GET /debug/vars`, decoded.
    pub fn debug_vars(&self) -> Result<DebugVars, ClientError> {
        self.json(Method::Get, &format!("{BASE_PATH}/debug/vars"), &[], None)
    }

    /// `GET /debug/vars`, the raw body.
    pub fn debug_vars_raw(&self) -> Result<String, ClientError> {
        let (_, body) = self.send(Method::Get, &format!("{BASE_PATH}/debug/vars"), &[], None)?;
        Ok(body)
    }

    /// `POST /loglevel`.
    pub fn log_level(&self, level: &str) -> Result<(), ClientError> {
        let body = serde_json::json!({ "level": level });
        self.send(
            Method::Post,
            &format!("{BASE_PATH}/loglevel"),
            &[],
            Some(to_json(&body)?),
        )?;
        Ok(())
    }

    /// `GET /storage/backup`, streamed into `out`. Returns the bytes written and the
    /// `Content-Length` the server announced, if any.
    pub fn backup(&self, out: &mut dyn Write) -> Result<(u64, Option<u64>), ClientError> {
        let url = format!("{}{BASE_PATH}/storage/backup", self.base);
        // Ask for the raw bytes so Content-Length describes what we write.
        let mut req = self.agent.get(&url).header("Accept-Encoding", "identity");
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        let mut resp = req.call().map_err(|e| transport(Method::Get, &url, e))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(status_error(status, &body));
        }
        let size = resp.body().content_length();
        let mut reader = resp.body_mut().as_reader();
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ClientError::Io(e.to_string())),
            };
            out.write_all(&buf[..n])
                .map_err(|e| ClientError::Io(e.to_string()))?;
            written += n as u64;
        }
        Ok((written, size))
    }

    // ---- plumbing ----

    fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let (_, text) = self.send(method, path, query, body)?;
        decode(&text)
    }

    fn empty(&self, method: Method, path: &str) -> Result<(), ClientError> {
        self.send(method, path, &[], None).map(|_| ())
    }

    /// Sends one request; returns the response (headers) and its body text for 2xx statuses.
    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(Response<()>, String), ClientError> {
        let url = format!("{}{}", self.base, path);
        let result = match method {
            Method::Get | Method::Delete => {
                let mut req = if method == Method::Get {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                if let Some(auth) = &self.authorization {
                    req = req.header("Authorization", auth);
                }
                req.call()
            }
            Method::Post | Method::Put | Method::Patch => {
                let mut req = match method {
                    Method::Post => self.agent.post(&url),
                    Method::Put => self.agent.put(&url),
                    _ => self.agent.patch(&url),
                };
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                if let Some(auth) = &self.authorization {
                    req = req.header("Authorization", auth);
                }
                req = req.header("Content-Type", "application/json");
                req.send(body.unwrap_or_default())
            }
        };
        let mut resp = result.map_err(|e| transport(method, &url, e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|e| transport(method, &url, e))?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, &text));
        }
        let (parts, _) = resp.into_parts();
        Ok((Response::from_parts(parts, ()), text))
    }
}

fn transport(method: Method, url: &str, err: ureq::Error) -> ClientError {
    ClientError::Transport {
        method: method.name(),
        url: url.to_string(),
        reason: err.to_string(),
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(v).map_err(|e| ClientError::Decode(e.to_string()))
}

/// Decodes a success body.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ClientError> {
    serde_json::from_str(text).map_err(|e| ClientError::Decode(e.to_string()))
}

/// Turns a non-2xx response into an error, preferring the `error` field of Kapacitor's
/// `{"error": "...", "message": "..."}` body.
pub fn status_error(status: u16, body: &str) -> ClientError {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    if let Ok(ErrorBody { error, message }) = serde_json::from_str::<ErrorBody>(body)
        && let Some(msg) = error.or(message).filter(|m| !m.is_empty())
    {
        return ClientError::Server {
            status,
            message: msg,
        };
    }
    ClientError::UnexpectedStatus {
        status,
        body: body.to_string(),
    }
}

/// Splits a user-supplied URL into `scheme://host[:port]` and an optional Basic auth header.
fn parse_base_url(url: &str) -> Result<(String, Option<String>), ClientError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        return Err(unsupported_scheme(scheme));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(unsupported_scheme(&scheme));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(ClientError::InvalidUrl(format!(
            "invalid URL {url:?}: missing host"
        )));
    }
    let authorization = userinfo.map(|u| {
        let decoded = percent_decode(u);
        format!("Basic {}", base64(decoded.as_bytes()))
    });
    Ok((format!("{scheme}://{host}"), authorization))
}

fn unsupported_scheme(scheme: &str) -> ClientError {
    ClientError::InvalidUrl(format!(
        "Unsupported protocol scheme: {scheme}, your address must start with http:// or https://"
    ))
}

/// Percent-encodes one path segment (IDs may hold any Unicode letter, and topics hold ':').
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = match chunk.len() {
            3 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32,
            2 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8,
            _ => (chunk[0] as u32) << 16,
        };
        out.push(TABLE[(n >> 18) as usize & 63] as char);
        out.push(TABLE[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            TABLE[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            TABLE[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_keeps_scheme_and_authority_only() {
        let (base, auth) = parse_base_url("http://localhost:9092/some/path?x=1").unwrap();
        assert_eq!(base, "http://localhost:9092");
        assert_eq!(auth, None);
        let (base, _) = parse_base_url("HTTPS://[::1]:9092").unwrap();
        assert_eq!(base, "https://[::1]:9092");
    }

    #[test]
    fn base_url_userinfo_becomes_basic_auth() {
        let (base, auth) = parse_base_url("http://bob:s%40cret@host:9092").unwrap();
        assert_eq!(base, "http://host:9092");
        // base64("bob:s@cret")
        assert_eq!(auth.as_deref(), Some("Basic Ym9iOnNAY3JldA=="));
    }

    #[test]
    fn rejects_unsupported_schemes_like_go_client() {
        let e = parse_base_url("ftp://x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unsupported protocol scheme: ftp, your address must start with http:// or https://"
        );
        let e = parse_base_url("localhost:9092").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Unsupported protocol scheme: localhost,")
        );
        assert!(parse_base_url("http://").is_err());
    }

    #[test]
    fn error_body_error_field_is_the_message() {
        let e = status_error(
            400,
            "{\n    \"error\": \"task cpu already exists\",\n    \"message\": \"task cpu already exists\"\n}",
        );
        assert_eq!(
            e,
            ClientError::Server {
                status: 400,
                message: "task cpu already exists".into()
            }
        );
        assert_eq!(e.to_string(), "task cpu already exists");
        // Kapacitor 1.5 sent only "error"; InfluxDB 2-style bodies only "message".
        assert_eq!(
            status_error(404, r#"{"message":"gone"}"#).to_string(),
            "gone"
        );
        assert!(status_error(404, r#"{"error":"no task exists"}"#).is_not_found());
    }

    #[test]
    fn non_json_error_body_is_reported_verbatim() {
        let e = status_error(502, "Bad Gateway");
        assert_eq!(
            e.to_string(),
            "invalid response: code 502: body: Bad Gateway"
        );
        assert_eq!(e.status(), Some(502));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(
            Client::task_path("cpu_alert"),
            "/kapacitor/v1/tasks/cpu_alert"
        );
        assert_eq!(
            Client::topic_path("main:cpu:alert2"),
            "/kapacitor/v1/alerts/topics/main:cpu:alert2"
        );
        assert_eq!(encode_segment("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(
            Client::topic_handler_path("cpu", "slack"),
            "/kapacitor/v1/alerts/topics/cpu/handlers/slack"
        );
    }

    #[test]
    fn list_options_query() {
        let q = ListOptions::new("cpu*", &["type", "status"]).query();
        assert_eq!(
            q,
            vec![
                ("pattern", "cpu*".to_string()),
                ("fields", "type".to_string()),
                ("fields", "status".to_string()),
                ("offset", "0".to_string()),
                ("limit", "100".to_string()),
            ]
        );
    }

    #[test]
    fn unreachable_server_is_a_transport_error() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let c = Client::new("http://127.0.0.1:1", false).unwrap();
        let e = c.ping().unwrap_err();
        match &e {
            ClientError::Transport { method, url, .. } => {
                assert_eq!(*method, "Get");
                assert_eq!(url, "http://127.0.0.1:1/kapacitor/v1/ping");
            }
            other => panic!("expected transport error, got {other:?}"),
        }
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
