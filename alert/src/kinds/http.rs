//! The web-hook kinds: each builds one HTTP request from an event, and `send` performs it
//! with the shared client, classifying failures as retryable or not.

use super::{DeliveryError, Shared, chat, incident, itsm, post};
use crate::event::Event;
use crate::options::{
    OpsGenieOptions, PagerDutyOptions, PushoverOptions, SlackOptions, TeamsOptions,
    TelegramOptions, VictorOpsOptions,
};
use std::time::Duration;

pub(crate) enum HttpAction {
    Post(Box<post::PostAction>),
    Slack(SlackOptions),
    Teams(TeamsOptions),
    Telegram(TelegramOptions),
    Discord(chat::DiscordAction),
    Pushover(PushoverOptions),
    PagerDuty(PagerDutyOptions),
    PagerDuty2(incident::PagerDuty2Action),
    VictorOps(VictorOpsOptions),
    OpsGenie(OpsGenieOptions),
    OpsGenie2(OpsGenieOptions),
    Alerta(Box<incident::AlertaAction>),
    Talk,
    HipChat(chat::HipChatOptions),
    BigPanda(Box<itsm::BigPandaAction>),
    ServiceNow(Box<itsm::ServiceNowAction>),
    Zenoss(Box<itsm::ZenossAction>),
}

pub(crate) enum Body {
    /// `application/json`.
    Json(String),
    /// `application/x-www-form-urlencoded`, pairs already in Go's (sorted) order.
    Form(Vec<(String, String)>),
    /// A rendered template: no content type, as Kapacitor sends it.
    Raw(String),
}

pub(crate) struct Request {
    pub service: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
    pub body: Body,
    /// Overrides the service-wide HTTP timeout.
    pub timeout: Option<Duration>,
    pub insecure: bool,
    /// Status codes the service counts as delivered.
    pub ok: fn(u16) -> bool,
    pub capture_response: bool,
}

impl Request {
    pub fn json(service: &'static str, url: String, body: String, ok: fn(u16) -> bool) -> Request {
        Request {
            service,
            url,
            headers: Vec::new(),
            basic_auth: None,
            body: Body::Json(body),
            timeout: None,
            insecure: false,
            ok,
            capture_response: true,
        }
    }
}

pub(crate) fn ok_200(s: u16) -> bool {
    s == 200
}

impl HttpAction {
    pub async fn deliver(&self, ev: &Event, sh: &Shared) -> Result<(), DeliveryError> {
        let cfg = &sh.cfg();
        let req = match self {
            HttpAction::Post(a) => a.request(ev)?,
            HttpAction::Slack(o) => chat::slack(o, ev, cfg)?,
            HttpAction::Teams(o) => chat::teams(o, ev, cfg)?,
            HttpAction::Telegram(o) => chat::telegram(o, ev, cfg)?,
            HttpAction::Discord(a) => a.request(ev, cfg)?,
            HttpAction::Pushover(o) => chat::pushover(o, ev, cfg)?,
            HttpAction::PagerDuty(o) => incident::pagerduty(o, ev, cfg, &sh.client_url)?,
            HttpAction::PagerDuty2(a) => a.request(ev, cfg, &sh.client_url)?,
            HttpAction::VictorOps(o) => incident::victorops(o, ev, cfg)?,
            HttpAction::OpsGenie(o) => incident::opsgenie(o, ev, cfg)?,
            HttpAction::OpsGenie2(o) => incident::opsgenie2(o, ev, cfg)?,
            HttpAction::Alerta(a) => a.request(ev, cfg)?,
            HttpAction::Talk => chat::talk(ev, cfg)?,
            HttpAction::HipChat(o) => chat::hipchat(o, ev, cfg)?,
            HttpAction::BigPanda(a) => a.request(ev, cfg)?,
            HttpAction::ServiceNow(a) => a.request(ev, cfg)?,
            HttpAction::Zenoss(a) => a.request(ev, cfg)?,
        };
        send(sh, req).await
    }
}

/// Performs the request once. Connection errors, timeouts, 429 and 5xx are retryable.
pub(crate) async fn send(sh: &Shared, req: Request) -> Result<(), DeliveryError> {
    let client = if req.insecure {
        &sh.insecure_http
    } else {
        &sh.http
    };
    let mut rb = client
        .post(&req.url)
        .timeout(req.timeout.unwrap_or(sh.http_timeout));
    for (k, v) in &req.headers {
        rb = rb.header(k, v);
    }
    if let Some((u, p)) = &req.basic_auth {
        rb = rb.basic_auth(u, Some(p));
    }
    rb = match req.body {
        Body::Json(b) => rb.header("Content-Type", "application/json").body(b),
        Body::Form(pairs) => rb.form(&pairs),
        Body::Raw(b) => rb.body(b),
    };
    let resp = rb.send().await.map_err(|e| {
        DeliveryError::retryable(format!(
            "{} request to {} failed: {e}",
            req.service, req.url
        ))
    })?;
    let status = resp.status().as_u16();
    if (req.ok)(status) {
        return Ok(());
    }
    let body = if req.capture_response {
        crate::capped_body::read_capped(resp, crate::capped_body::ERROR_BODY_CAP)
            .await
            .unwrap_or_default()
    } else {
        "unknown error, use .captureResponse() to capture the HTTP response".to_string()
    };
    let message = format!(
        "failed to understand {} response. code: {status} content: {}",
        req.service,
        body.trim_end()
    );
    if status == 429 || status >= 500 {
        Err(DeliveryError::retryable(message))
    } else {
        Err(DeliveryError::permanent(message))
    }
}

/// Go's `path.Join` of a URL path and more elements, applied to a URL string.
pub(crate) fn join_url_path(base: &str, elems: &[&str]) -> Result<String, DeliveryError> {
    let mut url = reqwest::Url::parse(base)
        .map_err(|e| DeliveryError::permanent(format!("invalid URL {base:?}: {e}")))?;
    let mut parts: Vec<String> = url
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    for e in elems {
        parts.extend(e.split('/').filter(|s| !s.is_empty()).map(str::to_string));
    }
    url.set_path(&format!("/{}", parts.join("/")));
    Ok(url.to_string())
}
