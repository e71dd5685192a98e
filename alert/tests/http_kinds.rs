//! Each web-hook kind against a local HTTP server, asserting the exact request Kapacitor's
//! service would send.

mod common;

use common::*;
use kapacitor_alert::{AlertService, HandlerSpec, Level};
use serde_json::json;

async fn deliver(
    svc: &AlertService,
    srv: &HttpServer,
    kind: &str,
    o: serde_json::Value,
    level: Level,
) -> Request {
    let n = srv.count();
    let id = format!("h{n}");
    svc.register_handler(HandlerSpec::new("cpu", &id, kind, opts(o)))
        .unwrap();
    svc.publish(event("cpu", level));
    let req = srv.wait_for(n + 1).await.pop().unwrap();
    svc.remove_handler("cpu", &id);
    req
}

const RESULT: &str = r#"{"series":[{"name":"alert","columns":["time","value"],"values":[["1970-01-01T00:00:00Z",1]]}]}"#;

#[tokio::test]
async fn post_sends_alert_json() {
    let srv = HttpServer::start(200).await;
    let (svc, _) = service(&config(""));
    let url = format!("{}/alert?x=1", srv.url);
    let r = deliver(
        &svc,
        &srv,
        "post",
        json!({"url": url, "headers": {"X-Token": "t"}}),
        Level::Critical,
    )
    .await;
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/alert?x=1"));
    assert_eq!(r.body, ALERT_JSON);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["x-token"], "t");
}

#[tokio::test]
async fn post_endpoint_with_headers_basic_auth_and_alert_template() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!(
        r#"
[[httppost]]
endpoint = "ep"
url = "{}/ep"
headers = {{ X-Ep = "1", X-Over = "endpoint" }}
basic-auth = {{ username = "u", password = "p" }}
alert-template = "{{{{ .Message }}}} {{{{ .Level }}}} {{{{ range .Data.Series }}}}{{{{ .Name }}}}{{{{ end }}}}"
"#,
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(
        &svc,
        &srv,
        "post",
        json!({"endpoint": "ep", "headers": {"X-Over": "handler"}}),
        Level::Critical,
    )
    .await;
    assert_eq!(r.path, "/ep");
    assert_eq!(r.body, "message CRITICAL alert");
    assert!(!r.headers.contains_key("content-type"));
    assert_eq!(r.headers["authorization"], "Basic dTpw");
    assert_eq!(r.headers["x-ep"], "1");
    assert_eq!(r.headers["x-over"], "handler");
    let bad = HandlerSpec::new("cpu", "x", "post", opts(json!({"endpoint": "nope"})));
    assert!(svc.register_handler(bad).is_err());
}

#[tokio::test]
async fn slack() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!(
        "[[slack]]\nenabled = true\nurl = \"{}/hook\"\nchannel = \"#default\"\ntoken = \"xoxb\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(
        &svc,
        &srv,
        "slack",
        json!({"channel": "#alerts", "icon-emoji": ":smile:"}),
        Level::Critical,
    )
    .await;
    assert_eq!(r.path, "/hook");
    assert_eq!(
        r.body,
        "{\"as_user\":false,\"attachments\":[{\"fallback\":\"message\",\"color\":\"danger\",\"text\":\"message\",\"mrkdwn_in\":[\"text\"]}],\"channel\":\"#alerts\",\"icon_emoji\":\":smile:\",\"text\":\"\",\"username\":\"kapacitor\"}\n"
    );
    assert_eq!(r.headers["authorization"], "Bearer xoxb");
    let r = deliver(&svc, &srv, "slack", json!({}), Level::Warning).await;
    assert!(
        r.body.contains("\"color\":\"warning\"") && r.body.contains("\"channel\":\"#default\"")
    );
}

#[tokio::test]
async fn disabled_service_fails_without_sending() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!("[[slack]]\nurl = \"{}/hook\"\n", srv.url));
    let (svc, _) = service(&cfg);
    svc.register_handler(HandlerSpec::new("cpu", "s", "slack", opts(json!({}))))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| svc.stats().handlers[0].failed == 1).await;
    assert_eq!(srv.count(), 0);
}

#[tokio::test]
async fn pagerduty_v1_and_v2() {
    let srv = HttpServer::start(202).await;
    let cfg = config(&format!(
        "[pagerduty]\nenabled = true\nurl = \"{0}/v1\"\nservice-key = \"sk\"\n[pagerduty2]\nenabled = true\nurl = \"{0}/v2\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(&svc, &srv, "pagerduty", json!({}), Level::Critical).await;
    assert_eq!(r.path, "/v1");
    assert_eq!(
        r.body,
        "{\"client\":\"kapacitor\",\"client_url\":\"http://kapacitor.test:9092/kapacitor/v1\",\"description\":\"message\",\"details\":\"details\",\"event_type\":\"trigger\",\"incident_key\":\"id\",\"service_key\":\"sk\"}\n"
    );
    let links = json!([{"href": "http://example.com/{{ index .Tags \"host\" }}"}]);
    let r = deliver(
        &svc,
        &srv,
        "pagerduty2",
        json!({"routing-key": "rk", "links": links}),
        Level::Critical,
    )
    .await;
    assert_eq!(r.path, "/v2");
    assert_eq!(
        r.headers["accept"],
        "application/vnd.pagerduty+json;version=2"
    );
    assert_eq!(
        r.body,
        format!(
            "{{\"routing_key\":\"rk\",\"event_action\":\"trigger\",\"dedup_key\":\"id\",\"payload\":{{\"summary\":\"message\",\"source\":\"serverA\",\"severity\":\"critical\",\"timestamp\":\"1970-01-01T00:00:00.000000000Z\",\"class\":\"cpu_alert\",\"component\":\"\",\"group\":\"\",\"custom_details\":{{\"result\":{RESULT}}}}},\"images\":null,\"links\":[{{\"href\":\"http://example.com/serverA\",\"text\":\"http://example.com/serverA\"}}],\"client\":\"kapacitor\",\"client_url\":\"http://kapacitor.test:9092/kapacitor/v1\"}}\n"
        )
    );
    let r = deliver(
        &svc,
        &srv,
        "pagerduty2",
        json!({"routing-key": "rk"}),
        Level::Ok,
    )
    .await;
    assert_eq!(
        r.body,
        "{\"routing_key\":\"rk\",\"dedup_key\":\"id\",\"event_action\":\"resolve\"}\n"
    );
}

#[tokio::test]
async fn victorops() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!(
        "[victorops]\nenabled = true\nurl = \"{}/api\"\napi-key = \"key\"\nrouting-key = \"default\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(
        &svc,
        &srv,
        "victorops",
        json!({"routing-key": "rk"}),
        Level::Critical,
    )
    .await;
    assert_eq!(r.path, "/api/key/rk");
    let data = serde_json::to_string(RESULT).unwrap();
    assert_eq!(
        r.body,
        format!(
            "{{\"data\":{data},\"entity_id\":\"id\",\"message_type\":\"CRITICAL\",\"monitoring_tool\":\"kapacitor\",\"state_message\":\"message\",\"timestamp\":0}}\n"
        )
    );
    let r = deliver(&svc, &srv, "victorops", json!({}), Level::Ok).await;
    assert_eq!(r.path, "/api/key/default");
    assert!(r.body.contains("\"message_type\":\"RECOVERY\""));
}

#[tokio::test]
async fn opsgenie2() {
    let srv = HttpServer::start(202).await;
    let cfg = config(&format!(
        "[opsgenie2]\nenabled = true\nurl = \"{}/v2/alerts\"\napi-key = \"key\"\nrecovery_action = \"close\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(
        &svc,
        &srv,
        "opsgenie2",
        json!({"teams-list": ["team1"], "recipients-list": ["bob"]}),
        Level::Critical,
    )
    .await;
    assert_eq!(r.path, "/v2/alerts");
    assert_eq!(r.headers["authorization"], "GenieKey key");
    let desc = serde_json::to_string(RESULT).unwrap();
    assert_eq!(
        r.body,
        format!(
            "{{\"alias\":\"aWQ=\",\"description\":{desc},\"details\":{{\"Kapacitor Task Name\":\"alert\",\"Level\":\"CRITICAL\",\"Monitoring Tool\":\"Kapacitor\"}},\"entity\":\"id\",\"message\":\"message\",\"note\":\"\",\"priority\":\"P1\",\"responders\":[{{\"name\":\"team1\",\"type\":\"team\"}},{{\"type\":\"user\",\"username\":\"bob\"}}]}}\n"
        )
    );
    let r = deliver(&svc, &srv, "opsgenie2", json!({}), Level::Ok).await;
    assert_eq!(r.path, "/v2/alerts/aWQ=/close?identifierType=alias");
    assert_eq!(r.body, "{\"note\":\"message\"}\n");
}

#[tokio::test]
async fn telegram() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!(
        "[telegram]\nenabled = true\nurl = \"{}/bot\"\ntoken = \"TOKEN\"\nchat-id = \"1\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let o = json!({"chat-id": "123", "parse-mode": "HTML", "disable-notification": true});
    let r = deliver(&svc, &srv, "telegram", o, Level::Critical).await;
    assert_eq!(r.path, "/botTOKEN/sendMessage");
    assert_eq!(
        r.body,
        "{\"chat_id\":\"123\",\"disable_notification\":true,\"parse_mode\":\"HTML\",\"text\":\"message\"}\n"
    );
}

#[tokio::test]
async fn teams() {
    let srv = HttpServer::start(200).await;
    let cfg = config("[teams]\nenabled = true\n");
    let (svc, _) = service(&cfg);
    let url = format!("{}/teams", srv.url);
    let r = deliver(
        &svc,
        &srv,
        "teams",
        json!({"channel-url": url}),
        Level::Critical,
    )
    .await;
    assert_eq!(r.path, "/teams");
    assert_eq!(
        r.body,
        "{\"@type\":\"MessageCard\",\"@context\":\"http://schema.org/extensions\",\"title\":\"CRITICAL: [id]\",\"text\":\"message\",\"summary\":\"CRITICAL: [id] - message...\",\"themeColor\":\"CC4A31\"}"
    );
}

#[tokio::test]
async fn discord() {
    let srv = HttpServer::start(204).await;
    let cfg = config(&format!(
        "[[discord]]\nenabled = true\nurl = \"{}/discord\"\ntimestamp = true\nusername = \"kap\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let o = json!({"avatar-url": "http://a/x.png", "embed-title": "alert {{ .ID }}"});
    let r = deliver(&svc, &srv, "discord", o, Level::Critical).await;
    assert_eq!(
        r.body,
        "{\"avatar_url\":\"http://a/x.png\",\"embeds\":[{\"color\":16342867,\"title\":\"alert id\",\"description\":\"message\",\"timestamp\":\"1970-01-01T00:00:00Z\"}],\"username\":\"kap\"}\n"
    );
}

#[tokio::test]
async fn alerta() {
    let srv = HttpServer::start(201).await;
    let cfg = config(&format!(
        "[alerta]\nenabled = true\nurl = \"{}\"\ntoken = \"tok\"\nenvironment = \"prod\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(
        &svc,
        &srv,
        "alerta",
        json!({"resource": "{{ .Name }}-{{ index .Tags \"host\" }}"}),
        Level::Critical,
    )
    .await;
    assert_eq!(r.path, "/alert");
    assert_eq!(r.headers["authorization"], "Bearer tok");
    assert_eq!(
        r.body,
        format!(
            "{{\"environment\":\"prod\",\"event\":\"id\",\"group\":\"nil\",\"origin\":\"kapacitor\",\"rawData\":{RESULT},\"resource\":\"cpu-serverA\",\"service\":[\"cpu\"],\"severity\":\"critical\",\"tags\":[\"host=serverA\"],\"text\":\"message\",\"timeout\":86400,\"value\":\"\"}}\n"
        )
    );
}

#[tokio::test]
async fn pushover_posts_a_form() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!(
        "[pushover]\nenabled = true\nurl = \"{}/1/messages.json\"\ntoken = \"T\"\nuser-key = \"U\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(
        &svc,
        &srv,
        "pushover",
        json!({"title": "t t", "sound": "siren"}),
        Level::Critical,
    )
    .await;
    assert_eq!(r.path, "/1/messages.json");
    assert_eq!(
        r.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        r.body,
        "message=message&priority=1&sound=siren&title=t+t&token=T&user=U"
    );
}

#[tokio::test]
async fn opsgenie_v1_posts_with_api_key_and_notes_recoveries() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!(
        "[opsgenie]\nenabled = true\nurl = \"{0}/v1/json/alert\"\nrecovery_url = \"{0}/v1/json/alert/note\"\napi-key = \"key\"\nteams = [\"ops\"]\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(
        &svc,
        &srv,
        "opsgenie",
        json!({"recipients-list": ["bob"]}),
        Level::Critical,
    )
    .await;
    assert_eq!(r.path, "/v1/json/alert/");
    assert_eq!(r.headers["content-type"], "application/json");
    let desc = serde_json::to_string(RESULT).unwrap();
    assert_eq!(
        r.body,
        format!(
            "{{\"alias\":\"id\",\"apiKey\":\"key\",\"description\":{desc},\"details\":{{\"Level\":\"CRITICAL\",\"Monitoring Tool\":\"Kapacitor\"}},\"entity\":\"id\",\"message\":\"message\",\"monitoring_tool\":\"kapacitor\",\"note\":\"\",\"recipients\":[\"bob\"],\"teams\":[\"ops\"]}}\n"
        )
    );
    let r = deliver(
        &svc,
        &srv,
        "opsgenie",
        json!({"teams-list": ["db"]}),
        Level::Ok,
    )
    .await;
    assert_eq!(r.path, "/v1/json/alert/note/");
    assert!(
        r.body.contains("\"Level\":\"RECOVERY\"")
            && r.body.contains("\"note\":\"message\"")
            && r.body.contains("\"teams\":[\"db\"]")
            && !r.body.contains("recipients"),
        "{}",
        r.body
    );
    let bad = HandlerSpec::new("cpu", "x", "opsgenie", opts(json!({"teams": ["a"]})));
    assert!(svc.register_handler(bad).is_err());
}

async fn deliver_event(
    svc: &AlertService,
    srv: &HttpServer,
    kind: &str,
    o: serde_json::Value,
    ev: kapacitor_alert::Event,
) -> Request {
    let n = srv.count();
    let id = format!("h{n}");
    svc.register_handler(HandlerSpec::new("cpu", &id, kind, opts(o)))
        .unwrap();
    svc.publish(ev);
    let req = srv.wait_for(n + 1).await.pop().unwrap();
    svc.remove_handler("cpu", &id);
    req
}

/// `event` with fields, a real time and details that are not the default JSON.
fn rich_event(level: Level) -> kapacitor_alert::Event {
    let mut ev = event("cpu", level);
    ev.time = 31_536_038_000_000_000;
    ev.details = "see &lt;dashboard&gt;".into();
    ev.fields = [
        ("value".to_string(), json!(10.5)),
        ("state".to_string(), json!("up")),
    ]
    .into_iter()
    .collect();
    ev
}

#[tokio::test]
async fn bigpanda() {
    let srv = HttpServer::start(201).await;
    let cfg = config(&format!(
        "[bigpanda]\nenabled = true\nurl = \"{}/data/v2/alerts\"\napp-key = \"cfgkey\"\ntoken = \"tok\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let o = json!({
        "app-key": "key",
        "primary-property": "host",
        "secondary-property": "check",
        "host": "{{ index .Tags \"host\" }}.example",
        "attributes": {"link": "http://x/{{ .ID }}", "n": 3},
    });
    let r = deliver_event(&svc, &srv, "bigpanda", o, rich_event(Level::Warning)).await;
    assert_eq!(r.path, "/data/v2/alerts");
    assert_eq!(r.headers["authorization"], "Bearer tok");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.body,
        "{\"app_key\":\"key\",\"check\":\"id\",\"description\":\"message\",\"details\":\"see \\u003cdashboard\\u003e\",\"host\":\"serverA.example\",\"link\":\"http://x/id\",\"n\":\"3\",\"primary_property\":\"host\",\"secondary_property\":\"check\",\"state\":\"up\",\"status\":\"warning\",\"task\":\"cpu_alert:cpu\",\"timestamp\":31536038,\"value\":\"10.5\"}"
    );
    // The default details (the event as JSON) are left out; the config's app key applies.
    let mut ev = event("cpu", Level::Info);
    ev.details = "{&#34;Name&#34;:&#34;cpu&#34;}".into();
    let r = deliver_event(&svc, &srv, "bigpanda", json!({}), ev).await;
    assert_eq!(
        r.body,
        "{\"app_key\":\"cfgkey\",\"check\":\"id\",\"description\":\"message\",\"host\":\"serverA\",\"status\":\"ok\",\"task\":\"cpu_alert:cpu\",\"timestamp\":0}"
    );
    let bad = HandlerSpec::new("cpu", "x", "bigpanda", opts(json!({"host": "{{ .Nope"})));
    assert!(svc.register_handler(bad).is_err());
}

#[tokio::test]
async fn servicenow() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!(
        "[servicenow]\nenabled = true\nurl = \"{}/api/global/em/jsonv2\"\nusername = \"u\"\npassword = \"p\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let o = json!({
        "node": "{{ index .Tags \"host\" }}",
        "type": "CPU",
        "resource": "{{ .Name }}",
        "metricName": "usage_{{ index .Fields \"state\" }}",
        "additional_info": {"link": "http://x/{{ .ID }}", "n": 1.5},
    });
    let r = deliver_event(&svc, &srv, "servicenow", o, rich_event(Level::Critical)).await;
    assert_eq!(r.path, "/api/global/em/jsonv2");
    assert_eq!(r.headers["authorization"], "Basic dTpw");
    assert_eq!(
        r.body,
        "{\"records\":[{\"source\":\"Kapacitor\",\"node\":\"serverA\",\"type\":\"CPU\",\"resource\":\"cpu\",\"metric_name\":\"usage_up\",\"message_key\":\"id\",\"severity\":\"1\",\"description\":\"message\",\"additional_info\":\"{\\\"link\\\":\\\"http://x/id\\\",\\\"n\\\":\\\"1.5\\\"}\"}]}"
    );
    let url = format!("{}/other", srv.url);
    let o = json!({"url": url, "source": "src", "messageKey": "k-{{ .ID }}"});
    let r = deliver_event(&svc, &srv, "servicenow", o, rich_event(Level::Ok)).await;
    assert_eq!(r.path, "/other");
    assert_eq!(
        r.body,
        "{\"records\":[{\"source\":\"src\",\"message_key\":\"k-id\",\"severity\":\"5\",\"description\":\"message\"}]}"
    );
    let bad = HandlerSpec::new("cpu", "x", "servicenow", opts(json!({"metric_name": "m"})));
    assert!(svc.register_handler(bad).is_err());
}

#[tokio::test]
async fn zenoss() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!(
        "[zenoss]\nenabled = true\nurl = \"{}/zport/dmd/evconsole_router\"\nusername = \"u\"\npassword = \"p\"\nseverity-map = {{ OK = 0, Info = \"Info\", Warning = \"Warning\", Critical = 5 }}\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let o = json!({
        "device": "{{ index .Tags \"host\" }}",
        "component": "cpu",
        "evclasskey": "key",
        "evclass": "/Status",
        "message": "{{ .Level }}: {{ .Message }}",
        "tid": 7,
        "customField": {"link": "http://x/{{ .ID }}", "obj": "{\"a\":1}", "n": 2},
    });
    let r = deliver_event(&svc, &srv, "zenoss", o, rich_event(Level::Critical)).await;
    assert_eq!(r.path, "/zport/dmd/evconsole_router");
    assert_eq!(r.headers["authorization"], "Basic dTpw");
    assert_eq!(
        r.body,
        "{\"action\":\"EventsRouter\",\"method\":\"add_event\",\"data\":[{\"collector\":\"Kapacitor\",\"component\":\"cpu\",\"device\":\"serverA\",\"evclass\":\"/Status\",\"evclasskey\":\"key\",\"link\":\"http://x/id\",\"message\":\"CRITICAL: message\",\"n\":2,\"obj\":{\"a\":1},\"severity\":5,\"summary\":\"message\"}],\"type\":\"rpc\",\"tid\":7}"
    );
    let o = json!({"summary": "{{ .ID }} recovered", "collector": "c1", "action": "A"});
    let r = deliver_event(&svc, &srv, "zenoss", o, rich_event(Level::Ok)).await;
    assert_eq!(
        r.body,
        "{\"action\":\"A\",\"method\":\"add_event\",\"data\":[{\"collector\":\"c1\",\"component\":\"\",\"device\":\"\",\"evclass\":\"\",\"evclasskey\":\"\",\"severity\":0,\"summary\":\"id recovered\"}],\"type\":\"rpc\",\"tid\":1}"
    );
}

#[tokio::test]
async fn talk() {
    let srv = HttpServer::start(200).await;
    let cfg = config(&format!(
        "[talk]\nenabled = true\nurl = \"{}/v1/services/webhook/abc\"\nauthor_name = \"kap\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(&svc, &srv, "talk", json!({}), Level::Critical).await;
    assert_eq!(r.path, "/v1/services/webhook/abc");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.body,
        "{\"authorName\":\"kap\",\"text\":\"message\",\"title\":\"id\"}\n"
    );
    let bad = HandlerSpec::new("cpu", "x", "talk", opts(json!({"title": "t"})));
    assert!(svc.register_handler(bad).is_err());
}

#[tokio::test]
async fn hipchat() {
    let srv = HttpServer::start(204).await;
    let cfg = config(&format!(
        "[hipchat]\nenabled = true\nurl = \"{}/v2/room\"\nroom = \"ops\"\ntoken = \"cfg tok\"\n",
        srv.url
    ));
    let (svc, _) = service(&cfg);
    let r = deliver(&svc, &srv, "hipchat", json!({}), Level::Warning).await;
    assert_eq!(r.path, "/v2/room/ops/notification?auth_token=cfg+tok");
    assert_eq!(
        r.body,
        "{\"color\":\"yellow\",\"from\":\"kapacitor\",\"message\":\"message\",\"notify\":true}\n"
    );
    let o = json!({"room": "db", "token": "t2"});
    let r = deliver(&svc, &srv, "hipchat", o, Level::Critical).await;
    assert_eq!(r.path, "/v2/room/db/notification?auth_token=t2");
    assert!(r.body.starts_with("{\"color\":\"red\""));
    // HipChat answers 204: counted as sent, not failed.
    svc.register_handler(HandlerSpec::new("cpu", "kept", "hipchat", opts(json!({}))))
        .unwrap();
    svc.publish(event("cpu", Level::Ok));
    wait_until(|| svc.stats().handlers.iter().any(|h| h.sent == 1)).await;
    assert_eq!(svc.stats().handlers[0].failed, 0);
}
