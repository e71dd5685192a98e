//! The service: topic state, persistence, handler registration, match filtering, overflow,
//! isolation of a hanging endpoint, publish/aggregate, API JSON shapes.

mod common;

use common::*;
use kapacitor_alert::{
    AlertService, EventState, HandlerError, HandlerSpec, Level, MemoryPersistence, api,
};
use serde_json::json;
use std::sync::Arc;

fn post_spec(topic: &str, id: &str, url: &str) -> HandlerSpec {
    HandlerSpec::new(topic, id, "post", opts(json!({ "url": url })))
}

#[test]
fn alert_json_is_kapacitors_exact_body() {
    assert_eq!(event("cpu", Level::Critical).alert_json(), ALERT_JSON);
}

#[test]
fn event_round_trips_as_ipc_json() {
    let e = event("main:task:alert2", Level::Warning);
    let back = kapacitor_alert::Event::from_ipc_json(&e.to_ipc_json()).unwrap();
    assert_eq!(back, e);
}

#[test]
fn levels_parse_case_insensitively_and_order() {
    assert_eq!("warning".parse::<Level>().unwrap(), Level::Warning);
    assert!("bad".parse::<Level>().is_err());
    assert!(Level::Ok < Level::Info && Level::Warning < Level::Critical);
}

#[test]
fn service_needs_a_runtime() {
    let err =
        AlertService::new(&config(""), &[], Box::new(MemoryPersistence::default())).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test]
async fn a_remote_state_is_recorded_without_handling_and_never_goes_back_in_time() {
    let (svc, persist) = service(&config(""));
    let state = |level, time| EventState {
        message: "m".into(),
        time,
        level,
        ..EventState::default()
    };
    assert!(svc.record_state("cpu", "h1", state(Level::Critical, 20)));
    assert!(
        !svc.record_state("cpu", "h1", state(Level::Critical, 20)),
        "same state twice"
    );
    assert!(
        !svc.record_state("cpu", "h1", state(Level::Ok, 10)),
        "older state"
    );
    let t = svc.topic("cpu").unwrap();
    assert_eq!((t.level, t.collected), (Level::Critical, 1));
    assert_eq!(persist.snapshot()["cpu"]["h1"].level, Level::Critical);
    assert!(svc.record_state("cpu", "h1", state(Level::Ok, 30)));
    assert_eq!(svc.topic("cpu").unwrap().level, Level::Ok);
    assert!(!svc.record_state("bad topic/", "h1", state(Level::Ok, 40)));
}

#[tokio::test]
async fn topic_level_collected_previous_level_and_persistence() {
    let (svc, persist) = service(&config(""));
    svc.publish(event("cpu", Level::Critical));
    let mut other = event("cpu", Level::Warning);
    other.id = "b".into();
    svc.publish(other);
    let t = svc.topic("cpu").unwrap();
    assert_eq!((t.level, t.collected), (Level::Critical, 2));
    // Stored state is the §8 JSON shape.
    let stored = persist.snapshot();
    assert_eq!(
        stored["cpu"]["id"].to_persisted_json(),
        r#"{"message":"message","details":"details","time":"1970-01-01T00:00:00Z","duration":0,"level":"CRITICAL"}"#
    );
    // Recovery: the topic level drops, the persisted event is deleted, the state stays.
    svc.publish(event("cpu", Level::Ok));
    assert_eq!(svc.topic("cpu").unwrap().level, Level::Warning);
    assert!(!persist.snapshot()["cpu"].contains_key("id"));
    assert_eq!(svc.event("cpu", "id").unwrap().level, Level::Ok);
    // Events listed highest first, min-level filter applies.
    let evs = svc.events("cpu", Level::Info).unwrap();
    assert_eq!(evs.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["b"]);
    assert_eq!(
        svc.events("nope", Level::Ok).unwrap_err(),
        "unknown topic \"nope\""
    );
    // Topic listing: pattern and min-level; bad patterns are errors.
    svc.publish(event("mem", Level::Info));
    let ids =
        |v: Vec<kapacitor_alert::TopicStatus>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(svc.topics("", Level::Ok).unwrap()), ["cpu", "mem"]);
    assert_eq!(ids(svc.topics("", Level::Warning).unwrap()), ["cpu"]);
    assert_eq!(ids(svc.topics("m*", Level::Ok).unwrap()), ["mem"]);
    assert!(svc.topics("[", Level::Ok).is_err());
    // Delete drops state and persisted events.
    assert!(svc.delete_topic("cpu"));
    assert!(svc.topic("cpu").is_none());
    assert!(!persist.snapshot().contains_key("cpu"));
}

#[tokio::test]
async fn restored_state_sets_previous_level_after_restart() {
    let srv = HttpServer::start(200).await;
    let (svc, _) = service(&config(""));
    let state = EventState::from_persisted_json(
        r#"{"message":"m","time":"2016-03-31T11:24:55Z","duration":90000000000,"level":"CRITICAL"}"#,
    )
    .unwrap();
    assert_eq!(state.duration, 90_000_000_000);
    svc.restore("cpu", [("id".to_string(), state)]);
    assert_eq!(svc.topic("cpu").unwrap().level, Level::Critical);
    svc.register_handler(post_spec("cpu", "p", &srv.url))
        .unwrap();
    svc.publish(event("cpu", Level::Ok));
    let reqs = srv.wait_for(1).await;
    assert!(
        reqs[0].body.contains("\"previousLevel\":\"CRITICAL\""),
        "{}",
        reqs[0].body
    );
}

#[tokio::test]
async fn handler_registration_errors() {
    let (svc, _) = service(&config(""));
    let spec = post_spec("cpu", "p", "http://127.0.0.1:1/");
    svc.register_handler(spec.clone()).unwrap();
    assert_eq!(
        svc.register_handler(spec.clone()).unwrap_err(),
        HandlerError::Exists("p".into())
    );
    let mut bad = spec.clone();
    bad.id = "bad id".into();
    assert!(matches!(
        svc.register_handler(bad),
        Err(HandlerError::Invalid(_))
    ));
    let unknown_key = HandlerSpec::new("cpu", "q", "slack", opts(json!({"chanel": "#a"})));
    let err = svc.register_handler(unknown_key).unwrap_err().to_string();
    assert!(err.contains("unknown field `chanel`"), "{err}");
    let kind = HandlerSpec::new("cpu", "q", "nope", opts(json!({})));
    assert_eq!(
        svc.register_handler(kind).unwrap_err().to_string(),
        "unsupported action kind \"nope\""
    );
    let log = HandlerSpec::new("cpu", "q", "log", opts(json!({"path": "relative.log"})));
    assert_eq!(
        svc.register_handler(log).unwrap_err().to_string(),
        "log path must be absolute: relative.log is not absolute"
    );
    let mut m = post_spec("cpu", "q", "http://127.0.0.1:1/");
    m.match_ = "nosuch() == TRUE".into();
    assert!(
        svc.register_handler(m)
            .unwrap_err()
            .to_string()
            .starts_with("invalid match expression")
    );
    // A handler makes its topic exist; list, replace, remove.
    assert_eq!(svc.topic("cpu").unwrap().collected, 0);
    let mut replacement = post_spec("cpu", "p2", "http://127.0.0.1:2/");
    replacement.match_ = "level() > OK".into();
    svc.replace_handler("cpu", "p", replacement.clone())
        .unwrap();
    assert_eq!(svc.handlers("cpu", ""), vec![replacement]);
    assert!(svc.handler("cpu", "p").is_none());
    assert!(svc.remove_handler("cpu", "p2"));
    assert!(!svc.remove_handler("cpu", "p2"));
}

#[tokio::test]
async fn match_expression_filters_events() {
    let srv = HttpServer::start(200).await;
    let (svc, _) = service(&config(""));
    let mut spec = post_spec("cpu", "changes", &srv.url);
    spec.match_ = "changed() == TRUE AND \"host\" == 'serverA' AND level() >= WARNING".into();
    svc.register_handler(spec).unwrap();
    let mut missing_tag = post_spec("cpu", "missing", &srv.url);
    missing_tag.match_ = "\"dc\" == 'x'".into();
    svc.register_handler(missing_tag).unwrap();

    svc.publish(event("cpu", Level::Critical)); // changed OK -> CRITICAL: sent
    svc.publish(event("cpu", Level::Critical)); // unchanged: filtered
    let mut warn = event("cpu", Level::Warning);
    warn.message = "second".into();
    svc.publish(warn); // changed: sent
    let reqs = srv.wait_for(2).await;
    wait_until(|| {
        svc.stats()
            .handlers
            .iter()
            .any(|h| h.id == "changes" && h.sent == 2)
    })
    .await;
    let stats = svc.stats();
    let h = stats.handlers.iter().find(|h| h.id == "changes").unwrap();
    assert_eq!(h.sent, 2);
    assert!(reqs[1].body.contains("\"message\":\"second\""));
    assert!(reqs[1].body.contains("\"previousLevel\":\"CRITICAL\""));
    // A reference to a missing tag is an evaluation error: counted, not handled.
    let m = stats.handlers.iter().find(|h| h.id == "missing").unwrap();
    assert_eq!((m.match_errors, m.sent), (3, 0));
}

#[tokio::test]
async fn overflow_is_counted_never_silent() {
    let hang = HttpServer::hanging().await;
    let (svc, _) = service(&config("[alert]\ntopic-buffer-length = 2\n"));
    svc.register_handler(post_spec("cpu", "slow", &hang.url))
        .unwrap();
    for _ in 0..10 {
        svc.publish(event("cpu", Level::Critical));
    }
    let s = svc.stats();
    let h = &s.handlers[0];
    // Two queued, at most one taken by the handler task; the rest dropped and counted.
    assert!(h.dropped >= 7, "{h:?}");
    assert!((9..=10).contains(&(h.dropped + h.queued)), "{h:?}");
    assert_eq!(s.topics[0].collected, 10);
}

#[tokio::test]
async fn hanging_endpoint_does_not_delay_other_handlers() {
    let hang = HttpServer::hanging().await;
    let ok = HttpServer::start(200).await;
    let (svc, _) = service(&config(""));
    svc.register_handler(post_spec("cpu", "a-hangs", &hang.url))
        .unwrap();
    svc.register_handler(post_spec("cpu", "b-ok", &ok.url))
        .unwrap();
    for i in 0..5 {
        let mut e = event("cpu", Level::Critical);
        e.id = format!("e{i}");
        svc.publish(e);
    }
    // Every event reaches the healthy endpoint while the other is still stuck on the first.
    let reqs = ok.wait_for(5).await;
    assert_eq!(reqs.len(), 5);
    assert_eq!(hang.count(), 1);
}

#[tokio::test]
async fn retryable_failures_are_retried_then_counted() {
    let srv = HttpServer::start(200).await;
    srv.then_status(&[503, 500]);
    let (svc, _) = service(&config(""));
    svc.register_handler(post_spec("cpu", "p", &srv.url))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    srv.wait_for(3).await;
    wait_until(|| svc.stats().handlers[0].sent == 1).await;
    assert_eq!(svc.stats().handlers[0].retried, 2);
    // A 4xx is not retried.
    srv.then_status(&[400]);
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| svc.stats().handlers[0].failed == 1).await;
    assert_eq!(srv.count(), 4);
}

#[tokio::test]
async fn disabled_kinds_are_accepted_but_inert() {
    let srv = HttpServer::start(200).await;
    let (svc, _) = service_with(&config(""), &["post"]);
    svc.register_handler(post_spec("cpu", "p", &srv.url))
        .unwrap();
    svc.register_handler(HandlerSpec::new(
        "cpu",
        "t",
        "tcp",
        opts(json!({"address": "127.0.0.1:1"})),
    ))
    .unwrap();
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| {
        svc.stats()
            .handlers
            .iter()
            .any(|h| h.id == "t" && h.failed == 1)
    })
    .await;
    assert_eq!(srv.count(), 0);
    assert_eq!(
        svc.stats()
            .handlers
            .iter()
            .find(|h| h.id == "p")
            .unwrap()
            .sent,
        0
    );
}

#[tokio::test]
async fn publish_reposts_into_other_topics() {
    let srv = HttpServer::start(200).await;
    let (svc, _) = service(&config(""));
    svc.register_handler(HandlerSpec::new(
        "cpu",
        "fwd",
        "publish",
        opts(json!({"topics": ["ops", "cpu"]})),
    ))
    .unwrap();
    svc.register_handler(post_spec("ops", "p", &srv.url))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    let reqs = srv.wait_for(1).await;
    assert_eq!(reqs[0].body, ALERT_JSON);
    assert_eq!(svc.topic("ops").unwrap().collected, 1);
    // Publishing into its own topic is skipped (it would loop).
    assert_eq!(svc.topic("cpu").unwrap().collected, 1);
}

#[tokio::test]
async fn aggregate_combines_events_per_interval() {
    let srv = HttpServer::start(200).await;
    let (svc, _) = service(&config(""));
    svc.register_handler(HandlerSpec::new(
        "cpu",
        "agg",
        "aggregate",
        opts(json!({"id": "agg-id", "interval": "50ms", "topic": "summary"})),
    ))
    .unwrap();
    svc.register_handler(post_spec("summary", "p", &srv.url))
        .unwrap();
    svc.publish(event("cpu", Level::Warning));
    let mut e2 = event("cpu", Level::Critical);
    e2.id = "other".into();
    e2.message = "second".into();
    e2.duration = 5;
    svc.publish(e2);
    let reqs = srv.wait_for(1).await;
    let body: serde_json::Value = serde_json::from_str(&reqs[0].body).unwrap();
    assert_eq!(body["id"], "agg-id");
    assert_eq!(body["message"], "Received 2 events in the last 50ms.");
    assert_eq!(body["details"], "message\nsecond");
    assert_eq!(body["level"], "CRITICAL");
    assert_eq!(body["duration"], 5);
    assert_eq!(body["data"]["series"].as_array().unwrap().len(), 2);
    let bad = HandlerSpec::new("cpu", "x", "aggregate", opts(json!({"topic": "t"})));
    assert!(svc.register_handler(bad).is_err());
}

#[tokio::test]
async fn api_json_shapes() {
    let (svc, _) = service(&config(""));
    let mut h = HandlerSpec::new("cpu", "slack", "slack", opts(json!({"channel": "#alerts"})));
    h.match_ = "changed() == TRUE".into();
    svc.register_handler(h.clone()).unwrap();
    let mut e = event("cpu", Level::Critical);
    e.id = "cpu:nil".into();
    e.time = 1_459_423_495_000_000_000;
    e.duration = 90_000_000_000;
    svc.publish(e);
    let t = svc.topic("cpu").unwrap();
    assert_eq!(
        api::topic_json(&t).to_string(),
        r#"{"link":{"rel":"self","href":"/kapacitor/v1/alerts/topics/cpu"},"id":"cpu","level":"CRITICAL","collected":1,"events-link":{"rel":"events","href":"/kapacitor/v1/alerts/topics/cpu/events"},"handlers-link":{"rel":"handlers","href":"/kapacitor/v1/alerts/topics/cpu/handlers"}}"#
    );
    let evs = svc.events("cpu", Level::Ok).unwrap();
    assert_eq!(
        api::event_json("cpu", &evs[0].0, &evs[0].1)["state"].to_string(),
        r#"{"message":"message","details":"details","time":"2016-03-31T11:24:55Z","duration":"1m30s","level":"CRITICAL"}"#
    );
    assert_eq!(
        api::handler_json(&h).to_string(),
        r##"{"link":{"rel":"self","href":"/kapacitor/v1/alerts/topics/cpu/handlers/slack"},"id":"slack","kind":"slack","options":{"channel":"#alerts"},"match":"changed() == TRUE"}"##
    );
    let list = api::topics_json(
        "/kapacitor/v1/alerts/topics?min-level=OK&pattern=",
        &svc.topics("", Level::Ok).unwrap(),
    );
    assert_eq!(list["topics"][0]["id"], "cpu");
    // The spec round-trips in the store's JSON shape.
    let stored = serde_json::to_string(&h).unwrap();
    assert_eq!(
        stored,
        r##"{"id":"slack","topic":"cpu","kind":"slack","options":{"channel":"#alerts"},"match":"changed() == TRUE"}"##
    );
    assert_eq!(serde_json::from_str::<HandlerSpec>(&stored).unwrap(), h);
}

#[tokio::test]
async fn arc_persistence_is_shared() {
    let persist = Arc::new(MemoryPersistence::default());
    let svc = AlertService::new(&config(""), &[], Box::new(persist.clone())).unwrap();
    svc.publish(event("cpu", Level::Info));
    assert_eq!(persist.snapshot()["cpu"]["id"].level, Level::Info);
    let off = AlertService::new(
        &config("[alert]\npersist-topics = false\n"),
        &[],
        Box::new(persist.clone()),
    )
    .unwrap();
    off.publish(event("mem", Level::Info));
    assert!(!persist.snapshot().contains_key("mem"));
}
