//! Chat services: Slack, Microsoft Teams, Telegram, Discord, Pushover, Talk and HipChat, with
//! the payloads of Kapacitor's `services/<name>/service.go`.

use super::http::{Body, Request, join_url_path, ok_200};
use super::{DeliveryError, go_encode, go_map, render, template};
use crate::event::Event;
use crate::level::Level;
use crate::options::{
    DiscordOptions, PushoverOptions, SlackOptions, TeamsOptions, TelegramOptions,
};
use kapacitor_config::Config;
use kapacitor_models::time_fmt::rfc3339;
use serde::Deserialize;
use serde_json::{Value as J, json};

fn not_enabled() -> DeliveryError {
    DeliveryError::permanent("service is not enabled")
}

/// Picks the workspace config: by name, or the default one (the only one, or `default = true`).
fn workspace<'a, T>(
    confs: &'a [T],
    wanted: &str,
    name_of: fn(&T) -> &str,
    is_default: fn(&T) -> bool,
    service: &str,
) -> Result<&'a T, DeliveryError> {
    if confs.is_empty() {
        return Err(DeliveryError::permanent(format!(
            "no {service} configuration found"
        )));
    }
    let found = if wanted.is_empty() {
        if confs.len() == 1 {
            confs.first()
        } else {
            confs
                .iter()
                .find(|c| is_default(c))
                .or_else(|| confs.iter().find(|c| name_of(c).is_empty()))
        }
    } else {
        confs.iter().find(|c| name_of(c) == wanted)
    };
    found.ok_or_else(|| DeliveryError::permanent("workspace id not found"))
}

pub(crate) fn slack(o: &SlackOptions, ev: &Event, cfg: &Config) -> Result<Request, DeliveryError> {
    let c = workspace(
        &cfg.slack,
        &o.workspace,
        |c| &c.workspace,
        |c| c.default,
        "slack",
    )?;
    if !c.enabled {
        return Err(not_enabled());
    }
    let color = match ev.level {
        Level::Warning => "warning",
        Level::Critical => "danger",
        _ => "good",
    };
    let pick = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let body = go_map([
        ("as_user", J::Bool(false)),
        (
            "attachments",
            json!([{"fallback": ev.message, "color": color, "text": ev.message, "mrkdwn_in": ["text"]}]),
        ),
        ("channel", J::String(pick(&o.channel, &c.channel))),
        ("icon_emoji", J::String(pick(&o.icon_emoji, &c.icon_emoji))),
        ("text", J::String(String::new())),
        ("username", J::String(pick(&o.username, &c.username))),
    ]);
    let mut req = Request::json("Slack", c.url.clone(), go_encode(&body), ok_200);
    if !c.token.is_empty() {
        req.headers
            .push(("Authorization".into(), format!("Bearer {}", c.token)));
    }
    req.insecure = c.insecure_skip_verify;
    Ok(req)
}

pub(crate) fn teams(o: &TeamsOptions, ev: &Event, cfg: &Config) -> Result<Request, DeliveryError> {
    let c = &cfg.teams;
    if !c.enabled {
        return Err(not_enabled());
    }
    let url = if o.channel_url.is_empty() {
        c.channel_url.clone()
    } else {
        o.channel_url.clone()
    };
    let level = ev.level.as_str();
    let (title, summary) = if ev.id.is_empty() && ev.topic.is_empty() {
        (level.to_string(), format!("{level}: {}", ev.message))
    } else {
        let which = if ev.id.is_empty() { &ev.topic } else { &ev.id };
        let title = format!("{level}: [{which}]");
        let summary = format!("{title} - {}", ev.message);
        (title, summary)
    };
    // Go slices the summary at byte 70; stay on a character boundary.
    let mut cut = summary.len().min(70);
    while !summary.is_char_boundary(cut) {
        cut -= 1;
    }
    let color = match ev.level {
        Level::Warning => "FFA533",
        Level::Critical => "CC4A31",
        _ => "34CC25",
    };
    let card = json!({
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "title": title,
        "text": ev.message,
        "summary": format!("{}...", &summary[..cut]),
        "themeColor": color,
    });
    // Teams uses json.Marshal: no trailing newline.
    let body = kapacitor_models::go_json::to_string(&card);
    Ok(Request::json("Teams", url, body, |s| s == 200 || s == 204))
}

pub(crate) fn telegram(
    o: &TelegramOptions,
    ev: &Event,
    cfg: &Config,
) -> Result<Request, DeliveryError> {
    let c = &cfg.telegram;
    if !c.enabled {
        return Err(not_enabled());
    }
    let chat_id = if o.chat_id.is_empty() {
        &c.chat_id
    } else {
        &o.chat_id
    };
    let parse_mode = if o.parse_mode.is_empty() {
        &c.parse_mode
    } else {
        &o.parse_mode
    };
    if !parse_mode.is_empty()
        && !parse_mode.eq_ignore_ascii_case("markdown")
        && !parse_mode.eq_ignore_ascii_case("html")
    {
        return Err(DeliveryError::permanent(format!(
            "parseMode {parse_mode} is not valid, please use 'Markdown' or 'HTML'"
        )));
    }
    let mut fields = vec![
        ("chat_id", J::String(chat_id.clone())),
        ("text", J::String(ev.message.clone())),
    ];
    if !parse_mode.is_empty() {
        fields.push(("parse_mode", J::String(parse_mode.clone())));
    }
    if o.disable_web_page_preview || c.disable_web_page_preview {
        fields.push(("disable_web_page_preview", J::Bool(true)));
    }
    if o.disable_notification || c.disable_notification {
        fields.push(("disable_notification", J::Bool(true)));
    }
    // Kapacitor joins `<url><token>` and `sendMessage` as a path.
    let url = join_url_path(&format!("{}{}", c.url, c.token), &["sendMessage"])?;
    Ok(Request::json(
        "Telegram",
        url,
        go_encode(&go_map(fields)),
        ok_200,
    ))
}

pub(crate) struct DiscordAction {
    opts: DiscordOptions,
    title: gotmpl::Template,
}

impl DiscordAction {
    pub fn new(opts: DiscordOptions) -> Result<DiscordAction, String> {
        let title = template("embedTitle", &opts.embed_title)?;
        Ok(DiscordAction { opts, title })
    }

    pub fn request(&self, ev: &Event, cfg: &Config) -> Result<Request, DeliveryError> {
        let o = &self.opts;
        let c = workspace(
            &cfg.discord,
            &o.workspace,
            |c| &c.workspace,
            |c| c.default,
            "discord",
        )?;
        if !c.enabled {
            return Err(not_enabled());
        }
        let title = render(&self.title, ev)?;
        let color = match ev.level {
            Level::Critical => 0xF95F53,
            Level::Warning => 0xF48D38,
            _ => 0x7A65F2,
        };
        let timestamp = if c.timestamp {
            rfc3339(ev.time)
        } else {
            String::new()
        };
        let pick = |a: &str, b: &str| {
            if a.is_empty() {
                b.to_string()
            } else {
                a.to_string()
            }
        };
        let body = go_map([
            ("avatar_url", J::String(pick(&o.avatar_url, &c.avatar_url))),
            (
                "embeds",
                json!([{"color": color, "title": title, "description": ev.message, "timestamp": timestamp}]),
            ),
            ("username", J::String(pick(&o.username, &c.username))),
        ]);
        let mut req = Request::json("Discord", c.url.clone(), go_encode(&body), |s| s == 204);
        req.insecure = c.insecure_skip_verify;
        Ok(req)
    }
}

pub(crate) fn pushover(
    o: &PushoverOptions,
    ev: &Event,
    cfg: &Config,
) -> Result<Request, DeliveryError> {
    let c = &cfg.pushover;
    if !c.enabled {
        return Err(not_enabled());
    }
    let priority = match ev.level {
        Level::Ok => -2,
        Level::Info => -1,
        Level::Warning => 0,
        Level::Critical => 1,
    };
    let user = if o.user_key.is_empty() {
        &c.user_key
    } else {
        &o.user_key
    };
    let mut form: Vec<(String, String)> = vec![
        ("token".into(), c.token.clone()),
        ("user".into(), user.clone()),
        ("message".into(), ev.message.clone()),
        ("priority".into(), priority.to_string()),
    ];
    for (k, v) in [
        ("device", &o.device),
        ("title", &o.title),
        ("url", &o.url),
        ("url_title", &o.url_title),
        ("sound", &o.sound),
    ] {
        if !v.is_empty() {
            form.push((k.into(), v.clone()));
        }
    }
    // Go's url.Values.Encode sorts by key.
    form.sort_by(|a, b| a.0.cmp(&b.0));
    let mut req = Request::json("Pushover", c.url.clone(), String::new(), ok_200);
    req.body = Body::Form(form);
    Ok(req)
}

/// Talk takes no options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TalkOptions {}

/// Talk (jianliao.com) incoming web hook: the event ID as title, the message as text.
pub(crate) fn talk(ev: &Event, cfg: &Config) -> Result<Request, DeliveryError> {
    let c = &cfg.talk;
    if !c.enabled {
        return Err(not_enabled());
    }
    let body = go_map([
        ("authorName", J::from(c.author_name.as_str())),
        ("text", J::from(ev.message.as_str())),
        ("title", J::from(ev.id.as_str())),
    ]);
    Ok(Request::json(
        "Talk",
        c.url.clone(),
        go_encode(&body),
        ok_200,
    ))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct HipChatOptions {
    #[serde(default)]
    pub room: String,
    #[serde(default)]
    pub token: String,
}

/// HipChat's v2 room notification: `<url>/<room>/notification?auth_token=<token>`.
pub(crate) fn hipchat(
    o: &HipChatOptions,
    ev: &Event,
    cfg: &Config,
) -> Result<Request, DeliveryError> {
    let c = &cfg.hipchat;
    if !c.enabled {
        return Err(not_enabled());
    }
    let room = if o.room.is_empty() { &c.room } else { &o.room };
    let token = if o.token.is_empty() {
        &c.token
    } else {
        &o.token
    };
    let mut url = reqwest::Url::parse(&join_url_path(&c.url, &[room, "notification"])?)
        .map_err(|e| DeliveryError::permanent(e.to_string()))?;
    url.query_pairs_mut()
        .clear()
        .append_pair("auth_token", token);
    let color = match ev.level {
        Level::Warning => "yellow",
        Level::Critical => "red",
        _ => "green",
    };
    let body = go_map([
        ("color", J::from(color)),
        ("from", J::from("kapacitor")),
        ("message", J::from(ev.message.as_str())),
        ("notify", J::Bool(true)),
    ]);
    Ok(Request::json(
        "HipChat",
        url.to_string(),
        go_encode(&body),
        |s| s == 200 || s == 204,
    ))
}
