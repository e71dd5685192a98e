//! `|alert()` handler properties of a TICKscript map to the same kinds and options as topic
//! handler specs.

use kapacitor_alert::{global_handlers, handler_from_alert_property};
use serde_json::json;

fn alert_props(script: &str) -> Vec<tickscript::pipeline::Property> {
    let p = tickscript::compile(script, &tickscript::Vars::default()).unwrap();
    p.nodes
        .into_iter()
        .find(|n| n.kind == "alert")
        .expect("an alert node")
        .props
}

#[test]
fn script_handlers_become_handler_options() {
    let props = alert_props(
        r#"stream|from().measurement('cpu')|alert().crit(lambda: "v" > 1)
            .id('x')
            .post('http://x/').header('k', 'v').header('k2', 'v2').timeout(10s).captureResponse()
            .slack().channel('#a').iconEmoji(':x:')
            .email('a@x').to('b@x')
            .log('/tmp/a.log').mode(0644)
            .pagerDuty2().routingKey('rk').link('http://h/{{ .ID }}', 'text')
            .exec('/bin/echo', 'a', 'b')
            .mqtt('t').qos(1).retained()
            .telegram().disableNotification()
            .sensu().metadata('n', 1)
        "#,
    );
    let mapped: Vec<_> = props
        .iter()
        .filter(|p| p.name != "crit" && p.name != "id")
        .map(|p| {
            let h = handler_from_alert_property(p).unwrap();
            json!({"kind": h.kind, "options": h.options})
        })
        .collect();
    assert_eq!(
        json!(mapped),
        json!([
            {"kind": "post", "options": {"url": "http://x/", "headers": {"k": "v", "k2": "v2"}, "timeout": 10_000_000_000i64, "capture-response": true}},
            {"kind": "slack", "options": {"channel": "#a", "icon-emoji": ":x:"}},
            {"kind": "smtp", "options": {"to": ["a@x", "b@x"]}},
            {"kind": "log", "options": {"path": "/tmp/a.log", "mode": 420}},
            {"kind": "pagerduty2", "options": {"routing-key": "rk", "links": [{"href": "http://h/{{ .ID }}", "text": "text"}]}},
            {"kind": "exec", "options": {"prog": "/bin/echo", "args": ["a", "b"]}},
            {"kind": "mqtt", "options": {"topic": "t", "qos": 1, "retained": true}},
            {"kind": "telegram", "options": {"disable-notification": true}},
            {"kind": "sensu", "options": {"metadata": {"n": 1}}},
        ])
    );
    let id = props.iter().find(|p| p.name == "id").unwrap();
    assert_eq!(
        handler_from_alert_property(id).unwrap_err().to_string(),
        "property .id() is not an alert handler"
    );
}

#[tokio::test]
async fn script_handler_options_are_accepted_by_the_service() {
    let props = alert_props(
        r#"stream|from()|alert().post('http://x/').header('k', 'v').timeout(1s).slack().channel('#a').log('/tmp/a.log').mode(0644)"#,
    );
    let cfg = kapacitor_config::Config::default();
    let svc =
        kapacitor_alert::AlertService::new(&cfg, &[], Box::new(kapacitor_alert::NoPersistence))
            .unwrap();
    for (i, p) in props.iter().enumerate() {
        let spec = handler_from_alert_property(p)
            .unwrap()
            .into_spec("main:t:alert2", &format!("alert2-{}-{i}", p.name));
        svc.register_handler(spec).unwrap();
    }
    assert_eq!(svc.handlers("main:t:alert2", "").len(), 3);
}

#[test]
fn global_handlers_come_from_config() {
    let cfg = kapacitor_config::Config::from_toml(
        "[smtp]\nenabled = true\nglobal = true\nstate-changes-only = true\n[[slack]]\nenabled = true\nglobal = true\n[pagerduty]\nglobal = true\n",
    )
    .unwrap();
    let g = global_handlers(&cfg);
    let kinds: Vec<_> = g
        .iter()
        .map(|h| (h.kind, h.property, h.state_changes_only))
        .collect();
    // `[pagerduty]` is global but not enabled.
    assert_eq!(kinds, [("smtp", "email", true), ("slack", "slack", false)]);
}
