//! Behaviour of the lambda evaluator: Kapacitor's operator/type rules, every built-in function,
//! stateful functions, error texts, and the extension hooks.

use std::sync::Arc;

use kapacitor_models::{FieldValue, Point};
use tickscript::ast::{BinaryOp, Expr, Pos, UnaryOp};
use tickscript::eval::{EvalError, FunctionSet, Lambda, Scope, Value, ValueRef};

/// Test-only expression builder (the parser is developed separately).
mod b {
    use super::*;

    const P: Pos = Pos { line: 1, col: 1 };

    pub fn r(name: &str) -> Expr {
        Expr::Reference(name.into(), P)
    }
    pub fn i(n: i64) -> Expr {
        Expr::Int(n, P)
    }
    pub fn f(x: f64) -> Expr {
        Expr::Float(x, P)
    }
    pub fn s(x: &str) -> Expr {
        Expr::Str(x.into(), P)
    }
    pub fn t(x: bool) -> Expr {
        Expr::Bool(x, P)
    }
    pub fn d(ns: i64) -> Expr {
        Expr::Duration(ns, P)
    }
    pub fn re(src: &str) -> Expr {
        Expr::Regex(src.into(), P)
    }
    pub fn ident(name: &str) -> Expr {
        Expr::Ident(name.into(), P)
    }
    pub fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call {
            name: name.into(),
            args,
            pos: P,
        }
    }
    pub fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
        Expr::Binary {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
            pos: P,
        }
    }
    pub fn neg(x: Expr) -> Expr {
        Expr::Unary {
            op: UnaryOp::Neg,
            expr: Box::new(x),
            pos: P,
        }
    }
    pub fn not(x: Expr) -> Expr {
        Expr::Unary {
            op: UnaryOp::Not,
            expr: Box::new(x),
            pos: P,
        }
    }
}

use BinaryOp::*;
use b::*;

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;

/// 2016-03-15T10:57:39Z, a Tuesday.
const T0: i64 = 1_458_039_459 * S;

fn point() -> Point {
    let mut p = Point {
        name: "cpu".into(),
        tags: Default::default(),
        fields: Default::default(),
        time: T0,
    };
    p.tags.insert("host".into(), "serverA".into());
    p.tags.insert("dc".into(), "east".into());
    p.tags.insert("dup".into(), "tag".into());
    p.fields
        .insert("usage_idle".into(), FieldValue::Float(65.5));
    p.fields.insert("count".into(), FieldValue::Int(10));
    p.fields.insert("zero".into(), FieldValue::Int(0));
    p.fields
        .insert("msg".into(), FieldValue::Str("hello world".into()));
    p.fields.insert("ok".into(), FieldValue::Bool(true));
    p.fields.insert("dup".into(), FieldValue::Int(1));
    p
}

fn eval(e: Expr) -> Result<Value, EvalError> {
    let l = Lambda::compile(&e).expect("compiles");
    l.eval(&point(), &mut l.new_state())
}

fn ok(e: Expr) -> Value {
    eval(e).unwrap_or_else(|err| panic!("unexpected error: {err}"))
}

fn err(e: Expr) -> String {
    match eval(e) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn str_v(s: &str) -> Value {
    Value::from(s)
}

#[test]
fn references_resolve_to_fields_then_tags() {
    assert_eq!(ok(r("usage_idle")), Value::Float(65.5));
    assert_eq!(ok(r("count")), Value::Int(10));
    assert_eq!(ok(r("msg")), str_v("hello world"));
    assert_eq!(ok(r("ok")), Value::Bool(true));
    assert_eq!(ok(r("host")), str_v("serverA"));
    assert_eq!(ok(r("time")), Value::Time(T0));
    assert_eq!(ok(r("nope")), Value::Missing);
    assert_eq!(
        err(r("dup")),
        r#"cannot have field and tags with same name "dup""#
    );
}

#[test]
fn the_issue_example_predicate() {
    let e = bin(
        And,
        bin(Less, r("usage_idle"), i(70)),
        bin(Eq, r("host"), s("serverA")),
    );
    let l = Lambda::compile(&e).unwrap();
    let mut st = l.new_state();
    assert!(l.eval_bool(&point(), &mut st).unwrap());
    let mut p = point();
    p.tags.insert("host".into(), "serverB".into());
    assert!(!l.eval_bool(&p, &mut st).unwrap());
    assert_eq!(
        l.references(),
        vec!["usage_idle".to_string(), "host".to_string()]
    );
}

#[test]
fn numeric_comparisons_mix_int_and_float() {
    for (op, want) in [
        (Eq, false),
        (NotEq, true),
        (Less, false),
        (LessEq, false),
        (Greater, true),
        (GreaterEq, true),
    ] {
        assert_eq!(ok(bin(op, r("count"), f(9.5))), Value::Bool(want), "{op:?}");
        assert_eq!(
            ok(bin(op, f(10.5), r("count"))),
            Value::Bool(want),
            "{op:?}"
        );
        assert_eq!(ok(bin(op, r("count"), i(9))), Value::Bool(want), "{op:?}");
        assert_eq!(
            ok(bin(op, r("usage_idle"), f(65.0))),
            Value::Bool(want),
            "{op:?}"
        );
    }
    assert_eq!(ok(bin(Eq, r("count"), f(10.0))), Value::Bool(true));
    // NaN compares unequal to everything, as in Go.
    let nan = bin(Div, f(0.0), f(0.0));
    assert_eq!(ok(bin(Eq, nan.clone(), nan.clone())), Value::Bool(false));
    assert_eq!(ok(bin(NotEq, nan.clone(), f(1.0))), Value::Bool(true));
}

#[test]
fn string_duration_and_bool_comparisons() {
    assert_eq!(ok(bin(Less, s("abc"), s("abd"))), Value::Bool(true));
    assert_eq!(
        ok(bin(GreaterEq, r("host"), s("server"))),
        Value::Bool(true)
    );
    assert_eq!(ok(bin(Greater, d(M), d(59 * S))), Value::Bool(true));
    assert_eq!(ok(bin(Eq, d(M), d(60 * S))), Value::Bool(true));
    assert_eq!(ok(bin(Eq, r("ok"), t(true))), Value::Bool(true));
    assert_eq!(ok(bin(NotEq, t(false), t(true))), Value::Bool(true));
    assert_eq!(
        err(bin(Less, t(false), t(true))),
        "invalid comparison operator < for type boolean"
    );
    assert_eq!(
        err(bin(Eq, r("msg"), i(1))),
        "mismatched type to binary operator. got string == int. see bool(), int(), float(), string(), duration()"
    );
    assert_eq!(
        err(bin(Eq, r("time"), r("time"))),
        "invalid comparison operator == for type time"
    );
}

#[test]
fn arithmetic_does_not_mix_int_and_float() {
    assert_eq!(ok(bin(Add, r("count"), i(5))), Value::Int(15));
    assert_eq!(ok(bin(Sub, i(5), r("count"))), Value::Int(-5));
    assert_eq!(ok(bin(Mul, r("count"), i(3))), Value::Int(30));
    assert_eq!(ok(bin(Div, r("count"), i(3))), Value::Int(3));
    assert_eq!(ok(bin(Mod, r("count"), i(3))), Value::Int(1));
    assert_eq!(ok(bin(Mul, r("usage_idle"), f(2.0))), Value::Float(131.0));
    assert_eq!(ok(bin(Div, f(1.0), f(4.0))), Value::Float(0.25));
    assert_eq!(ok(bin(Sub, f(1.0), f(4.0))), Value::Float(-3.0));
    assert_eq!(
        err(bin(Mul, r("count"), f(1.5))),
        "mismatched type to binary operator. got int * float. see bool(), int(), float(), string(), duration()"
    );
    assert_eq!(
        err(bin(Mod, f(5.0), f(2.0))),
        "invalid math operator % for type float"
    );
    assert_eq!(
        err(bin(Mod, i(5), f(2.0))),
        "mismatched type to binary operator. got int % float. see bool(), int(), float(), string(), duration()"
    );
    assert_eq!(
        err(bin(Add, t(true), t(true))),
        "invalid math operator + for type boolean"
    );
    // Overflow wraps as in Go instead of panicking.
    assert_eq!(ok(bin(Add, i(i64::MAX), i(1))), Value::Int(i64::MIN));
    assert_eq!(ok(bin(Mul, i(i64::MAX), i(2))), Value::Int(-2));
}

#[test]
fn integer_division_by_zero_is_an_error_not_a_panic() {
    assert_eq!(
        err(bin(Div, r("count"), r("zero"))),
        "integer divide by zero"
    );
    assert_eq!(
        err(bin(Mod, r("count"), r("zero"))),
        "integer divide by zero"
    );
    assert_eq!(err(bin(Div, i(1), i(0))), "integer divide by zero");
    assert_eq!(err(bin(Div, d(S), r("zero"))), "integer divide by zero");
    assert_eq!(err(bin(Div, d(S), d(0))), "integer divide by zero");
    assert_eq!(ok(bin(Div, i(i64::MIN), i(-1))), Value::Int(i64::MIN));
    assert_eq!(ok(bin(Mod, i(i64::MIN), i(-1))), Value::Int(0));
    // Float division by zero is IEEE.
    assert_eq!(ok(bin(Div, f(1.0), f(0.0))), Value::Float(f64::INFINITY));
    assert_eq!(
        ok(bin(Div, f(-1.0), f(0.0))),
        Value::Float(f64::NEG_INFINITY)
    );
}

#[test]
fn string_concatenation() {
    assert_eq!(
        ok(bin(Add, r("host"), s("-suffix"))),
        str_v("serverA-suffix")
    );
    assert_eq!(
        err(bin(Sub, s("a"), s("b"))),
        "invalid math operator - for type string"
    );
    assert_eq!(
        err(bin(Add, s("a"), i(1))),
        "mismatched type to binary operator. got string + int. see bool(), int(), float(), string(), duration()"
    );
}

#[test]
fn duration_arithmetic() {
    assert_eq!(ok(bin(Add, d(M), d(30 * S))), Value::Duration(90 * S));
    assert_eq!(ok(bin(Sub, d(M), d(30 * S))), Value::Duration(30 * S));
    assert_eq!(ok(bin(Mul, d(M), i(2))), Value::Duration(2 * M));
    assert_eq!(ok(bin(Mul, i(2), d(M))), Value::Duration(2 * M));
    assert_eq!(ok(bin(Mul, d(M), f(1.5))), Value::Duration(90 * S));
    assert_eq!(ok(bin(Mul, f(0.5), d(M))), Value::Duration(30 * S));
    assert_eq!(ok(bin(Div, d(M), i(4))), Value::Duration(15 * S));
    assert_eq!(ok(bin(Div, d(M), f(2.0))), Value::Duration(30 * S));
    assert_eq!(ok(bin(Div, d(M), d(15 * S))), Value::Int(4));
    assert_eq!(ok(neg(d(M))), Value::Duration(-M));
    assert_eq!(
        err(bin(Mod, d(M), d(S))),
        "invalid math operator % for type duration"
    );
}

#[test]
fn regex_match_operators() {
    assert_eq!(
        ok(bin(RegexMatch, r("host"), re("^server[A-C]$"))),
        Value::Bool(true)
    );
    assert_eq!(
        ok(bin(RegexNotMatch, r("host"), re("^server[A-C]$"))),
        Value::Bool(false)
    );
    assert_eq!(
        ok(bin(RegexMatch, r("host"), re(r"^\w+$"))),
        Value::Bool(true)
    );
    assert_eq!(
        err(bin(RegexMatch, r("count"), re("1"))),
        "invalid comparison operator =~ for type int"
    );
    assert_eq!(
        err(bin(RegexMatch, r("host"), s("server"))),
        "mismatched type to binary operator. got string =~ string. see bool(), int(), float(), string(), duration()"
    );
    let e = Lambda::compile(&bin(RegexMatch, r("host"), re("(unclosed"))).unwrap_err();
    assert!(e.to_string().starts_with("error parsing regexp:"), "{e}");
    assert!(e.pos().is_some());
}

#[test]
fn logical_operators_short_circuit() {
    let missing_cmp = bin(Greater, r("nope"), i(1));
    assert_eq!(
        ok(bin(And, t(false), missing_cmp.clone())),
        Value::Bool(false)
    );
    assert_eq!(ok(bin(Or, t(true), missing_cmp.clone())), Value::Bool(true));
    assert_eq!(
        err(bin(And, t(true), missing_cmp.clone())),
        r#"left reference value "nope" is missing value"#
    );
    assert_eq!(ok(bin(Or, t(false), r("ok"))), Value::Bool(true));
    assert_eq!(
        err(bin(And, i(1), t(true))),
        "invalid logical operator AND for type int"
    );
    assert_eq!(
        err(bin(Or, t(false), i(1))),
        "mismatched type to binary operator. got boolean OR int. see bool(), int(), float(), string(), duration()"
    );
}

#[test]
fn unary_operators() {
    assert_eq!(ok(neg(r("count"))), Value::Int(-10));
    assert_eq!(ok(neg(r("usage_idle"))), Value::Float(-65.5));
    assert_eq!(ok(neg(i(i64::MIN))), Value::Int(i64::MIN));
    assert_eq!(ok(not(r("ok"))), Value::Bool(false));
    assert_eq!(
        err(neg(r("msg"))),
        "invalid math operator - for type string"
    );
    assert_eq!(
        err(not(r("count"))),
        "invalid logical operator ! for type int"
    );
    assert_eq!(err(neg(r("nope"))), r#"reference "nope" is missing value"#);
}

#[test]
fn missing_values() {
    assert_eq!(
        err(bin(Greater, r("nope"), i(1))),
        r#"left reference value "nope" is missing value"#
    );
    assert_eq!(
        err(bin(Greater, i(1), r("nope"))),
        r#"right reference value "nope" is missing value"#
    );
    let l = Lambda::compile(&r("nope")).unwrap();
    assert_eq!(
        l.eval_bool(&point(), &mut l.new_state())
            .unwrap_err()
            .to_string(),
        r#"reference "nope" is missing value"#
    );
    assert_eq!(ok(call("isPresent", vec![r("nope")])), Value::Bool(false));
    assert_eq!(ok(call("isPresent", vec![r("host")])), Value::Bool(true));
    assert_eq!(
        ok(call("isPresent", vec![r("usage_idle")])),
        Value::Bool(true)
    );
}

#[test]
fn eval_bool_requires_a_boolean() {
    let l = Lambda::compile(&r("usage_idle")).unwrap();
    assert_eq!(
        l.eval_bool(&point(), &mut l.new_state())
            .unwrap_err()
            .to_string(),
        "TypeGuard: expression returned unexpected type float, expected boolean"
    );
}

#[test]
fn conversion_functions() {
    assert_eq!(ok(call("bool", vec![s("true")])), Value::Bool(true));
    assert_eq!(ok(call("bool", vec![s("F")])), Value::Bool(false));
    assert_eq!(ok(call("bool", vec![i(1)])), Value::Bool(true));
    assert_eq!(ok(call("bool", vec![f(0.0)])), Value::Bool(false));
    assert_eq!(
        err(call("bool", vec![i(2)])),
        r#"error calling "bool": cannot convert 2 to boolean"#
    );
    assert_eq!(
        err(call("bool", vec![s("yes")])),
        r#"error calling "bool": strconv.ParseBool: parsing "yes": invalid syntax"#
    );

    assert_eq!(ok(call("int", vec![f(3.9)])), Value::Int(3));
    assert_eq!(ok(call("int", vec![f(-3.9)])), Value::Int(-3));
    assert_eq!(ok(call("int", vec![s("-42")])), Value::Int(-42));
    assert_eq!(ok(call("int", vec![t(true)])), Value::Int(1));
    assert_eq!(ok(call("int", vec![d(S)])), Value::Int(S));
    assert_eq!(
        err(call("int", vec![s("4x")])),
        r#"error calling "int": strconv.ParseInt: parsing "4x": invalid syntax"#
    );
    assert_eq!(
        err(call("int", vec![s("99999999999999999999")])),
        r#"error calling "int": strconv.ParseInt: parsing "99999999999999999999": value out of range"#
    );

    assert_eq!(ok(call("float", vec![r("count")])), Value::Float(10.0));
    assert_eq!(ok(call("float", vec![s("1.5")])), Value::Float(1.5));
    assert_eq!(ok(call("float", vec![t(false)])), Value::Float(0.0));

    assert_eq!(ok(call("string", vec![f(1.5)])), str_v("1.5"));
    assert_eq!(ok(call("string", vec![f(10.0)])), str_v("10"));
    assert_eq!(ok(call("string", vec![r("count")])), str_v("10"));
    assert_eq!(ok(call("string", vec![t(true)])), str_v("true"));
    assert_eq!(ok(call("string", vec![d(90 * S)])), str_v("90s"));
    assert_eq!(ok(call("string", vec![d(2 * M)])), str_v("2m"));
    assert_eq!(ok(call("string", vec![r("host")])), str_v("serverA"));

    assert_eq!(
        ok(call("duration", vec![i(5), d(S)])),
        Value::Duration(5 * S)
    );
    assert_eq!(
        ok(call("duration", vec![f(1.5), d(S)])),
        Value::Duration(1_500_000_000)
    );
    assert_eq!(
        ok(call("duration", vec![s("1h30m")])),
        Value::Duration(90 * M)
    );
    assert_eq!(ok(call("duration", vec![d(S)])), Value::Duration(S));
    assert_eq!(
        err(call("duration", vec![s("soon")])),
        r#"error calling "duration": invalid duration string "soon""#
    );
    assert_eq!(
        err(call("duration", vec![i(5)])),
        r#"Cannot call function "duration" with args (5: int), available signatures are [(duration), (int,duration), (float,duration), (string), (string,duration)]."#
    );
}

fn approx(v: Value, want: f64) {
    match v {
        Value::Float(x) => assert!((x - want).abs() < 1e-12, "{x} != {want}"),
        other => panic!("expected a float, got {other:?}"),
    }
}

#[test]
fn math_functions() {
    let f1 = |name: &str, x: f64| ok(call(name, vec![f(x)]));
    approx(f1("abs", -1.5), 1.5);
    approx(f1("acos", 1.0), 0.0);
    approx(f1("acosh", 1.0), 0.0);
    approx(f1("asin", 0.0), 0.0);
    approx(f1("asinh", 0.0), 0.0);
    approx(f1("atan", 0.0), 0.0);
    approx(f1("atanh", 0.0), 0.0);
    approx(f1("cbrt", 27.0), 3.0);
    approx(f1("ceil", 1.2), 2.0);
    approx(f1("cos", 0.0), 1.0);
    approx(f1("cosh", 0.0), 1.0);
    approx(f1("erf", 0.0), 0.0);
    approx(f1("erfc", 0.0), 1.0);
    approx(f1("exp", 0.0), 1.0);
    approx(f1("exp2", 3.0), 8.0);
    approx(f1("expm1", 0.0), 0.0);
    approx(f1("floor", 1.8), 1.0);
    approx(f1("gamma", 5.0), 24.0);
    approx(f1("j0", 0.0), 1.0);
    approx(f1("j1", 0.0), 0.0);
    approx(f1("log", 1.0), 0.0);
    approx(f1("log10", 1000.0), 3.0);
    approx(f1("log1p", 0.0), 0.0);
    approx(f1("log2", 8.0), 3.0);
    approx(f1("logb", 8.0), 3.0);
    approx(f1("sin", 0.0), 0.0);
    approx(f1("sinh", 0.0), 0.0);
    approx(f1("sqrt", 16.0), 4.0);
    approx(f1("tan", 0.0), 0.0);
    approx(f1("tanh", 0.0), 0.0);
    approx(f1("trunc", -1.8), -1.0);
    approx(f1("y0", 1.0), 0.088_256_964_215_676_96);
    approx(f1("y1", 1.0), -0.781_212_821_300_288_7);
    let f2 = |name: &str, x: f64, y: f64| ok(call(name, vec![f(x), f(y)]));
    approx(f2("atan2", 0.0, 1.0), 0.0);
    approx(f2("hypot", 3.0, 4.0), 5.0);
    approx(f2("max", 1.0, 2.0), 2.0);
    approx(f2("min", 1.0, 2.0), 1.0);
    approx(f2("mod", 7.0, 4.0), 3.0);
    approx(f2("pow", 2.0, 10.0), 1024.0);
    approx(ok(call("jn", vec![i(0), f(0.0)])), 1.0);
    approx(ok(call("yn", vec![i(1), f(1.0)])), -0.781_212_821_300_288_7);
    approx(ok(call("pow10", vec![i(3)])), 1000.0);
    assert_eq!(
        err(call("abs", vec![r("count")])),
        r#"Cannot call function "abs" with args ("count": int), available signatures are [(float)]."#
    );
    assert_eq!(
        err(call("pow", vec![f(1.0), i(2)])),
        r#"Cannot call function "pow" with args (1: float,2: int), available signatures are [(float,float)]."#
    );
}

#[test]
fn string_functions() {
    let c = |name: &str, args: Vec<Expr>| ok(call(name, args));
    assert_eq!(
        c("strContains", vec![r("msg"), s("lo w")]),
        Value::Bool(true)
    );
    assert_eq!(
        c("strContainsAny", vec![r("msg"), s("xyz")]),
        Value::Bool(false)
    );
    assert_eq!(
        c("strContainsAny", vec![r("msg"), s("xyw")]),
        Value::Bool(true)
    );
    assert_eq!(c("strCount", vec![s("cheese"), s("e")]), Value::Int(3));
    assert_eq!(c("strCount", vec![s("five"), s("")]), Value::Int(5));
    assert_eq!(
        c("strHasPrefix", vec![r("host"), s("serv")]),
        Value::Bool(true)
    );
    assert_eq!(
        c("strHasSuffix", vec![r("host"), s("B")]),
        Value::Bool(false)
    );
    assert_eq!(c("strIndex", vec![s("chicken"), s("ken")]), Value::Int(4));
    assert_eq!(c("strIndex", vec![s("chicken"), s("dmr")]), Value::Int(-1));
    assert_eq!(c("strIndexAny", vec![s("golang"), s("ny")]), Value::Int(4));
    assert_eq!(
        c("strLastIndex", vec![s("go gopher"), s("go")]),
        Value::Int(3)
    );
    assert_eq!(
        c("strLastIndexAny", vec![s("go gopher"), s("go")]),
        Value::Int(4)
    );
    assert_eq!(c("strLength", vec![s("héllo")]), Value::Int(6));
    assert_eq!(
        c(
            "strReplace",
            vec![s("oink oink oink"), s("k"), s("ky"), i(2)]
        ),
        str_v("oinky oinky oink")
    );
    assert_eq!(
        c(
            "strReplace",
            vec![s("oink oink"), s("oink"), s("moo"), i(-1)]
        ),
        str_v("moo moo")
    );
    assert_eq!(
        c("strSubstring", vec![r("msg"), i(0), i(5)]),
        str_v("hello")
    );
    assert_eq!(
        c("strSubstring", vec![r("msg"), i(6), i(11)]),
        str_v("world")
    );
    assert_eq!(c("strToLower", vec![s("HeLLo")]), str_v("hello"));
    assert_eq!(c("strToUpper", vec![s("HeLLo")]), str_v("HELLO"));
    assert_eq!(c("strTrim", vec![s("xxhixx"), s("x")]), str_v("hi"));
    assert_eq!(c("strTrimLeft", vec![s("xxhixx"), s("x")]), str_v("hixx"));
    assert_eq!(c("strTrimRight", vec![s("xxhixx"), s("x")]), str_v("xxhi"));
    assert_eq!(
        c("strTrimPrefix", vec![s("prefix-body"), s("prefix-")]),
        str_v("body")
    );
    assert_eq!(
        c("strTrimSuffix", vec![s("body.txt"), s(".txt")]),
        str_v("body")
    );
    assert_eq!(c("strTrimSpace", vec![s(" \t hi \n")]), str_v("hi"));
    assert_eq!(
        c(
            "regexReplace",
            vec![re("a(x*)b"), s("-ab-axxb-"), s("${1}W")]
        ),
        str_v("-W-xxW-")
    );
    assert_eq!(
        err(call("strSubstring", vec![r("msg"), i(-1), i(2)])),
        r#"error calling "strSubstring": found negative index for strSubstring: -1"#
    );
    assert_eq!(
        err(call("strSubstring", vec![r("msg"), i(0), i(12)])),
        r#"error calling "strSubstring": stop index too large for string in strSubstring: 12"#
    );
    assert_eq!(
        err(call("strSubstring", vec![r("msg"), i(5), i(2)])),
        r#"error calling "strSubstring": slice bounds out of range [5:2]"#
    );
    // A cut inside a multi-byte character does not panic.
    assert_eq!(
        c("strSubstring", vec![s("é"), i(0), i(1)]),
        str_v("\u{FFFD}")
    );
}

#[test]
fn time_functions() {
    assert_eq!(ok(call("unixNano", vec![r("time")])), Value::Int(T0));
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    match ok(call("now", vec![])) {
        Value::Time(t) => assert!(t >= before && t - before < 60 * S),
        other => panic!("now() returned {other:?}"),
    }
    assert_eq!(
        err(call("hour", vec![r("count")])),
        r#"Cannot call function "hour" with args ("count": int), available signatures are [(time)]."#
    );
}

/// The time functions read the process's zone, so they are checked in child processes with a
/// known `TZ`.
#[test]
fn time_functions_use_the_local_zone() {
    let expect = |tz: &str| -> Option<[i64; 6]> {
        match tz {
            // 2016-03-15T10:57:39Z
            "UTC" => Some([57, 10, 2, 15, 3, 2016]),
            // +05:30: 16:27:39 the same day.
            "Asia/Kolkata" => Some([27, 16, 2, 15, 3, 2016]),
            _ => None,
        }
    };
    match std::env::var("EVAL_TEST_TZ") {
        Ok(tz) => {
            let want = expect(&tz).expect("known zone");
            let got: Vec<Value> = ["minute", "hour", "weekday", "day", "month", "year"]
                .iter()
                .map(|f| ok(call(f, vec![r("time")])))
                .collect();
            let want: Vec<Value> = want.iter().map(|v| Value::Int(*v)).collect();
            assert_eq!(got, want, "TZ={tz}");
        }
        Err(_) => {
            for tz in ["UTC", "Asia/Kolkata"] {
                if tz != "UTC"
                    && !std::path::Path::new("/usr/share/zoneinfo")
                        .join(tz)
                        .exists()
                {
                    continue;
                }
                let out = std::process::Command::new(std::env::current_exe().unwrap())
                    .args([
                        "--exact",
                        "time_functions_use_the_local_zone",
                        "--test-threads=1",
                    ])
                    .env("TZ", tz)
                    .env("EVAL_TEST_TZ", tz)
                    .output()
                    .expect("run child test");
                assert!(
                    out.status.success(),
                    "TZ={tz}: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

#[test]
fn misc_functions() {
    assert_eq!(ok(call("humanBytes", vec![i(1500)])), str_v("1.5 kB"));
    assert_eq!(
        ok(call("humanBytes", vec![f(82_854_982.0)])),
        str_v("83 MB")
    );
    assert_eq!(
        ok(call("if", vec![r("ok"), s("yes"), s("no")])),
        str_v("yes")
    );
    assert_eq!(
        ok(call("if", vec![t(false), r("count"), i(0)])),
        Value::Int(0)
    );
    assert_eq!(
        err(call("if", vec![t(true), i(1), s("a")])),
        r#"Cannot call function "if" with args (TRUE: boolean,1: int,'a': string), available signatures are [(boolean,float,float), (boolean,int,int), (boolean,string,string), (boolean,boolean,boolean), (boolean,regex,regex), (boolean,time,time), (boolean,duration,duration)]."#
    );
    match ok(call("rand", vec![])) {
        Value::Int(n) => assert!(n >= 0),
        other => panic!("rand() returned {other:?}"),
    }
    for _ in 0..100 {
        match ok(call("rand", vec![i(10)])) {
            Value::Int(n) => assert!((0..10).contains(&n)),
            other => panic!("rand(10) returned {other:?}"),
        }
    }
    assert_eq!(
        err(call("rand", vec![i(0)])),
        r#"error calling "rand": invalid argument to rand: must be > 0"#
    );
}

#[test]
fn missing_function_arguments_list_the_scope() {
    let e = bin(
        Add,
        call("sigma", vec![r("nope")]),
        call("float", vec![r("count")]),
    );
    assert_eq!(
        err(e),
        r#"Cannot call function "sigma" argument "nope" is missing, values in scope are [nope, count]"#
    );
    assert_eq!(
        err(call("strContains", vec![r("a1"), r("a2")])),
        r#"Cannot call function "strContains" arguments "a1", "a2" are missing, values in scope are [a1, a2]"#
    );
}

#[test]
fn argument_errors_name_the_argument() {
    assert_eq!(
        err(call("string", vec![bin(Div, i(1), i(0))])),
        "Failed to handle 1 argument: integer divide by zero"
    );
}

fn eval_seq(
    l: &Lambda,
    st: &mut tickscript::eval::State,
    field: &str,
    values: &[FieldValue],
) -> Vec<Value> {
    values
        .iter()
        .map(|v| {
            let mut p = point();
            p.fields.insert(field.into(), v.clone());
            l.eval(&p, st).expect("evaluates")
        })
        .collect()
}

#[test]
fn count_is_per_state() {
    let l = Lambda::compile(&call("count", vec![])).unwrap();
    let mut a = l.new_state();
    let mut b = l.new_state();
    assert_eq!(l.eval(&point(), &mut a).unwrap(), Value::Int(1));
    assert_eq!(l.eval(&point(), &mut a).unwrap(), Value::Int(2));
    assert_eq!(l.eval(&point(), &mut b).unwrap(), Value::Int(1));
    let mut snapshot = a.clone();
    assert_eq!(l.eval(&point(), &mut a).unwrap(), Value::Int(3));
    assert_eq!(l.eval(&point(), &mut snapshot).unwrap(), Value::Int(3));
    a.reset();
    assert_eq!(l.eval(&point(), &mut a).unwrap(), Value::Int(1));
}

#[test]
fn two_calls_keep_separate_state() {
    // count() + count(): each call has its own counter.
    let l = Lambda::compile(&bin(Add, call("count", vec![]), call("count", vec![]))).unwrap();
    let mut st = l.new_state();
    assert_eq!(l.eval(&point(), &mut st).unwrap(), Value::Int(2));
    assert_eq!(l.eval(&point(), &mut st).unwrap(), Value::Int(4));
}

#[test]
fn sigma_matches_kapacitor() {
    let l = Lambda::compile(&call("sigma", vec![r("v")])).unwrap();
    let mut st = l.new_state();
    let vals: Vec<FieldValue> = [1.0, 3.0, 5.0, 100.0]
        .iter()
        .map(|v| FieldValue::Float(*v))
        .collect();
    let out = eval_seq(&l, &mut st, "v", &vals);
    assert_eq!(out[0], Value::Float(0.0));
    // After 1, 3: mean 2, sample stddev sqrt(2); |3 - 2| / sqrt(2).
    approx(out[1].clone(), 1.0 / 2f64.sqrt());
    approx(out[2].clone(), 1.0);
    // After 1, 3, 5, 100: mean 27.25, sample variance 2361.583…
    let var: f64 = [1.0f64, 3.0, 5.0, 100.0]
        .iter()
        .map(|x| (x - 27.25f64).powi(2))
        .sum::<f64>()
        / 3.0;
    approx(out[3].clone(), (100.0 - 27.25) / var.sqrt());
    // Constant input has zero variance: 0, not NaN.
    let mut st = l.new_state();
    let out = eval_seq(
        &l,
        &mut st,
        "v",
        &[FieldValue::Float(5.0), FieldValue::Float(5.0)],
    );
    assert_eq!(out, vec![Value::Float(0.0), Value::Float(0.0)]);
    // Integers must be converted explicitly, as in Kapacitor.
    let mut p = point();
    p.fields.insert("v".into(), FieldValue::Int(1));
    assert_eq!(
        l.eval(&p, &mut st).unwrap_err().to_string(),
        r#"Cannot call function "sigma" with args ("v": int), available signatures are [(float)]."#
    );
}

#[test]
fn sigma_predicate_from_the_issue() {
    let l = Lambda::compile(&bin(Greater, call("sigma", vec![r("usage_idle")]), i(3))).unwrap();
    let mut st = l.new_state();
    // Values alternating around 50, then an outlier (with n points sigma can not exceed
    // (n-1)/sqrt(n), so a few dozen are needed before 3 is reachable).
    let mut values: Vec<f64> = (0..40)
        .map(|i| if i % 2 == 0 { 49.0 } else { 51.0 })
        .collect();
    values.push(95.0);
    let fired: Vec<bool> = values
        .iter()
        .map(|v| {
            let mut p = point();
            p.fields.insert("usage_idle".into(), FieldValue::Float(*v));
            l.eval_bool(&p, &mut st).unwrap()
        })
        .collect();
    assert_eq!(fired.iter().filter(|f| **f).count(), 1);
    assert!(fired[40]);
}

#[test]
fn spread_tracks_running_range() {
    let l = Lambda::compile(&call("spread", vec![r("v")])).unwrap();
    let mut st = l.new_state();
    let vals: Vec<FieldValue> = [5.0, 3.0, 9.0, 4.0]
        .iter()
        .map(|v| FieldValue::Float(*v))
        .collect();
    assert_eq!(
        eval_seq(&l, &mut st, "v", &vals),
        vec![
            Value::Float(0.0),
            Value::Float(2.0),
            Value::Float(6.0),
            Value::Float(6.0)
        ]
    );
}

#[test]
fn state_of_another_lambda_is_an_error_not_a_panic() {
    let counting = Lambda::compile(&call("count", vec![])).unwrap();
    let plain = Lambda::compile(&r("count")).unwrap();
    let mut foreign = plain.new_state();
    let e = counting.eval(&point(), &mut foreign).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"error calling "count": state does not belong to this lambda"#
    );
}

#[test]
fn compile_errors() {
    let msg = |e: Expr| Lambda::compile(&e).unwrap_err().to_string();
    assert_eq!(
        msg(call("nosuch", vec![])),
        r#"undefined function: "nosuch""#
    );
    assert_eq!(
        msg(call("abs", vec![])),
        r#"wrong number of arguments to "abs": got 0, expected one of [(float)]"#
    );
    assert_eq!(
        msg(call("count", vec![r("x")])),
        r#"wrong number of arguments to "count": got 1, expected one of [()]"#
    );
    assert_eq!(
        msg(call("strReplace", vec![s("a"), s("b"), s("c"), i(1), i(2)])),
        r#"wrong number of arguments to "strReplace": got 5, expected one of [(string,string,string,int)]"#
    );
    assert_eq!(msg(ident("x")), r#"undefined identifier "x" in lambda"#);
    assert_eq!(
        msg(Expr::Star(Pos { line: 3, col: 7 })),
        "unexpected '*' in lambda expression"
    );
    let e = Lambda::compile(&Expr::Star(Pos { line: 3, col: 7 })).unwrap_err();
    assert_eq!(e.pos(), Some(Pos { line: 3, col: 7 }));
}

#[test]
fn constants_are_folded_and_runtime_errors_kept() {
    assert_eq!(ok(bin(Add, i(1), bin(Mul, i(2), i(3)))), Value::Int(7));
    assert_eq!(
        ok(call("string", vec![call("sqrt", vec![f(16.0)])])),
        str_v("4")
    );
    // `1 / 0` compiles and fails when evaluated, like any other point-dependent error.
    let l = Lambda::compile(&bin(Div, i(1), i(0))).expect("compiles");
    assert!(l.eval(&point(), &mut l.new_state()).is_err());
    // A nested lambda is its body.
    let nested = Expr::Lambda(Box::new(bin(Greater, r("count"), i(1))), Pos::default());
    assert_eq!(ok(nested), Value::Bool(true));
}

#[test]
fn references_are_listed_once_in_order() {
    let e = bin(
        And,
        bin(Greater, r("b"), r("a")),
        bin(
            And,
            bin(Less, r("b"), r("time")),
            call("isPresent", vec![r("c")]),
        ),
    );
    assert_eq!(
        Lambda::compile(&e).unwrap().references(),
        vec!["b", "a", "time", "c"]
    );
}

#[test]
fn lambdas_are_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Lambda>();
    let l = Lambda::compile(&bin(Greater, r("count"), i(1))).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || l.eval_bool(&point(), &mut l.new_state()).unwrap())
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

/// A topic-handler style scope: alert event data instead of a point.
struct AlertScope {
    level: i64,
    changed: bool,
}

impl Scope for AlertScope {
    fn field(&self, _: &str) -> Option<ValueRef<'_>> {
        None
    }
    fn tag(&self, name: &str) -> Option<&str> {
        (name == "host").then_some("serverA")
    }
    fn time(&self) -> i64 {
        0
    }
    fn call(&self, name: &str, _args: &[Value]) -> Result<Value, String> {
        match name {
            "level" => Ok(Value::Int(self.level)),
            "changed" => Ok(Value::Bool(self.changed)),
            _ => Err(format!("undefined function: {name:?}")),
        }
    }
}

#[test]
fn match_lambdas_extend_functions_and_identifiers() {
    let funcs = FunctionSet::builtins()
        .with_scope_function("level", 0..=0)
        .with_scope_function("changed", 0..=0)
        .with_identifier("OK", Value::Int(0))
        .with_identifier("CRITICAL", Value::Int(3))
        .with_function("double", 1..=1, |args: &[Value]| match args {
            [Value::Int(n)] => Ok(Value::Int(n * 2)),
            _ => Err("double expects an int".to_string()),
        });
    let e = bin(
        And,
        bin(Eq, call("changed", vec![]), t(true)),
        bin(GreaterEq, call("level", vec![]), ident("CRITICAL")),
    );
    let l = Lambda::compile_with(&e, &funcs).unwrap();
    let mut st = l.new_state();
    assert!(
        l.eval_bool(
            &AlertScope {
                level: 3,
                changed: true
            },
            &mut st
        )
        .unwrap()
    );
    assert!(
        !l.eval_bool(
            &AlertScope {
                level: 0,
                changed: true
            },
            &mut st
        )
        .unwrap()
    );
    assert!(
        !l.eval_bool(
            &AlertScope {
                level: 3,
                changed: false
            },
            &mut st
        )
        .unwrap()
    );
    // Tags still resolve; host functions are called with evaluated arguments.
    let e = bin(Eq, call("double", vec![call("level", vec![])]), i(4));
    let l = Lambda::compile_with(&e, &funcs).unwrap();
    assert!(
        l.eval_bool(
            &AlertScope {
                level: 2,
                changed: false
            },
            &mut l.new_state()
        )
        .unwrap()
    );
    let e = call("double", vec![s("x")]);
    let l = Lambda::compile_with(&e, &funcs).unwrap();
    assert_eq!(
        l.eval(
            &AlertScope {
                level: 2,
                changed: false
            },
            &mut l.new_state()
        )
        .unwrap_err()
        .to_string(),
        r#"error calling "double": double expects an int"#
    );
    // Without the extension these are compile errors.
    assert!(Lambda::compile(&call("level", vec![])).is_err());
    assert!(Lambda::compile_with(&call("level", vec![i(1)]), &funcs).is_err());
    // A point scope has no scope functions: a clear error.
    let l = Lambda::compile_with(&call("level", vec![]), &funcs).unwrap();
    assert_eq!(
        l.eval(&point(), &mut l.new_state())
            .unwrap_err()
            .to_string(),
        r#"error calling "level": undefined function: "level""#
    );
    let _ = Arc::new(funcs);
}
