//! Raw TCP kinds: `tcp` (the alert JSON per connection) and `sensu` (a Sensu client socket
//! check result, answered by `ok`).

use super::{DeliveryError, Shared, go_encode, go_map, render, template};
use crate::event::Event;
use crate::level::Level;
use crate::options::{SensuOptions, TcpOptions};
use regex::Regex;
use serde_json::{Value as J, json};
use std::sync::LazyLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) struct TcpAction {
    address: String,
}

impl TcpAction {
    pub fn new(o: TcpOptions) -> TcpAction {
        TcpAction { address: o.address }
    }

    pub async fn deliver(&self, ev: &Event) -> Result<(), DeliveryError> {
        let mut conn = connect(&self.address, "tcp handler").await?;
        // Kapacitor encodes with json.Encoder (one newline) and then adds another.
        let mut buf = ev.alert_json();
        buf.push('\n');
        conn.write_all(buf.as_bytes())
            .await
            .map_err(|e| DeliveryError::retryable(format!("tcp handler write failed: {e}")))?;
        let _ = conn.shutdown().await;
        Ok(())
    }
}

async fn connect(addr: &str, what: &str) -> Result<TcpStream, DeliveryError> {
    match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(DeliveryError::retryable(format!(
            "{what} failed to connect to {addr}: {e}"
        ))),
        Err(_) => Err(DeliveryError::retryable(format!(
            "{what} timed out connecting to {addr}"
        ))),
    }
}

static VALID_SENSU_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w\.-]+$").expect("static regex"));

pub(crate) struct SensuAction {
    opts: SensuOptions,
    source: gotmpl::Template,
}

impl SensuAction {
    pub fn new(opts: SensuOptions) -> Result<SensuAction, String> {
        let source = template("source", &opts.source)?;
        Ok(SensuAction { opts, source })
    }

    pub async fn deliver(&self, ev: &Event, sh: &Shared) -> Result<(), DeliveryError> {
        let cfg = sh.cfg();
        let c = &cfg.sensu;
        let source = render(&self.source, ev)?;
        if !VALID_SENSU_NAME.is_match(&ev.id) {
            return Err(DeliveryError::permanent(format!(
                "invalid name {:?} for sensu alert. Must match {}",
                ev.id,
                VALID_SENSU_NAME.as_str()
            )));
        }
        if !c.enabled {
            return Err(DeliveryError::permanent("service is not enabled"));
        }
        let status = match ev.level {
            Level::Ok | Level::Info => 0,
            Level::Warning => 1,
            Level::Critical => 2,
        };
        let handlers = if self.opts.handlers.is_empty() {
            &c.handlers
        } else {
            &self.opts.handlers
        };
        let mut fields: Vec<(String, J)> = vec![
            ("name".into(), J::from(ev.id.as_str())),
            (
                "source".into(),
                J::from(if source.is_empty() {
                    c.source.clone()
                } else {
                    source
                }),
            ),
            ("output".into(), J::from(ev.message.as_str())),
            ("status".into(), J::from(status)),
            (
                "handlers".into(),
                if handlers.is_empty() {
                    J::Null
                } else {
                    json!(handlers)
                },
            ),
        ];
        for (k, v) in &self.opts.metadata {
            if !fields.iter().any(|(fk, _)| fk == k) {
                fields.push((k.clone(), v.clone()));
            }
        }
        let mut conn = connect(&c.addr, "sensu").await?;
        conn.write_all(go_encode(&go_map(fields)).as_bytes())
            .await
            .map_err(|e| DeliveryError::retryable(format!("sensu write failed: {e}")))?;
        // Sensu answers "ok"; anything longer is an error shown in part.
        let mut resp = Vec::new();
        let mut conn = (&mut conn).take(crate::capped_body::ERROR_BODY_CAP as u64);
        tokio::time::timeout(sh.http_timeout, conn.read_to_end(&mut resp))
            .await
            .map_err(|_| DeliveryError::retryable("sensu socket read timed out"))?
            .map_err(|e| DeliveryError::retryable(format!("sensu socket read failed: {e}")))?;
        let resp = String::from_utf8_lossy(&resp);
        if resp != "ok" {
            return Err(DeliveryError::permanent(format!(
                "sensu socket error: {resp}"
            )));
        }
        Ok(())
    }
}
