//! Parse + check time of a typical 50-line script (and its parts), for tickscript/BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const SCRIPT: &str = r#"// CPU and memory alerting for the web tier.
dbrp "telegraf"."autogen"

var period = 1m
var every = 10s
var warn = 80.0
var crit = 90.0
var groups = ['host', 'dc']

var cpu = stream
    |from()
        .measurement('cpu')
        .where(lambda: "cpu" == 'cpu-total' AND "host" =~ /^web-\d+$/)
        .groupBy(groups)
    |window()
        .period(period)
        .every(every)
    |mean('usage_idle')
        .as('idle')
    |eval(lambda: 100.0 - "idle")
        .as('used')

var mem = stream
    |from()
        .measurement('mem')
        .groupBy(groups)
    |window()
        .period(period)
        .every(every)
    |max('used_percent')
        .as('used')

cpu
    |join(mem)
        .as('cpu', 'mem')
        .tolerance(1s)
    |alert()
        .id('{{ index .Tags "host" }}/resources')
        .message('{{ .ID }} is {{ .Level }}: cpu {{ index .Fields "cpu.used" }}')
        .warn(lambda: "cpu.used" > warn OR "mem.used" > warn)
        .crit(lambda: "cpu.used" > crit OR "mem.used" > crit)
        .stateChangesOnly(5m)
        .slack()
            .channel('#ops')
        .post('http://alerts.example.com/hook')
            .header('Authorization', 'Bearer token')
    |influxDBOut()
        .database('alerts')
        .measurement('resources')
        .precision('s')
"#;

fn bench(c: &mut Criterion) {
    assert_eq!(SCRIPT.lines().count(), 50);
    let vars = tickscript::Vars::default();
    c.bench_function("parse_50_lines", |b| {
        b.iter(|| tickscript::parse(black_box(SCRIPT)).unwrap())
    });
    c.bench_function("parse_and_check_50_lines", |b| {
        b.iter(|| tickscript::compile(black_box(SCRIPT), &vars).unwrap())
    });
    c.bench_function("format_50_lines", |b| {
        b.iter(|| tickscript::format(black_box(SCRIPT)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
