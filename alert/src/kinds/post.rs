//! `post`: the alert JSON (or an `[[httppost]]` alert template) POSTed to a URL or a named
//! endpoint, with its headers and basic auth.

use super::DeliveryError;
use super::http::{Body, Request};
use crate::event::Event;
use crate::options::PostOptions;
use kapacitor_config::Config;
use std::time::Duration;

pub(crate) struct PostAction {
    url: String,
    headers: Vec<(String, String)>,
    basic_auth: Option<(String, String)>,
    alert_template: Option<gotmpl::Template>,
    timeout: Option<Duration>,
    capture_response: bool,
    insecure: bool,
}

impl PostAction {
    pub fn new(o: PostOptions, cfg: &Config) -> Result<PostAction, String> {
        let endpoint = cfg
            .httppost
            .iter()
            .find(|e| e.endpoint == o.endpoint && !o.endpoint.is_empty());
        if !o.endpoint.is_empty() && endpoint.is_none() && o.url.is_empty() {
            return Err(format!("unknown httppost endpoint {:?}", o.endpoint));
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut basic_auth = None;
        let mut alert_template = None;
        let url = match endpoint {
            Some(e) => {
                headers.extend(e.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
                if !e.basic_auth.username.is_empty() && !e.basic_auth.password.is_empty() {
                    basic_auth =
                        Some((e.basic_auth.username.clone(), e.basic_auth.password.clone()));
                }
                let src = if !e.alert_template.is_empty() {
                    Some(e.alert_template.clone())
                } else if !e.alert_template_file.is_empty() {
                    Some(
                        std::fs::read_to_string(&e.alert_template_file).map_err(|err| {
                            format!(
                                "failed to read alert template file {:?}: {err}",
                                e.alert_template_file
                            )
                        })?,
                    )
                } else {
                    None
                };
                if let Some(src) = src {
                    alert_template =
                        Some(gotmpl::Template::parse("alert", &src).map_err(|err| {
                            format!(
                                "failed to get alert template for endpoint {:?}: {err}",
                                e.endpoint
                            )
                        })?);
                }
                e.url.clone()
            }
            None => o.url.clone(),
        };
        if url.is_empty() {
            return Err("post handler needs a url or an endpoint".to_string());
        }
        reqwest::Url::parse(&url).map_err(|e| format!("invalid post URL {url:?}: {e}"))?;
        // Handler headers override the endpoint's (Go's Header.Set after Header.Add).
        for (k, v) in o.headers {
            headers.retain(|(hk, _)| !hk.eq_ignore_ascii_case(&k));
            headers.push((k, v));
        }
        Ok(PostAction {
            url,
            headers,
            basic_auth,
            alert_template,
            timeout: (o.timeout > 0).then(|| Duration::from_nanos(o.timeout as u64)),
            capture_response: o.capture_response,
            insecure: o.skip_ssl_verification,
        })
    }

    pub fn request(&self, ev: &Event) -> Result<Request, DeliveryError> {
        let body = match &self.alert_template {
            Some(t) => Body::Raw(t.execute(&ev.alert_data_template()).map_err(|e| {
                DeliveryError::permanent(format!("failed to execute alert template: {e}"))
            })?),
            None => Body::Json(ev.alert_json()),
        };
        Ok(Request {
            service: "HTTP POST",
            url: self.url.clone(),
            headers: self.headers.clone(),
            basic_auth: self.basic_auth.clone(),
            body,
            timeout: self.timeout,
            insecure: self.insecure,
            ok: |s| (200..300).contains(&s),
            capture_response: self.capture_response,
        })
    }
}
