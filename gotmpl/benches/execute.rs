//! Per-event cost of Kapacitor's alert templates: parse once, execute per event.

use criterion::{Criterion, criterion_group, criterion_main};
use gotmpl::kapacitor::{DEFAULT_DETAILS, ServerInfo, details_info, id_info, message_info};
use gotmpl::{Kind, Map, Template, Value};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let id_data = id_info(
        "cpu",
        "cpu_alert",
        "host=serverA",
        Map::strings([("host", "serverA"), ("region", "us-west")]),
        &ServerInfo::default(),
    );
    let fields = Map::from_entries(
        Kind::Any,
        [
            ("value", Value::Float(97.25)),
            ("emitted", Value::Float(0.0)),
        ],
    );
    let msg_data = message_info(
        id_data.clone(),
        "cpu:host=serverA",
        fields,
        "CRITICAL",
        10,
        0,
    );
    let details_data: Value = details_info(msg_data.clone(), "cpu:host=serverA is CRITICAL").into();
    let id_data: Value = id_data.into();
    let msg_data: Value = msg_data.into();

    let id = Template::parse("id", r#"kapacitor/{{ .Name }}/{{ index .Tags "host" }}"#).unwrap();
    let deadman = Template::parse(
        "message",
        r#"{{ .ID }} is {{ if eq .Level "OK" }}alive{{ else }}dead{{ end }}: {{ index .Fields "emitted" | printf "%0.3f" }} points/10s."#,
    )
    .unwrap();
    let details = Template::parse_html("details", DEFAULT_DETAILS).unwrap();

    let mut buf = String::with_capacity(1024);
    c.bench_function("execute id (index .Tags)", |b| {
        b.iter(|| {
            buf.clear();
            id.execute_to(&mut buf, black_box(&id_data)).unwrap();
        })
    });
    c.bench_function("execute deadman message (if eq, printf %0.3f)", |b| {
        b.iter(|| {
            buf.clear();
            deadman.execute_to(&mut buf, black_box(&msg_data)).unwrap();
        })
    });
    c.bench_function("execute default details (html json .)", |b| {
        b.iter(|| {
            buf.clear();
            details
                .execute_to(&mut buf, black_box(&details_data))
                .unwrap();
        })
    });
    c.bench_function("parse deadman message", |b| {
        b.iter(|| Template::parse("message", black_box(deadman.source())).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
