//! The JSON shapes of the alert routes (reference §1.5), so that apid only picks the data
//! and the status code. Keys are in Kapacitor's order; apid renders them pretty-printed.

use crate::event::EventState;
use crate::service::TopicStatus;
use crate::spec::HandlerSpec;
use kapacitor_config::format_go_duration;
use kapacitor_models::time_fmt::rfc3339_nano;
use serde_json::{Value as J, json};

const TOPICS: &str = "/kapacitor/v1/alerts/topics";

fn link(rel: &str, href: String) -> J {
    json!({"rel": rel, "href": href})
}

/// `GET /alerts/topics/<id>`.
pub fn topic_json(t: &TopicStatus) -> J {
    json!({
        "link": link("self", format!("{TOPICS}/{}", t.id)),
        "id": t.id,
        "level": t.level.as_str(),
        "collected": t.collected,
        "events-link": link("events", format!("{TOPICS}/{}/events", t.id)),
        "handlers-link": link("handlers", format!("{TOPICS}/{}/handlers", t.id)),
    })
}

/// `GET /alerts/topics`; `self_href` echoes the request URI.
pub fn topics_json(self_href: &str, topics: &[TopicStatus]) -> J {
    json!({
        "link": link("self", self_href.to_string()),
        "topics": topics.iter().map(topic_json).collect::<Vec<_>>(),
    })
}

/// One event of `GET /alerts/topics/<t>/events[/<id>]` (duration as a Go duration string).
pub fn event_json(topic: &str, id: &str, s: &EventState) -> J {
    json!({
        "link": link("self", format!("{TOPICS}/{topic}/events/{id}")),
        "id": id,
        "state": {
            "message": s.message,
            "details": s.details,
            "time": rfc3339_nano(s.time),
            "duration": format_go_duration(s.duration),
            "level": s.level.as_str(),
        },
    })
}

pub fn events_json(self_href: &str, topic: &str, events: &[(String, EventState)]) -> J {
    json!({
        "link": link("self", self_href.to_string()),
        "topic": topic,
        "events": events.iter().map(|(id, s)| event_json(topic, id, s)).collect::<Vec<_>>(),
    })
}

/// A handler object (the topic is in the link, not in the body).
pub fn handler_json(h: &HandlerSpec) -> J {
    json!({
        "link": link("self", format!("{TOPICS}/{}/handlers/{}", h.topic, h.id)),
        "id": h.id,
        "kind": h.kind,
        "options": h.options,
        "match": h.match_,
    })
}

pub fn handlers_json(self_href: &str, topic: &str, handlers: &[HandlerSpec]) -> J {
    json!({
        "link": link("self", self_href.to_string()),
        "topic": topic,
        "handlers": handlers.iter().map(handler_json).collect::<Vec<_>>(),
    })
}
