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

#[tokio::test]
async fn script_properties_of_the_newer_kinds_are_accepted_by_the_service() {
    let props = alert_props(
        r#"stream|from().measurement('cpu')|alert().crit(lambda: "v" > 1)
            .opsGenie().teams('a', 'b').recipients('r')
            .bigPanda().appKey('k').primaryProperty('host').host('{{ .ID }}').attribute('link', 'http://x')
            .serviceNow().node('{{ index .Tags "host" }}').metricName('m').messageKey('k').additionalInfo('n', 1)
            .zenoss().summary('s').eventClass('/Status').evclasskey('ck').tid(2).customField('f', 'v')
            .talk()
            .hipChat().room('ops').token('t')
            .snmpTrap('1.3.6.1.4.1.1').data('1.3.6.1.4.1.1.2', 's', '{{ .Message }}').data('1.3.6.1.4.1.1.3', 'i', '1')
        "#,
    );
    let mapped: Vec<_> = props
        .iter()
        .filter(|p| p.name != "crit")
        .map(|p| {
            let h = handler_from_alert_property(p).unwrap();
            json!({"kind": h.kind, "options": h.options})
        })
        .collect();
    assert_eq!(
        json!(mapped),
        json!([
            {"kind": "opsgenie", "options": {"teams-list": ["a", "b"], "recipients-list": ["r"]}},
            {"kind": "bigpanda", "options": {"app-key": "k", "primary-property": "host", "host": "{{ .ID }}", "attributes": {"link": "http://x"}}},
            {"kind": "servicenow", "options": {"node": "{{ index .Tags \"host\" }}", "metricName": "m", "messageKey": "k", "additional_info": {"n": 1}}},
            {"kind": "zenoss", "options": {"summary": "s", "evclass": "/Status", "evclasskey": "ck", "tid": 2, "customField": {"f": "v"}}},
            {"kind": "talk", "options": {}},
            {"kind": "hipchat", "options": {"room": "ops", "token": "t"}},
            {"kind": "snmptrap", "options": {"trap-oid": "1.3.6.1.4.1.1", "data-list": [
                {"oid": "1.3.6.1.4.1.1.2", "type": "s", "value": "{{ .Message }}"},
                {"oid": "1.3.6.1.4.1.1.3", "type": "i", "value": "1"},
            ]}},
        ])
    );
    let cfg = kapacitor_config::Config::default();
    let svc =
        kapacitor_alert::AlertService::new(&cfg, &[], Box::new(kapacitor_alert::NoPersistence))
            .unwrap();
    for (i, p) in props.iter().filter(|p| p.name != "crit").enumerate() {
        let spec = handler_from_alert_property(p)
            .unwrap()
            .into_spec("main:t:alert2", &format!("h{i}"));
        svc.register_handler(spec)
            .unwrap_or_else(|e| panic!(".{}(): {e}", p.name));
    }
    assert_eq!(svc.handlers("main:t:alert2", "").len(), 7);
    let kafka = alert_props("stream|from()|alert().kafka()");
    assert_eq!(
        handler_from_alert_property(&kafka[0])
            .unwrap_err()
            .to_string(),
        "alert handler .kafka() is not implemented"
    );
}

#[test]
fn newer_kinds_can_be_global() {
    let cfg = kapacitor_config::Config::from_toml(
        "[opsgenie]\nenabled = true\nglobal = true\napi-key = \"k\"\n[hipchat]\nenabled = true\nglobal = true\nurl = \"http://h\"\nstate-changes-only = true\n[bigpanda]\nenabled = true\nglobal = true\napp-key = \"a\"\ntoken = \"t\"\n[servicenow]\nenabled = true\nglobal = true\n[zenoss]\nenabled = true\nglobal = true\nstate-changes-only = true\n",
    )
    .unwrap();
    let kinds: Vec<_> = global_handlers(&cfg)
        .iter()
        .map(|h| (h.kind, h.property, h.state_changes_only))
        .collect();
    assert_eq!(
        kinds,
        [
            ("opsgenie", "opsGenie", false),
            ("hipchat", "hipChat", true),
            ("bigpanda", "bigPanda", false),
            ("servicenow", "serviceNow", false),
            ("zenoss", "zenoss", true),
        ]
    );
}
