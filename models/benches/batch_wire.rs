//! "kapacitor batch v1" encode and decode throughput on 10,000 parsed `cpu` lines (3 tags,
//! 4 fields), against postcard's encoding of the same points (what IPC used).
//! Run: `cargo bench -p kapacitor-models --bench batch_wire`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kapacitor_models::batch_wire::{BatchDecoder, encode_batch};
use kapacitor_models::{Point, PointRef, Precision, line_protocol};
use std::hint::black_box;

const LINES: usize = 10_000;

fn body() -> String {
    let mut body = String::with_capacity(LINES * 130);
    for i in 0..LINES {
        body.push_str(&format!(
            "cpu,host=server{:02},region=us-west,cpu=cpu-total usage_user={}.5,usage_system=3.25,usage_idle=84.25,n={}i {}\n",
            i % 100,
            i % 10,
            i % 10,
            1_700_000_000_000_000_000i64 + i as i64
        ));
    }
    body
}

fn bench(c: &mut Criterion) {
    let body = body();
    let refs: Vec<PointRef<'_>> = line_protocol::lines(&body, Precision::Nanosecond, 0)
        .collect::<Result<_, _>>()
        .unwrap();
    let owned: Vec<Point> = refs.iter().map(PointRef::to_point).collect();
    let bytes = encode_batch("telegraf", "autogen", &refs);
    let mut g = c.benchmark_group(format!("batch_wire_{LINES}_points"));
    g.throughput(Throughput::Elements(LINES as u64));
    g.bench_function("encode_point_refs", |b| {
        b.iter(|| encode_batch("telegraf", "autogen", black_box(&refs)).len())
    });
    g.bench_function("encode_points", |b| {
        b.iter(|| encode_batch("telegraf", "autogen", black_box(&owned)).len())
    });
    g.bench_function("postcard_point_refs", |b| {
        b.iter(|| {
            postcard::to_stdvec(&("telegraf", "autogen", black_box(&refs)))
                .unwrap()
                .len()
        })
    });
    let mut d = BatchDecoder::new();
    g.bench_function("decode", |b| {
        b.iter(|| d.decode(black_box(&bytes)).unwrap().points.len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
