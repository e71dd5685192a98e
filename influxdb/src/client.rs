//! An HTTP client for one `[[influxdb]]` cluster: `/ping`, `/query` and `/write` over every
//! URL of the cluster with failover, basic or token auth, TLS options and a timeout.

use crate::error::{Error, Result};
use crate::influxql::quote_ident;
use crate::response::{QueryResult, error_text, first_column_strings, parse_query_response};
use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;
use kapacitor_config::InfluxDbConfig;
use kapacitor_models::{Point, Precision};
use reqwest::{StatusCode, Url};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How `/write` bodies are sent (`compression` of `[[influxdb]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    None,
}

/// Everything needed to build a [`Client`]; usually made by [`ClientConfig::from_config`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// The cluster's `name`, for messages.
    pub name: String,
    pub urls: Vec<String>,
    pub username: String,
    pub password: String,
    /// Sent as `Authorization: Token <token>`; takes precedence over username/password.
    pub token: String,
    /// PEM file of extra trusted CAs.
    pub ssl_ca: String,
    /// PEM client certificate and key files (both or neither).
    pub ssl_cert: String,
    pub ssl_key: String,
    pub insecure_skip_verify: bool,
    /// Per-request timeout; zero means none (Kapacitor's `timeout = "0s"`).
    pub timeout: Duration,
    pub compression: Compression,
}

impl ClientConfig {
    /// The client part of an `[[influxdb]]` section. Fails on values that cannot work,
    /// naming the key.
    pub fn from_config(c: &InfluxDbConfig) -> Result<ClientConfig> {
        let compression = match c.compression.as_str() {
            "gzip" => Compression::Gzip,
            "none" | "" => Compression::None,
            other => {
                return Err(Error::Config(format!(
                    "[[influxdb]] {:?}: compression must be \"gzip\" or \"none\", got {other:?}",
                    c.name
                )));
            }
        };
        Ok(ClientConfig {
            name: c.name.clone(),
            urls: c.urls.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
            token: c.token.clone(),
            ssl_ca: c.ssl_ca.clone(),
            ssl_cert: c.ssl_cert.clone(),
            ssl_key: c.ssl_key.clone(),
            insecure_skip_verify: c.insecure_skip_verify,
            timeout: c.timeout.as_duration(),
            compression,
        })
    }

    /// A plain client for one URL (tests, tools).
    pub fn for_url(url: &str) -> ClientConfig {
        ClientConfig {
            name: "default".into(),
            urls: vec![url.to_string()],
            username: String::new(),
            password: String::new(),
            token: String::new(),
            ssl_ca: String::new(),
            ssl_cert: String::new(),
            ssl_key: String::new(),
            insecure_skip_verify: false,
            timeout: Duration::ZERO,
            compression: Compression::Gzip,
        }
    }
}

/// What `/ping` told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingInfo {
    /// The URL that answered.
    pub url: String,
    /// `X-Influxdb-Version`, empty if absent.
    pub version: String,
}

/// A client for one InfluxDB cluster. Cheap to clone; clones share the connection pool and
/// the failover position.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    http: reqwest::Client,
    urls: Vec<Url>,
    /// The URL to try first. A URL that fails moves this on, so one dead URL costs one
    /// failed attempt, not one per request (Kapacitor issue #1479).
    current: AtomicUsize,
    auth: Auth,
    compression: Compression,
}

enum Auth {
    None,
    Basic(String, String),
    Token(String),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.inner.name)
            .field("urls", &self.inner.urls)
            .finish()
    }
}

fn read_file(key: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Config(format!("{key} {path:?}: {e}")))
}

impl Client {
    pub fn new(cfg: &ClientConfig) -> Result<Client> {
        // reqwest is built without a default crypto provider; installing one twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if cfg.urls.is_empty() {
            return Err(Error::Config(format!(
                "[[influxdb]] {:?}: urls must not be empty",
                cfg.name
            )));
        }
        let urls = cfg
            .urls
            .iter()
            .map(|u| {
                let url = Url::parse(u).map_err(|e| {
                    Error::Config(format!("[[influxdb]] {:?}: urls: {u:?}: {e}", cfg.name))
                })?;
                match url.scheme() {
                    "http" | "https" => Ok(url),
                    s => Err(Error::Config(format!(
                        "[[influxdb]] {:?}: urls: {u:?}: scheme must be http or https, got {s:?}",
                        cfg.name
                    ))),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let mut b = reqwest::Client::builder()
            .danger_accept_invalid_certs(cfg.insecure_skip_verify)
            .user_agent(concat!("KapacitorRs/", env!("CARGO_PKG_VERSION")));
        if !cfg.timeout.is_zero() {
            b = b.timeout(cfg.timeout);
        }
        if !cfg.ssl_ca.is_empty() {
            let pem = read_file("ssl-ca", &cfg.ssl_ca)?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Config(format!("ssl-ca {:?}: {e}", cfg.ssl_ca)))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        match (cfg.ssl_cert.is_empty(), cfg.ssl_key.is_empty()) {
            (true, true) => {}
            (false, false) => {
                let mut pem = read_file("ssl-cert", &cfg.ssl_cert)?;
                pem.push(b'\n');
                pem.extend(read_file("ssl-key", &cfg.ssl_key)?);
                let id = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| Error::Config(format!("ssl-cert/ssl-key: {e}")))?;
                b = b.identity(id);
            }
            (false, true) => {
                return Err(Error::Config(
                    "ssl-cert is set but ssl-key is not: give both or neither".into(),
                ));
            }
            (true, false) => {
                return Err(Error::Config(
                    "ssl-key is set but ssl-cert is not: give both or neither".into(),
                ));
            }
        }
        let http = b
            .build()
            .map_err(|e| Error::Config(format!("building HTTP client: {e}")))?;
        let auth = if !cfg.token.is_empty() {
            Auth::Token(cfg.token.clone())
        } else if !cfg.username.is_empty() {
            Auth::Basic(cfg.username.clone(), cfg.password.clone())
        } else {
            Auth::None
        };
        Ok(Client {
            inner: Arc::new(Inner {
                name: cfg.name.clone(),
                http,
                urls,
                current: AtomicUsize::new(0),
                auth,
                compression: cfg.compression,
            }),
        })
    }

    /// The cluster name this client was made for.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Sends one request, trying each URL once starting from the current one. Only
    /// transport failures move on to the next URL; an HTTP answer (even 5xx) is returned.
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client, Url) -> reqwest::RequestBuilder,
        path: &str,
    ) -> Result<(Url, reqwest::Response)> {
        let n = self.inner.urls.len();
        let start = self.inner.current.load(Ordering::Relaxed) % n;
        let mut last_err = String::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let mut url = self.inner.urls[idx].clone();
            let base = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{base}{path}"));
            let mut req = build(&self.inner.http, url.clone());
            req = match &self.inner.auth {
                Auth::None => req,
                Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
                Auth::Token(t) => req.header("Authorization", format!("Token {t}")),
            };
            match req.send().await {
                Ok(resp) => {
                    if i != 0 {
                        self.inner.current.store(idx, Ordering::Relaxed);
                    }
                    return Ok((url, resp));
                }
                Err(e) => {
                    last_err = format!("{}: {}", self.inner.urls[idx], error_chain(&e));
                    self.inner.current.store((idx + 1) % n, Ordering::Relaxed);
                }
            }
        }
        Err(Error::Unreachable(last_err))
    }

    /// `GET /ping`; any 2xx answer counts.
    pub async fn ping(&self) -> Result<PingInfo> {
        let (url, resp) = self.send(|c, u| c.get(u), "/ping").await?;
        let status = resp.status();
        let version = resp
            .headers()
            .get("X-Influxdb-Version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if !status.is_success() {
            let body = read_capped(resp, ERROR_BODY_CAP).await.unwrap_or_default();
            return Err(Error::Server {
                status: status.as_u16(),
                message: error_text(&body),
            });
        }
        let mut base = url;
        base.set_path("");
        Ok(PingInfo {
            url: base.to_string().trim_end_matches('/').to_string(),
            version,
        })
    }

    /// Pings with exponential backoff (0.5 s growing by 1.5 up to 10 s) until InfluxDB
    /// answers or `timeout` has passed (`startup-timeout`). Only the caller waits: run it in
    /// the InfluxDB service's own task so a down InfluxDB delays nothing else.
    pub async fn ping_with_backoff(&self, timeout: Duration) -> Result<PingInfo> {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(500);
        loop {
            let err = match self.ping().await {
                Ok(info) => return Ok(info),
                Err(e) => e,
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Unreachable(format!(
                    "no answer from InfluxDB cluster {:?} within startup-timeout {:?}: {err}",
                    self.inner.name, timeout
                )));
            }
            tracing::debug!(cluster = %self.inner.name, error = %err, "InfluxDB not answering, retrying");
            tokio::time::sleep(delay.min(deadline - now)).await;
            delay = (delay.mul_f64(1.5)).min(Duration::from_secs(10));
        }
    }

    /// Runs InfluxQL with `POST /query` (POST because CREATE/DROP statements require it),
    /// reading at most [`MAX_QUERY_RESPONSE`] bytes of the answer. `db` may be empty. Statement errors come back as [`Error::Query`] with the server's text.
    pub async fn query(&self, db: &str, q: &str) -> Result<Vec<QueryResult>> {
        let mut form: Vec<(&str, &str)> = vec![("q", q)];
        if !db.is_empty() {
            form.push(("db", db));
        }
        let (_, resp) = self.send(|c, u| c.post(u).form(&form), "/query").await?;
        let status = resp.status();
        let body = read_capped(resp, MAX_QUERY_RESPONSE)
            .await
            .map_err(|e| Error::Unreachable(error_chain(&e)))?;
        if status == StatusCode::OK && body.len() > MAX_QUERY_RESPONSE {
            return Err(Error::Protocol(format!(
                "query response larger than {MAX_QUERY_RESPONSE} bytes: narrow the query \
                 (fewer series, fields or a shorter period)"
            )));
        }
        if status == StatusCode::OK {
            return parse_query_response(&body);
        }
        let message = error_text(&body);
        if status == StatusCode::BAD_REQUEST {
            // InfluxDB answers 400 for unparsable queries; that is a query error, not a
            // transport one, and retrying it cannot help.
            return Err(Error::Query(message));
        }
        Err(Error::Server {
            status: status.as_u16(),
            message,
        })
    }

    /// `POST /write` of `points` as line protocol in `precision`. `rp` and `consistency`
    /// may be empty (the database's default RP; the server's default consistency).
    pub async fn write(
        &self,
        db: &str,
        rp: &str,
        precision: Precision,
        consistency: &str,
        points: &[Point],
    ) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let mut body = String::with_capacity(points.len() * 64);
        for p in points {
            p.push_line_protocol(&mut body, precision);
            body.push('\n');
        }
        self.write_lines(db, rp, precision, consistency, body.into_bytes())
            .await
    }

    /// `POST /write` of a ready line-protocol body.
    pub async fn write_lines(
        &self,
        db: &str,
        rp: &str,
        precision: Precision,
        consistency: &str,
        body: Vec<u8>,
    ) -> Result<()> {
        let (body, gzip) = match self.inner.compression {
            Compression::Gzip => {
                let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4), GzLevel::fast());
                enc.write_all(&body)
                    .and_then(|_| enc.finish())
                    .map(|b| (b, true))
                    .map_err(|e| Error::Invalid(format!("gzip: {e}")))?
            }
            Compression::None => (body, false),
        };
        let body = bytes::Bytes::from(body);
        let mut params: Vec<(&str, &str)> = vec![("db", db), ("precision", precision.as_str())];
        if !rp.is_empty() {
            params.push(("rp", rp));
        }
        if !consistency.is_empty() {
            params.push(("consistency", consistency));
        }
        let (_, resp) = self
            .send(
                |c, mut u| {
                    u.query_pairs_mut().extend_pairs(params.iter());
                    let r = c.post(u).body(body.clone());
                    if gzip {
                        r.header("Content-Encoding", "gzip")
                    } else {
                        r
                    }
                },
                "/write",
            )
            .await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = read_capped(resp, ERROR_BODY_CAP).await.unwrap_or_default();
        Err(Error::Server {
            status: status.as_u16(),
            message: error_text(&body),
        })
    }

    /// `CREATE DATABASE "db"` (a no-op when it exists).
    pub async fn create_database(&self, db: &str) -> Result<()> {
        self.query("", &format!("CREATE DATABASE {}", quote_ident(db)))
            .await
            .map(drop)
    }

    /// `CREATE RETENTION POLICY "rp" ON "db" DURATION <d> REPLICATION <n> [DEFAULT]`.
    /// `duration` is InfluxQL text (`INF`, `1h`, `7d`).
    pub async fn create_retention_policy(
        &self,
        db: &str,
        rp: &str,
        duration: &str,
        replication: u32,
        default: bool,
    ) -> Result<()> {
        let q = format!(
            "CREATE RETENTION POLICY {} ON {} DURATION {duration} REPLICATION {replication}{}",
            quote_ident(rp),
            quote_ident(db),
            if default { " DEFAULT" } else { "" }
        );
        self.query("", &q).await.map(drop)
    }

    /// Names of all databases.
    pub async fn databases(&self) -> Result<Vec<String>> {
        Ok(first_column_strings(
            &self.query("", "SHOW DATABASES").await?,
        ))
    }

    /// Names of the retention policies of `db`.
    pub async fn retention_policies(&self, db: &str) -> Result<Vec<String>> {
        let q = format!("SHOW RETENTION POLICIES ON {}", quote_ident(db));
        Ok(first_column_strings(&self.query("", &q).await?))
    }

    /// Makes sure `db` (and `rp` in it, when not empty) exist, as influxDBOut's `.create()`:
    /// a new database gets `rp` as its default policy (`CREATE DATABASE "db" WITH NAME "rp"`,
    /// Kapacitor's statement); an existing one gets `rp` added, never made default.
    pub async fn ensure_database(&self, db: &str, rp: &str) -> Result<()> {
        let exists = self.databases().await?.iter().any(|d| d == db);
        if !exists {
            let mut q = format!("CREATE DATABASE {}", quote_ident(db));
            if !rp.is_empty() {
                q.push_str(" WITH NAME ");
                q.push_str(&quote_ident(rp));
            }
            return self.query("", &q).await.map(drop);
        }
        if !rp.is_empty() && !self.retention_policies(db).await?.iter().any(|r| r == rp) {
            self.create_retention_policy(db, rp, "INF", 1, false)
                .await?;
        }
        Ok(())
    }
}

/// reqwest's top-level message is "error sending request"; the cause is what helps.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// Largest `/query` response read (a batch query's result is parsed whole in the worker).
pub const MAX_QUERY_RESPONSE: usize = 256 * 1024 * 1024;
/// Bytes of an error response kept for its message.
const ERROR_BODY_CAP: usize = 64 * 1024;

/// At most `cap` bytes of the body, plus one more if there was more (so the caller can tell);
/// the rest is not read.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> reqwest::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap + 1 - buf.len();
        if chunk.len() >= room {
            buf.extend_from_slice(&chunk[..room]);
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}
