//! Lambda evaluation cost per point (results in src/eval/BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kapacitor_models::{FieldValue, Point};
use tickscript::ast::{BinaryOp, Expr, Pos};
use tickscript::eval::Lambda;

const P: Pos = Pos { line: 1, col: 1 };

fn r(name: &str) -> Expr {
    Expr::Reference(name.into(), P)
}

fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    Expr::Binary {
        op,
        lhs: Box::new(l),
        rhs: Box::new(r),
        pos: P,
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call {
        name: name.into(),
        args,
        pos: P,
    }
}

/// A Telegraf `cpu` point: 10 float fields, 2 tags.
fn cpu_point() -> Point {
    let mut p = Point {
        name: "cpu".into(),
        tags: Default::default(),
        fields: Default::default(),
        time: 0,
    };
    p.tags.insert("cpu".into(), "cpu-total".into());
    p.tags.insert("host".into(), "a".into());
    for (i, f) in [
        "guest",
        "guest_nice",
        "idle",
        "iowait",
        "irq",
        "nice",
        "softirq",
        "steal",
        "system",
        "user",
    ]
    .iter()
    .enumerate()
    {
        p.fields
            .insert(format!("usage_{f}"), FieldValue::Float(10.0 + i as f64));
    }
    p
}

fn bench(c: &mut Criterion) {
    let p = cpu_point();
    let cases = [
        (
            "where_usage_idle_lt_70_and_host_eq_a",
            bin(
                BinaryOp::And,
                bin(BinaryOp::Less, r("usage_idle"), Expr::Int(70, P)),
                bin(BinaryOp::Eq, r("host"), Expr::Str("a".into(), P)),
            ),
        ),
        (
            "sigma_usage_idle_gt_3",
            bin(
                BinaryOp::Greater,
                call("sigma", vec![r("usage_idle")]),
                Expr::Int(3, P),
            ),
        ),
        (
            "host_regex_match",
            bin(
                BinaryOp::RegexMatch,
                r("host"),
                Expr::Regex("^(a|b)$".into(), P),
            ),
        ),
        (
            "arith_usage_user_plus_system_gt_50",
            bin(
                BinaryOp::Greater,
                bin(BinaryOp::Add, r("usage_user"), r("usage_system")),
                Expr::Float(50.0, P),
            ),
        ),
        (
            "string_concat_host_cpu",
            bin(BinaryOp::Add, r("host"), r("cpu")),
        ),
    ];
    for (name, expr) in &cases {
        let l = Lambda::compile(expr).expect("compiles");
        let mut st = l.new_state();
        c.bench_function(&format!("eval/{name}"), |b| {
            b.iter(|| l.eval(black_box(&p), &mut st))
        });
    }
    let l = Lambda::compile(&cases[0].1).expect("compiles");
    let mut st = l.new_state();
    c.bench_function("eval_bool/where_usage_idle_lt_70_and_host_eq_a", |b| {
        b.iter(|| l.eval_bool(black_box(&p), &mut st))
    });
    c.bench_function("compile/where_usage_idle_lt_70_and_host_eq_a", |b| {
        b.iter(|| Lambda::compile(black_box(&cases[0].1)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
