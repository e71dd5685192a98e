//! Invalid scripts, each with the exact error (message, line and column) expected.

struct Case {
    name: &'static str,
    script: &'static str,
    error: &'static str,
    line: u32,
    col: u32,
}

const CASES: &[Case] = &[
    Case {
        name: "misspelled property",
        script: r#"stream
    |from()
        .measurement('cpu')
    |window()
        .perod(10s)
"#,
        error: r#"line 5 char 10: no property method "perod" on window2 (did you mean "period"?)"#,
        line: 5,
        col: 10,
    },
    Case {
        name: "wrong argument type",
        script: r#"stream
    |from()
    |window()
        .period('10s')
"#,
        error: r#"line 4 char 10: invalid argument 1 to window2.period: expected duration, got string "10s""#,
        line: 4,
        col: 10,
    },
    Case {
        name: "reference instead of string",
        script: r#"stream
    |from()
        .measurement("cpu")
"#,
        error: r#"line 3 char 10: invalid argument 1 to from1.measurement: "cpu" is a field reference, not a string; did you use double quotes instead of single quotes?"#,
        line: 3,
        col: 10,
    },
    Case {
        name: "too many arguments",
        script: r#"stream|from()|window().period(10s, 5s)"#,
        error: r#"line 1 char 24: window2.period takes 1 argument (duration), got 2"#,
        line: 1,
        col: 24,
    },
    Case {
        name: "missing argument",
        script: r#"stream|from()|httpOut()"#,
        error: r#"line 1 char 15: |httpOut() (http_out2) takes 1 argument (string), got 0"#,
        line: 1,
        col: 15,
    },
    Case {
        name: "unknown chaining method",
        script: r#"stream|frm()"#,
        error: r#"line 1 char 8: no chaining method "frm" on stream0 (did you mean "from"?)"#,
        line: 1,
        col: 8,
    },
    Case {
        name: "property used as chaining method",
        script: r#"stream
    |from()
    |measurement('cpu')
"#,
        error: r#"line 3 char 6: no chaining method "measurement" on from1, but property does exist. Use '.' operator instead: 'node.measurement(..)'."#,
        line: 3,
        col: 6,
    },
    Case {
        name: "chaining method used as property",
        script: r#"stream
    |from()
        .window()
"#,
        error: r#"line 3 char 10: no property method "window" on from1, but chaining method does exist. Use '|' operator instead: 'node|window(..)'."#,
        line: 3,
        col: 10,
    },
    Case {
        name: "chaining method not allowed on stream",
        script: r#"stream|window()"#,
        error: r#"line 1 char 8: no chaining method "window" on stream0: stream can be followed by |from()"#,
        line: 1,
        col: 8,
    },
    Case {
        name: "chaining after an output node",
        script: r#"stream|from()|influxDBOut()|log()"#,
        error: r#"line 1 char 29: no chaining method "log" on influxdb_out2: influxDBOut can be followed by only |stats() and |deadman()"#,
        line: 1,
        col: 29,
    },
    Case {
        name: "handler property without handler",
        script: r#"stream|from()|alert().channel('#a')"#,
        error: r#"line 1 char 23: no property method "channel" on alert2: it is a property of the .slack() handler and must follow it"#,
        line: 1,
        col: 23,
    },
    Case {
        name: "misspelled handler property",
        script: r#"stream|from()|alert().slack().chanel('#a')"#,
        error: r#"line 1 char 31: no property method "chanel" on alert2 (did you mean "channel"?)"#,
        line: 1,
        col: 31,
    },
    Case {
        name: "mixed stream and batch",
        script: r#"stream|from()
batch|query('SELECT 1')
"#,
        error: r#"line 2 char 1: invalid task type: this chain starts with batch but the one at line 1 char 1 starts with stream; a task is either stream or batch"#,
        line: 2,
        col: 1,
    },
    Case {
        name: "no source",
        script: r#"var x = 5
"#,
        error: r#"line 1 char 1: invalid task type: no chain starts with stream or batch"#,
        line: 1,
        col: 1,
    },
    Case {
        name: "redefined var",
        script: r#"var x = 5
var x = 6
stream|from()
"#,
        error: r#"line 2 char 1: attempted to redefine x, vars are immutable"#,
        line: 2,
        col: 1,
    },
    Case {
        name: "missing template var",
        script: r#"var crit lambda
stream|from()|alert().crit(crit)
"#,
        error: r#"line 1 char 1: missing value for var "crit"."#,
        line: 1,
        col: 1,
    },
    Case {
        name: "unknown var type",
        script: r#"var t integer
stream|from()
"#,
        error: r#"line 1 char 7: invalid var type "integer"; expected one of int, float, bool, string, regex, duration, lambda, list, star"#,
        line: 1,
        col: 7,
    },
    Case {
        name: "undefined var in lambda",
        script: r#"stream|from().where(lambda: "a" > y)"#,
        error: r#"line 1 char 35: name "y" is undefined. Names in scope: stream"#,
        line: 1,
        col: 35,
    },
    Case {
        name: "undefined var",
        script: r#"stream|from()|window().period(p)"#,
        error: r#"line 1 char 31: name "p" is undefined. Names in scope: stream"#,
        line: 1,
        col: 31,
    },
    Case {
        name: "join without as",
        script: r#"var a = stream|from().measurement('a')
var b = stream|from().measurement('b')
a|join(b)
"#,
        error: r#"line 3 char 3: join3: a call to join.as() is required to specify the output stream prefixes, one per joined node (2 nodes, 0 names)"#,
        line: 3,
        col: 3,
    },
    Case {
        name: "eval names mismatch",
        script: r#"stream|from()|eval(lambda: 1, lambda: 2).as('a')"#,
        error: r#"line 1 char 42: eval2: must provide one name per expression via the 'As' property (2 expressions, 1 names)"#,
        line: 1,
        col: 42,
    },
    Case {
        name: "flapping out of range",
        script: r#"stream|from()|alert().flapping(0.5, 1.5)"#,
        error: r#"line 1 char 23: alert flap thresholds are percentages and should be between 0 and 1, got low: 0.5, high: 1.5"#,
        line: 1,
        col: 23,
    },
    Case {
        name: "mismatched constant types",
        script: r#"var x = 1 + 2.0
stream|from()
"#,
        error: r#"line 1 char 11: mismatched type to binary operator. got int + float. see bool(), int(), float(), string(), duration()"#,
        line: 1,
        col: 11,
    },
    Case {
        name: "property without parentheses",
        script: r#"var s = stream|from()
s.measurement
"#,
        error: r#"line 2 char 3: "measurement" needs parentheses: write '.measurement()'"#,
        line: 2,
        col: 3,
    },
    Case {
        name: "missing operand",
        script: r#"stream|from().where(lambda: "a" > )"#,
        error: r#"parser: unexpected ) line 1 char 35 in "da: \"a\" > )". expected: "number","string","duration","identifier","TRUE","FALSE","==","(","-","!""#,
        line: 1,
        col: 35,
    },
    Case {
        name: "unclosed call",
        script: r#"stream|from(
.measurement('a')
"#,
        error: r#"parser: unexpected . line 2 char 1 in ".measureme". expected: "number","string","duration","identifier","TRUE","FALSE","==","(","-","!""#,
        line: 2,
        col: 1,
    },
    Case {
        name: "unterminated string",
        script: r#"var a = 'unterminated
stream|from()
"#,
        error: r#"parser: unexpected unterminated string line 1 char 9 in "var a = 'untermina". expected: "number","string","duration","identifier","TRUE","FALSE","==","(","-","!""#,
        line: 1,
        col: 9,
    },
    Case {
        name: "unterminated reference",
        script: r#"stream|from().where(lambda: "a > 1)"#,
        error: r#"parser: unexpected unterminated field reference line 1 char 29 in "e(lambda: \"a > 1)". expected: "number","string","duration","identifier","TRUE","FALSE","==","(","-","!""#,
        line: 1,
        col: 29,
    },
    Case {
        name: "unterminated regex",
        script: r#"stream|from().where(lambda: "a" =~ /abc)"#,
        error: r#"parser: unexpected unterminated regex line 1 char 36 in "a: \"a\" =~ /abc)". expected: "number","string","duration","identifier","TRUE","FALSE","==","(","-","!""#,
        line: 1,
        col: 36,
    },
    Case {
        name: "bad character",
        script: r#"stream|from() # comment"#,
        error: r#"parser: unexpected unknown state, last char: '#' line 1 char 15 in "am|from() # comment". expected: "number","string","duration","identifier","TRUE","FALSE","==","(","-","!""#,
        line: 1,
        col: 15,
    },
    Case {
        name: "assignment without var",
        script: r#"x = 5"#,
        error: r#"parser: unexpected = line 1 char 3 in "x = 5". expected: "number","string","duration","identifier","TRUE","FALSE","==","(","-","!""#,
        line: 1,
        col: 3,
    },
    Case {
        name: "octal with 9",
        script: r#"var x = 09
stream|from()
"#,
        error: r#"parser: illegal number syntax: "09" at line 1 char 9"#,
        line: 1,
        col: 9,
    },
    Case {
        name: "decimal duration",
        script: r#"var x = 1.5s
stream|from()
"#,
        error: r#"parser: invalid number or duration "1.5s": a duration is an integer followed by one unit of u, µ, ms, s, m, h, d, w (1500ms, not 1.5s) at line 1 char 9"#,
        line: 1,
        col: 9,
    },
    Case {
        name: "two decimal points",
        script: r#"var x = 1.2.3
stream|from()
"#,
        error: r#"parser: unexpected multiple decimals in number line 1 char 9 in "var x = 1.2.3". expected: "number","string","duration","identifier","TRUE","FALSE","==","(","-","!""#,
        line: 1,
        col: 9,
    },
    Case {
        name: "invalid regex",
        script: r#"stream|from().where(lambda: "a" =~ /[a/)"#,
        error: r#"parser: invalid regex /[a/: error parsing regexp: regex parse error: [a ^ error: unclosed character class at line 1 char 36"#,
        line: 1,
        col: 36,
    },
    Case {
        name: "list of numbers",
        script: r#"stream|from().groupBy([1, 2])"#,
        error: r#"parser: unexpected number line 1 char 24 in ".groupBy([1, 2])". expected: "identifier","string","*""#,
        line: 1,
        col: 24,
    },
    Case {
        name: "dbrp without rp",
        script: r#"dbrp "telegraf"
stream|from()
"#,
        error: r#"parser: unexpected identifier line 2 char 1 in "stream|fro". expected: ".""#,
        line: 2,
        col: 1,
    },
    Case {
        name: "global function",
        script: r#"var x = foo(1)
stream|from()
"#,
        error: r#"line 1 char 9: no global function "foo" defined"#,
        line: 1,
        col: 9,
    },
    Case {
        name: "node in lambda",
        script: r#"var s = stream|from()
stream|from().where(lambda: s)
"#,
        error: r#"line 2 char 29: s is a node and cannot be used in a lambda"#,
        line: 2,
        col: 29,
    },
];

#[test]
fn invalid_scripts_fail_with_the_exact_error_and_position() {
    let mut failures = Vec::new();
    for case in CASES {
        match tickscript::compile(case.script, &tickscript::Vars::default()) {
            Ok(_) => failures.push(format!("{}: compiled", case.name)),
            Err(e) => {
                if e.to_string() != case.error || (e.line(), e.col()) != (case.line, case.col) {
                    failures.push(format!(
                        "{}:\n  expected {} ({}:{})\n  got      {} ({}:{})",
                        case.name,
                        case.error,
                        case.line,
                        case.col,
                        e,
                        e.line(),
                        e.col()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn syntax_errors_are_reported_by_parse_and_format_too() {
    for case in CASES.iter().filter(|c| c.error.starts_with("parser: ")) {
        let e = tickscript::parse(case.script).unwrap_err();
        assert_eq!(e.to_string(), case.error, "{}", case.name);
        assert_eq!(
            tickscript::format(case.script).unwrap_err(),
            e,
            "{}",
            case.name
        );
    }
}
