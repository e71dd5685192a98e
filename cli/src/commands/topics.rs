//! `show-topic` and `show-topic-handler`.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{CmdResult, Ctx, Failure};
use crate::client::{Topic, TopicEvent, TopicHandler};
use crate::output::{go_json, pad, rfc822_in};
use crate::usage;

/// `kapacitor show-topic <topic>`.
pub fn show_topic(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.len() != 1 {
        return Err(ctx.usage_exit("Must specify one topic ID", usage::SHOW_TOPIC));
    }
    let topic = ctx.client.topic(&args[0])?;
    let events = ctx.client.topic_events(&topic.id, "")?.events;
    let handlers = ctx.client.topic_handlers(&topic.id, "")?;
    let ids: Vec<String> = handlers.into_iter().map(|h| h.id).collect();
    let text = render_topic(&topic, events, &ids, &TimeZone::system()).map_err(Failure::Error)?;
    ctx.print(&text);
    Ok(())
}

/// The detail view of `show-topic`: events sorted by time (oldest first).
pub fn render_topic(
    topic: &Topic,
    mut events: Vec<TopicEvent>,
    handler_ids: &[String],
    tz: &TimeZone,
) -> Result<String, String> {
    let mut keyed = Vec::with_capacity(events.len());
    for e in events.drain(..) {
        let ts: Timestamp = e.state.time.parse().map_err(|err| {
            format!(
                "failed to decode JSON: invalid time {:?}: {err}",
                e.state.time
            )
        })?;
        keyed.push((ts, e));
    }
    keyed.sort_by_key(|(ts, _)| *ts);
    let we = keyed.iter().map(|(_, e)| e.id.len()).fold(5, usize::max) + 1;
    let wm = keyed
        .iter()
        .map(|(_, e)| e.state.message.len())
        .fold(7, usize::max)
        + 1;

    let mut s = String::new();
    let _ = writeln!(s, "ID: {}", topic.id);
    let _ = writeln!(s, "Level: {}", topic.level);
    let _ = writeln!(s, "Collected: {}", topic.collected);
    let _ = writeln!(s, "Handlers: [{}]", handler_ids.join(", "));
    s.push_str("Events:\n");
    let _ = writeln!(
        s,
        "{}{}{}{}",
        pad("Event", we),
        pad("Level", 9),
        pad("Message", wm),
        pad("Date", 23)
    );
    for (_, e) in &keyed {
        let date = rfc822_in(&e.state.time, tz)?;
        let _ = writeln!(
            s,
            "{}{}{}{}",
            pad(&e.id, we),
            pad(&e.state.level, 9),
            pad(&e.state.message, wm),
            pad(&date, 23)
        );
    }
    Ok(s)
}

/// `kapacitor show-topic-handler <topic> <handler>`.
pub fn show_topic_handler(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.len() != 2 {
        return Err(ctx.usage_exit(
            "Must specify both topic and handler IDs",
            usage::SHOW_TOPIC_HANDLER,
        ));
    }
    let handler = ctx.client.topic_handler(&args[0], &args[1])?;
    ctx.print(&render_topic_handler(&args[0], &handler));
    Ok(())
}

/// The detail view of `show-topic-handler`; options as Go's compact, key-sorted JSON.
pub fn render_topic_handler(topic: &str, h: &TopicHandler) -> String {
    let options = go_json(&serde_json::Value::Object(h.options.clone()));
    format!(
        "ID: {}\nTopic: {topic}\nKind: {}\nMatch: {}\nOptions: {options}\n",
        h.id, h.kind, h.match_expr
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_view_sorts_events_by_time() {
        let topic: Topic = serde_json::from_str(
            r#"{"id":"cpu","level":"CRITICAL","collected":5,
                "events-link":{"rel":"events","href":"/kapacitor/v1/alerts/topics/cpu/events"},
                "handlers-link":{"rel":"handlers","href":"/kapacitor/v1/alerts/topics/cpu/handlers"}}"#,
        )
        .unwrap();
        let events: Vec<TopicEvent> = serde_json::from_str(
            r#"[
                {"id":"cpu:host=b","state":{"message":"b is CRITICAL","details":"","time":"2016-03-31T11:30:00Z","duration":"0s","level":"CRITICAL"}},
                {"id":"cpu:nil","state":{"message":"cpu:nil is OK","details":"","time":"2016-03-31T11:24:55Z","duration":"1m30s","level":"OK"}}
            ]"#,
        )
        .unwrap();
        let got = render_topic(
            &topic,
            events,
            &["slack".into(), "log".into()],
            &TimeZone::UTC,
        )
        .unwrap();
        let mut expected = String::from(
            "ID: cpu\nLevel: CRITICAL\nCollected: 5\nHandlers: [slack, log]\nEvents:\n",
        );
        expected += &format!(
            "{}{}{}{}\n",
            pad("Event", 11),
            pad("Level", 9),
            pad("Message", 14),
            pad("Date", 23)
        );
        expected += &format!(
            "{}{}{}{}\n",
            pad("cpu:nil", 11),
            pad("OK", 9),
            pad("cpu:nil is OK", 14),
            pad("31 Mar 16 11:24 UTC", 23)
        );
        expected += &format!(
            "{}{}{}{}\n",
            pad("cpu:host=b", 11),
            pad("CRITICAL", 9),
            pad("b is CRITICAL", 14),
            pad("31 Mar 16 11:30 UTC", 23)
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn topic_view_without_events_or_handlers() {
        let topic = Topic {
            id: "t".into(),
            level: "OK".into(),
            ..Default::default()
        };
        let got = render_topic(&topic, vec![], &[], &TimeZone::UTC).unwrap();
        assert!(
            got.starts_with(
                "ID: t\nLevel: OK\nCollected: 0\nHandlers: []\nEvents:\nEvent Level    Message Date"
            ),
            "{got}"
        );
    }

    #[test]
    fn handler_view_from_reference() {
        let h: TopicHandler = serde_json::from_str(
            r##"{"link":{"rel":"self","href":"/kapacitor/v1/alerts/topics/cpu/handlers/slack"},
                "id":"slack","kind":"slack","options":{"username":"kapacitor","channel":"#alerts"},"match":"changed() == TRUE"}"##,
        )
        .unwrap();
        assert_eq!(
            render_topic_handler("cpu", &h),
            "ID: slack\nTopic: cpu\nKind: slack\nMatch: changed() == TRUE\nOptions: {\"channel\":\"#alerts\",\"username\":\"kapacitor\"}\n"
        );
    }
}
