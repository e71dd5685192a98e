//! The few HTTP calls `kapacitorctl` makes, with Kapacitor's error body turned into the
//! message shown after `Error:`.

use crate::client::{BASE_PATH, Client, status_error};
use serde_json::Value;
use std::time::Duration;
use ureq::Agent;
use ureq::tls::TlsConfig;

/// Adding a member may wait while the new member is still starting.
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Api {
    base: String,
    agent: Agent,
}

impl Api {
    /// Checks the URL the way the `kapacitor` CLI does; no request is made.
    pub fn new(url: &str, skip_verify: bool) -> Result<Api, String> {
        let base = Client::new(url, skip_verify)
            .map_err(|e| e.to_string())?
            .url()
            .to_string();
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .user_agent("KapacitorClient")
            .tls_config(
                TlsConfig::builder()
                    .disable_verification(skip_verify)
                    .build(),
            )
            .build()
            .new_agent();
        Ok(Api { base, agent })
    }

    /// Sends a request to `/kapacitor/v1<path>`; returns the body of a 2xx answer.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<String, String> {
        let url = format!("{}{BASE_PATH}{path}", self.base);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.map(Value::to_string).unwrap_or_default()),
        };
        let mut resp =
            result.map_err(|e| format!("cannot reach kapacitord at {}: {e}", self.base))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading the answer of {url}: {e}"))?;
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(status_error(status, &text).to_string())
        }
    }

    pub fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let text = self.call(method, path, body)?;
        serde_json::from_str(&text).map_err(|e| format!("invalid JSON from kapacitord: {e}"))
    }
}
