//! Line-protocol parsing throughput on 128-byte `cpu` lines (the shape of rust-deps.md §5).
//! Run: `CARGO_TARGET_DIR=/work/target-models cargo bench -p kapacitor-models --bench line_protocol`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kapacitor_models::Precision;
use kapacitor_models::line_protocol;
use std::hint::black_box;

const LINES: usize = 10_000;

fn body() -> String {
    let mut body = String::with_capacity(LINES * 130);
    for i in 0..LINES {
        let line = format!(
            "cpu,host=server{:02},region=us-west,cpu=cpu-total usage_user={}.5,usage_system=3.25,usage_idle=84.25,n={}i {}",
            i % 100,
            i % 10,
            i % 10,
            1_700_000_000_000_000_000i64 + i as i64
        );
        body.push_str(&line);
        body.push('\n');
    }
    body
}

fn bench(c: &mut Criterion) {
    let body = body();
    let avg = body.len() / LINES;
    let mut g = c.benchmark_group(format!("parse_{LINES}_lines_of_{avg}_bytes"));
    g.throughput(Throughput::Elements(LINES as u64));
    g.bench_function("lines_borrowed", |b| {
        b.iter(|| {
            let n = line_protocol::lines(black_box(&body), Precision::Nanosecond, 0)
                .filter(|r| r.is_ok())
                .count();
            assert_eq!(n, LINES);
        })
    });
    g.bench_function("parse_owned_points", |b| {
        b.iter(|| {
            let pts = line_protocol::parse(black_box(&body), Precision::Nanosecond, 0).unwrap();
            assert_eq!(pts.len(), LINES);
        })
    });
    g.bench_function("influxdb_line_protocol_crate", |b| {
        b.iter(|| {
            let n = influxdb_line_protocol::parse_lines(black_box(&body))
                .filter(|r| r.is_ok())
                .count();
            assert_eq!(n, LINES);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
