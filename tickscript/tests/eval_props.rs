//! Property tests: random expression trees over random points never panic, and constant
//! folding agrees with evaluating the same values read from the point.

use std::panic::{AssertUnwindSafe, catch_unwind};

use kapacitor_models::{FieldValue, Point};
use proptest::prelude::*;
use tickscript::ast::{BinaryOp, Expr, Pos, UnaryOp};
use tickscript::eval::{Lambda, Value};

const P: Pos = Pos { line: 1, col: 1 };

/// Every function the evaluator knows, plus one it does not.
const FUNCS: &[&str] = &[
    "bool",
    "int",
    "float",
    "string",
    "duration",
    "abs",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "cbrt",
    "ceil",
    "cos",
    "cosh",
    "erf",
    "erfc",
    "exp",
    "exp2",
    "expm1",
    "floor",
    "gamma",
    "hypot",
    "j0",
    "j1",
    "jn",
    "log",
    "log10",
    "log1p",
    "log2",
    "logb",
    "max",
    "min",
    "mod",
    "pow",
    "pow10",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
    "y0",
    "y1",
    "yn",
    "strContains",
    "strContainsAny",
    "strCount",
    "strHasPrefix",
    "strHasSuffix",
    "strIndex",
    "strIndexAny",
    "strLastIndex",
    "strLastIndexAny",
    "strLength",
    "strReplace",
    "strSubstring",
    "strToLower",
    "strToUpper",
    "strTrim",
    "strTrimLeft",
    "strTrimPrefix",
    "strTrimRight",
    "strTrimSpace",
    "strTrimSuffix",
    "regexReplace",
    "isPresent",
    "unixNano",
    "minute",
    "hour",
    "weekday",
    "day",
    "month",
    "year",
    "now",
    "humanBytes",
    "if",
    "rand",
    "sigma",
    "count",
    "spread",
    "nosuch",
];

/// Argument counts each function accepts, so that most generated calls compile.
fn arities(name: &str) -> &'static [usize] {
    match name {
        "now" | "count" => &[0],
        "rand" => &[0, 1],
        "duration" => &[1, 2],
        "atan2" | "hypot" | "max" | "min" | "mod" | "pow" | "jn" | "yn" | "strContains"
        | "strContainsAny" | "strCount" | "strHasPrefix" | "strHasSuffix" | "strIndex"
        | "strIndexAny" | "strLastIndex" | "strLastIndexAny" | "strTrim" | "strTrimLeft"
        | "strTrimPrefix" | "strTrimRight" | "strTrimSuffix" => &[2],
        "strSubstring" | "regexReplace" | "if" => &[3],
        "strReplace" => &[4],
        _ => &[1],
    }
}

/// Functions whose result depends on more than their arguments.
const NONDETERMINISTIC: &[&str] = &["now", "rand"];

const OPS: &[BinaryOp] = &[
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Mod,
    BinaryOp::And,
    BinaryOp::Or,
    BinaryOp::Eq,
    BinaryOp::NotEq,
    BinaryOp::Less,
    BinaryOp::LessEq,
    BinaryOp::Greater,
    BinaryOp::GreaterEq,
    BinaryOp::RegexMatch,
    BinaryOp::RegexNotMatch,
];

/// A literal that can also be stored in a point field.
#[derive(Debug, Clone)]
enum Lit {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

impl Lit {
    fn expr(&self) -> Expr {
        match self {
            Lit::Int(n) => Expr::Int(*n, P),
            Lit::Float(f) => Expr::Float(*f, P),
            Lit::Str(s) => Expr::Str(s.clone(), P),
            Lit::Bool(b) => Expr::Bool(*b, P),
        }
    }

    fn field(&self) -> FieldValue {
        match self {
            Lit::Int(n) => FieldValue::Int(*n),
            Lit::Float(f) => FieldValue::Float(*f),
            Lit::Str(s) => FieldValue::Str(s.clone()),
            Lit::Bool(b) => FieldValue::Bool(*b),
        }
    }
}

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            Just(i64::MIN),
            Just(i64::MAX),
            -1000i64..1000
        ]
        .prop_map(Lit::Int),
        prop_oneof![
            Just(0.0f64),
            Just(-0.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(1e300),
            -1e6f64..1e6,
        ]
        .prop_map(Lit::Float),
        "[a-zé1 .*()\\[\\]\\\\-]{0,8}".prop_map(Lit::Str),
        any::<bool>().prop_map(Lit::Bool),
    ]
}

/// Four literals: mixed types, or (more often) all of one type so that operators apply.
fn lits() -> impl Strategy<Value = Vec<Lit>> {
    let same = |l: Lit| std::mem::discriminant(&l);
    prop_oneof![
        1 => proptest::collection::vec(lit(), 4),
        2 => (lit(), proptest::collection::vec(lit(), 16)).prop_map(move |(first, pool)| {
            let mut out = vec![first.clone()];
            out.extend(pool.into_iter().filter(|l| same(l.clone()) == same(first.clone())));
            out.resize(4, first);
            out
        }),
    ]
}

/// Leaves are either literals or references to point fields; `Slot(i)` is the i-th literal of
/// the case, so the same tree can be built either way.
#[derive(Debug, Clone)]
enum Shape {
    Slot(usize),
    Duration(i64),
    Regex(String),
    Ref(&'static str),
    Unary(UnaryOp, Box<Shape>),
    Binary(BinaryOp, Box<Shape>, Box<Shape>),
    Call(&'static str, Vec<Shape>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![
        10 => (0usize..4).prop_map(Shape::Slot),
        1 => prop_oneof![Just(0i64), Just(1_000_000_000), Just(-60_000_000_000), Just(i64::MIN)]
            .prop_map(Shape::Duration),
        1 => prop_oneof![4 => Just("^a".to_string()), 4 => Just(r"\d+".to_string()),
                         1 => Just("(".to_string()), 4 => Just(r"\Qa.b\E".to_string()),
                         4 => Just("[[]".to_string())]
            .prop_map(Shape::Regex),
        2 => prop_oneof![3 => Just("host"), 2 => Just("time"), 1 => Just("missing"), 1 => Just("dup")]
            .prop_map(Shape::Ref),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            (
                prop_oneof![Just(UnaryOp::Neg), Just(UnaryOp::Not)],
                inner.clone()
            )
                .prop_map(|(op, x)| Shape::Unary(op, Box::new(x))),
            (proptest::sample::select(OPS), inner.clone(), inner.clone())
                .prop_map(|(op, l, r)| Shape::Binary(op, Box::new(l), Box::new(r))),
            (
                proptest::sample::select(FUNCS),
                proptest::collection::vec(inner, 4),
                0usize..10
            )
                .prop_map(|(name, mut args, pick)| {
                    // Mostly a valid arity, sometimes any count up to 4.
                    let valid = arities(name);
                    let n = if pick < 8 {
                        valid[pick % valid.len()]
                    } else {
                        pick - 6
                    };
                    args.truncate(n);
                    Shape::Call(name, args)
                }),
        ]
    })
}

/// Builds the expression with slots as literals (`inline`) or as field references.
fn build(s: &Shape, lits: &[Lit], inline: bool) -> Expr {
    match s {
        Shape::Slot(i) if inline => lits[*i].expr(),
        Shape::Slot(i) => Expr::Reference(format!("f{i}"), P),
        Shape::Duration(d) => Expr::Duration(*d, P),
        Shape::Regex(r) => Expr::Regex(r.clone(), P),
        Shape::Ref(name) => Expr::Reference((*name).to_string(), P),
        Shape::Unary(op, x) => Expr::Unary {
            op: *op,
            expr: Box::new(build(x, lits, inline)),
            pos: P,
        },
        Shape::Binary(op, l, r) => Expr::Binary {
            op: *op,
            lhs: Box::new(build(l, lits, inline)),
            rhs: Box::new(build(r, lits, inline)),
            pos: P,
        },
        Shape::Call(name, args) => Expr::Call {
            name: (*name).to_string(),
            args: args.iter().map(|a| build(a, lits, inline)).collect(),
            pos: P,
        },
    }
}

fn uses_nondeterminism(s: &Shape) -> bool {
    match s {
        Shape::Call(name, args) => {
            NONDETERMINISTIC.contains(name) || args.iter().any(uses_nondeterminism)
        }
        Shape::Unary(_, x) => uses_nondeterminism(x),
        Shape::Binary(_, l, r) => uses_nondeterminism(l) || uses_nondeterminism(r),
        _ => false,
    }
}

fn point(lits: &[Lit], time: i64) -> Point {
    let mut p = Point {
        name: "m".into(),
        tags: Default::default(),
        fields: Default::default(),
        time,
    };
    for (i, l) in lits.iter().enumerate() {
        p.fields.insert(format!("f{i}"), l.field());
    }
    p.tags.insert("host".into(), "serverA".into());
    p.tags.insert("dup".into(), "x".into());
    p.fields.insert("dup".into(), FieldValue::Int(1));
    p
}

/// Results compared by their debug form, so that NaN equals NaN.
fn outcome(r: &Result<Value, tickscript::eval::EvalError>) -> Option<String> {
    r.as_ref().ok().map(|v| format!("{v:?}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn evaluation_never_panics(
        s in shape(),
        lits in lits(),
        time in any::<i64>(),
        inline in any::<bool>(),
    ) {
        let expr = build(&s, &lits, inline);
        let p = point(&lits, time);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let Ok(l) = Lambda::compile(&expr) else { return };
            let mut st = l.new_state();
            for _ in 0..3 {
                let _ = l.eval(&p, &mut st);
                let _ = l.eval_bool(&p, &mut st);
            }
            let _ = l.references();
        }));
        prop_assert!(result.is_ok(), "panicked on {expr:?}");
    }

    #[test]
    fn folded_constants_agree_with_point_values(
        s in shape(),
        lits in lits(),
        time in -4_000_000_000_000_000_000i64..4_000_000_000_000_000_000,
    ) {
        prop_assume!(!uses_nondeterminism(&s));
        let p = point(&lits, time);
        let folded = Lambda::compile(&build(&s, &lits, true));
        let dynamic = Lambda::compile(&build(&s, &lits, false));
        prop_assert_eq!(folded.is_ok(), dynamic.is_ok());
        if let (Ok(a), Ok(b)) = (folded, dynamic) {
            let (mut sa, mut sb) = (a.new_state(), b.new_state());
            for _ in 0..2 {
                let ra = a.eval(&p, &mut sa);
                let rb = b.eval(&p, &mut sb);
                prop_assert_eq!(outcome(&ra), outcome(&rb), "{:?} vs {:?}", ra, rb);
                prop_assert_eq!(ra.is_err(), rb.is_err());
            }
        }
    }
}
