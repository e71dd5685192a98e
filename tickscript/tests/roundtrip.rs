//! Property test: for generated programs, format(program) parses back to the same program
//! (ignoring positions and layout), and formatting is idempotent.

use proptest::prelude::*;
use tickscript::ast::{
    BinaryOp, ChainOp, Comment, FuncKind, Pos, Program, Stmt, Tree, TreeKind, UnaryOp,
};

fn tree(kind: TreeKind) -> Tree {
    Tree::new(kind, Pos::default())
}

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

fn precedence(op: BinaryOp) -> u8 {
    use BinaryOp::*;
    match op {
        Or => 0,
        And => 1,
        Eq | NotEq | RegexMatch | RegexNotMatch => 2,
        Less | LessEq | Greater | GreaterEq => 3,
        Add | Sub => 4,
        Mul | Div | Mod => 5,
    }
}

/// Text without a trailing backslash, which no quoted literal can end with.
fn quoted_text() -> impl Strategy<Value = String> {
    "[a-z '\"\\\\µ\\n]{0,8}".prop_filter("trailing backslash", |s| !s.ends_with('\\'))
}

fn leaf() -> impl Strategy<Value = Tree> {
    prop_oneof![
        (any::<u32>(), any::<bool>()).prop_map(|(v, octal)| tree(TreeKind::Int {
            value: i64::from(v),
            octal
        })),
        (0u32..100_000).prop_map(|v| tree(TreeKind::Float(f64::from(v) / 64.0))),
        (
            0i64..10_000,
            prop::sample::select(vec!["u", "µ", "ms", "s", "m", "h", "d", "w"])
        )
            .prop_map(|(n, unit)| {
                let mult: i64 = match unit {
                    "u" | "µ" => 1_000,
                    "ms" => 1_000_000,
                    "s" => 1_000_000_000,
                    "m" => 60_000_000_000,
                    "h" => 3_600_000_000_000,
                    "d" => 86_400_000_000_000,
                    _ => 604_800_000_000_000,
                };
                tree(TreeKind::Duration {
                    nanos: n * mult,
                    literal: format!("{n}{unit}"),
                })
            }),
        (quoted_text(), any::<bool>()).prop_map(|(value, triple)| {
            let triple = triple && !value.contains('\'');
            tree(TreeKind::Str { value, triple })
        }),
        any::<bool>().prop_map(|b| tree(TreeKind::Bool(b))),
        quoted_text().prop_map(|r| tree(TreeKind::Reference(r))),
        prop::sample::select(vec!["x", "y_1", "host", "µs"])
            .prop_map(|i| tree(TreeKind::Ident(i.to_string()))),
        prop::sample::select(vec![r"^a.b$", r"x\/y", r"\d+", "[a-z]"])
            .prop_map(|r| tree(TreeKind::Regex(r.to_string()))),
    ]
}

fn expr() -> impl Strategy<Value = Tree> {
    leaf().prop_recursive(5, 48, 3, |inner| {
        prop_oneof![
            (any::<bool>(), inner.clone()).prop_map(|(neg, e)| {
                let parens_needed = matches!(e.kind, TreeKind::Binary { .. });
                let e = with_parens(e, parens_needed);
                tree(TreeKind::Unary {
                    op: if neg { UnaryOp::Neg } else { UnaryOp::Not },
                    operand: Box::new(e),
                })
            }),
            (
                prop::sample::select(OPS),
                inner.clone(),
                inner.clone(),
                any::<bool>()
            )
                .prop_map(|(op, lhs, rhs, extra_parens)| {
                    let p = precedence(op);
                    let lhs_needs =
                        matches!(&lhs.kind, TreeKind::Binary { op, .. } if precedence(*op) < p);
                    let rhs_needs =
                        matches!(&rhs.kind, TreeKind::Binary { op, .. } if precedence(*op) <= p);
                    tree(TreeKind::Binary {
                        op,
                        lhs: Box::new(with_parens(lhs, lhs_needs || extra_parens)),
                        rhs: Box::new(with_parens(rhs, rhs_needs)),
                        parens: false,
                        multiline: false,
                    })
                }),
            (
                prop::sample::select(vec!["sigma", "if", "abs"]),
                prop::collection::vec(inner, 0..3)
            )
                .prop_map(|(name, args)| tree(TreeKind::Func {
                    kind: FuncKind::Global,
                    name: name.to_string(),
                    args,
                    multiline: false,
                })),
        ]
    })
}

fn with_parens(mut t: Tree, parens: bool) -> Tree {
    if let TreeKind::Binary { parens: p, .. } = &mut t.kind {
        *p |= parens;
    }
    t
}

fn chain_arg() -> impl Strategy<Value = Tree> {
    prop_oneof![
        leaf(),
        expr().prop_map(|e| tree(TreeKind::Lambda(Box::new(e)))),
        prop::collection::vec(
            prop_oneof![
                "[a-z]{1,5}".prop_map(|s| tree(TreeKind::Str {
                    value: s,
                    triple: false
                })),
                Just(tree(TreeKind::Star)),
            ],
            0..3
        )
        .prop_map(|items| tree(TreeKind::List(items))),
        Just(tree(TreeKind::Star)),
    ]
}

fn comment() -> impl Strategy<Value = Option<Comment>> {
    prop::option::of(
        prop::collection::vec("[a-z][a-z ]{0,6}[a-z]", 1..3).prop_map(|lines| Comment {
            lines,
            pos: Pos::default(),
        }),
    )
}

fn chain() -> impl Strategy<Value = Tree> {
    let step = (
        prop::sample::select(vec![ChainOp::Pipe, ChainOp::Dot, ChainOp::At]),
        prop::sample::select(vec!["from", "window", "period", "alert", "crit"]),
        prop::collection::vec(chain_arg(), 0..3),
        comment(),
    );
    prop::collection::vec(step, 1..5).prop_map(|steps| {
        let mut t = tree(TreeKind::Ident("stream".into()));
        for (op, name, args, comment) in steps {
            let kind = match op {
                ChainOp::Pipe => FuncKind::Chain,
                ChainOp::Dot => FuncKind::Property,
                ChainOp::At => FuncKind::Dynamic,
            };
            t = Tree {
                kind: TreeKind::Chain {
                    op,
                    lhs: Box::new(t),
                    rhs: Box::new(tree(TreeKind::Func {
                        kind,
                        name: name.to_string(),
                        args,
                        multiline: false,
                    })),
                },
                pos: Pos::default(),
                comment,
            };
        }
        t
    })
}

fn program() -> impl Strategy<Value = Program> {
    let stmt = prop_oneof![
        (comment(), prop_oneof![expr(), chain(), chain_arg()]).prop_map(|(comment, value)| {
            Stmt::Var {
                name: "v".into(),
                value,
                comment,
                pos: Pos::default(),
            }
        }),
        (
            comment(),
            prop::sample::select(vec!["int", "lambda", "list"])
        )
            .prop_map(|(comment, ty)| Stmt::TypedVar {
                name: "t".into(),
                ty: ty.into(),
                ty_pos: Pos::default(),
                comment,
                pos: Pos::default(),
            }),
        (comment(), "[a-z\"]{0,5}", "[a-z ]{0,5}").prop_map(|(comment, db, rp)| Stmt::Dbrp {
            db,
            rp,
            comment,
            pos: Pos::default(),
        }),
        chain().prop_map(Stmt::Expr),
    ];
    (prop::collection::vec(stmt, 0..4), comment()).prop_map(|(stmts, trailing_comment)| Program {
        stmts,
        trailing_comment,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn formatted_programs_parse_back_to_the_same_program(p in program()) {
        let text = tickscript::format_program(&p);
        let parsed = tickscript::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.normalized(), p.normalized(), "{}", text);
        let formatted = tickscript::format(&text).unwrap();
        prop_assert_eq!(tickscript::format(&formatted).unwrap(), formatted.clone());
        prop_assert_eq!(tickscript::parse(&formatted).unwrap().normalized(), p.normalized());
    }

    #[test]
    fn lambda_text_round_trips(e in expr()) {
        let text = tickscript::format_lambda(&e);
        let parsed = tickscript::parse_lambda(&text)
            .map_err(|err| TestCaseError::fail(format!("{err}\n{text}")))?;
        prop_assert_eq!(parsed.normalized(), e.normalized(), "{}", text);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
        let _ = tickscript::format(&s);
        let _ = tickscript::compile(&s, &tickscript::Vars::default());
    }
}
