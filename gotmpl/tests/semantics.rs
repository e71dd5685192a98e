//! Go text/template and html/template behaviour, case by case. Expected outputs are what Go
//! 1.22 prints for the same template and data.

use gotmpl::{FuncMap, Kind, Map, Struct, Template, Value};

fn data() -> Value {
    Struct::new("main.data")
        .with("Name", "cpu")
        .with("Level", "CRITICAL")
        .with(
            "Tags",
            Map::strings([("host", "serverA"), ("region", "west"), ("az", "1b")]),
        )
        .with("Empty", Map::strings(Vec::<(String, String)>::new()))
        .with(
            "Fields",
            Map::from_entries(
                Kind::Any,
                [
                    ("value", Value::Float(72.5)),
                    ("count", Value::Int(10)),
                    ("ok", Value::Bool(true)),
                    ("null", Value::Nil),
                ],
            ),
        )
        .with(
            "List",
            Value::Slice(vec!["a".into(), "b".into(), "c".into()]),
        )
        .with("Floats", Value::Slice(vec![]))
        .into()
}

fn run(src: &str) -> String {
    run_with(src, &data())
}

fn run_with(src: &str, v: &Value) -> String {
    let t = Template::parse("t", src).unwrap_or_else(|e| panic!("parse {src:?}: {e}"));
    t.execute(v).unwrap_or_else(|e| panic!("exec {src:?}: {e}"))
}

fn html(src: &str) -> String {
    Template::parse_html("t", src)
        .unwrap()
        .execute(&data())
        .unwrap()
}

fn exec_err(src: &str) -> String {
    Template::parse("t", src)
        .unwrap_or_else(|e| panic!("parse {src:?}: {e}"))
        .execute(&data())
        .unwrap_err()
        .to_string()
}

fn parse_err(src: &str) -> String {
    Template::parse("t", src).unwrap_err().to_string()
}

#[test]
fn float_formatting_matches_go_percent_v() {
    let table = [
        (-3.25, "-3.25"),
        (1e20, "1e+20"),
        (1234567.0, "1.234567e+06"),
        (1.5e-7, "1.5e-07"),
        (123456.0, "123456"),
        (10.0, "10"),
        (0.1, "0.1"),
        (100.0, "100"),
        (0.000123, "0.000123"),
    ];
    for (f, want) in table {
        assert_eq!(
            run_with("{{ . }}", &Value::Float(f)),
            want,
            "{{{{ . }}}} of {f:e}"
        );
        let d = Value::Map(Map::from_entries(Kind::Any, [("v", Value::Float(f))]));
        assert_eq!(run_with(r#"{{ index . "v" }}"#, &d), want);
        assert_eq!(run_with(r#"{{ print .v }}"#, &d), want);
    }
}

#[test]
fn missing_values_follow_go() {
    // map[string]string: index gives the zero value, field syntax gives no value.
    assert_eq!(run(r#"[{{ index .Tags "missing" }}]"#), "[]");
    assert_eq!(run("[{{ .Tags.missing }}]"), "[<no value>]");
    // map[string]interface{}: both give no value (nil interfaces are dug out of pipelines).
    assert_eq!(run(r#"[{{ index .Fields "missing" }}]"#), "[<no value>]");
    assert_eq!(run("[{{ .Fields.missing }}]"), "[<no value>]");
    assert_eq!(run("[{{ .Fields.null }}]"), "[<no value>]");
    // ...but a nil inside a printed map is <nil>.
    assert_eq!(
        run("{{ .Fields }}"),
        "map[count:10 null:<nil> ok:true value:72.5]"
    );
    assert_eq!(
        run(r#"{{ printf "%s|%v" .Tags.nope .Fields.nope }}"#),
        "%!s(<nil>)|<nil>"
    );
    assert_eq!(run(r#"{{ if .Tags.nope }}y{{ else }}n{{ end }}"#), "n");
    assert_eq!(run(r#"{{ .Tags.nope.deeper }}"#), "<no value>");
    assert_eq!(run_with("{{ . }}", &Value::Nil), "<no value>");
    // html/template prints nothing for missing values.
    assert_eq!(html("[{{ .Tags.missing }}{{ index .Fields \"x\" }}]"), "[]");
}

#[test]
fn range_over_maps_is_sorted_and_supports_else_break_continue() {
    assert_eq!(
        run("{{ range $k, $v := .Tags }}{{ $k }}={{ $v }},{{ end }}"),
        "az=1b,host=serverA,region=west,"
    );
    assert_eq!(
        run("{{ range .Tags }}{{ . }} {{ end }}"),
        "1b serverA west "
    );
    assert_eq!(
        run("{{ range $v := .Tags }}{{ $v }};{{ end }}"),
        "1b;serverA;west;"
    );
    assert_eq!(run("{{ range .Empty }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        run("{{ range .Tags.nothing }}x{{ else }}none{{ end }}"),
        "none"
    );
}

#[test]
fn range_over_slices_and_ints() {
    assert_eq!(
        run("{{ range $i, $e := .List }}{{ $i }}:{{ $e }} {{ end }}"),
        "0:a 1:b 2:c "
    );
    assert_eq!(
        run(r#"{{ range .List }}{{ if eq . "b" }}{{ continue }}{{ end }}{{ . }}{{ end }}"#),
        "ac"
    );
    assert_eq!(
        run(r#"{{ range .List }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}"#),
        "a"
    );
    assert_eq!(run("{{ range .Floats }}x{{ else }}empty{{ end }}"), "empty");
    assert_eq!(run("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(run("{{ range $x := .List }}{{ end }}{{ $.Name }}"), "cpu");
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(run("a  {{- .Name -}}  b"), "acpub");
    assert_eq!(run("a\n  {{- /* comment */ -}}\n  b"), "ab");
    assert_eq!(run("x {{/* c */}} y"), "x  y");
    assert_eq!(run("{{- .Name }} {{ .Level -}}\n"), "cpu CRITICAL");
    assert_eq!(run("{{ -3 }}|{{-3}}"), "-3|-3");
}

#[test]
fn pipelines_and_parentheses() {
    assert_eq!(run(r#"{{ .Name | printf "%s!" }}"#), "cpu!");
    assert_eq!(
        run(r#"{{ index .Fields "value" | printf "%.1f" | printf "[%s]" }}"#),
        "[72.5]"
    );
    assert_eq!(
        run(r#"{{ printf "%s@%s" (index .Tags "host") .Name }}"#),
        "serverA@cpu"
    );
    assert_eq!(run(r#"{{ (index .Tags "host") }}"#), "serverA");
    assert_eq!(run(r#"{{ len (slice .List 1) }}"#), "2");
    assert_eq!(run(r#"{{ (slice .List 1 2) }}"#), "[b]");
}

#[test]
fn conditionals_and_comparisons() {
    let t = r#"{{ if gt (index .Fields "value") 80.0 }}hot{{ else if gt (index .Fields "value") 50.0 }}warm{{ else }}cold{{ end }}"#;
    assert_eq!(run(t), "warm");
    assert_eq!(
        run(r#"{{ if eq .Level "OK" "CRITICAL" }}bad{{ end }}"#),
        "bad"
    );
    assert_eq!(
        run(r#"{{ ne .Level "OK" }} {{ lt 1 2 }} {{ le 2 2 }} {{ ge "a" "b" }}"#),
        "true true true false"
    );
    assert_eq!(run(r#"{{ eq (index .Fields "count") 10 }}"#), "true");
    assert_eq!(
        run(r#"{{ and .Name .Level }} {{ or "" "x" }} {{ not .Name }} {{ and 0 .X }}"#),
        "CRITICAL x false 0"
    );
    assert_eq!(
        run(r#"{{ with .Tags.host }}{{ . }}{{ else }}none{{ end }}"#),
        "serverA"
    );
    assert_eq!(
        run(r#"{{ with .Tags.nope }}{{ . }}{{ else with .Name }}{{ . }}{{ end }}"#),
        "cpu"
    );
    assert_eq!(
        run(r#"{{ if and (eq .Name "cpu") (index .Fields "ok") }}y{{ end }}"#),
        "y"
    );
}

#[test]
fn variables() {
    assert_eq!(
        run(r#"{{ $x := index .Tags "host" }}{{ $x }}{{ $x = "b" }}{{ $x }}"#),
        "serverAb"
    );
    assert_eq!(
        run(r#"{{ with .Tags }}{{ $.Name }}/{{ .host }}{{ end }}"#),
        "cpu/serverA"
    );
    assert_eq!(run(r#"{{ if true }}{{ $y := 1 }}{{ $y }}{{ end }}"#), "1");
}

#[test]
fn define_template_block() {
    assert_eq!(
        run(r#"{{ define "T" }}<{{ . }}>{{ end }}{{ template "T" .Name }}{{ template "T" }}"#),
        "<cpu><<no value>>"
    );
    assert_eq!(
        run(r#"{{ block "B" .Level }}[{{ . }}]{{ end }}"#),
        "[CRITICAL]"
    );
}

#[test]
fn builtin_functions() {
    assert_eq!(
        run(r#"{{ html "<a href='x'>&</a>" }}"#),
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(run(r#"{{ js "it's <b>" }}"#), r"it\'s \u003Cb\u003E");
    assert_eq!(run(r#"{{ urlquery "a b&c" }}"#), "a+b%26c");
    assert_eq!(
        run(r#"{{ len .Tags }} {{ len .Name }} {{ len .List }}"#),
        "3 3 3"
    );
    assert_eq!(run(r#"{{ index .List 1 }} {{ slice .Name 1 }}"#), "b pu");
    assert_eq!(run(r#"{{ print 1 2 "a" 3 }}"#), "1 2a3");
    assert_eq!(run(r#"{{ println .Name 1 }}"#), "cpu 1\n");
    assert_eq!(
        run(r#"{{ printf "%5.1f|%-4d|%q|%x" 3.14159 7 "hi" 255 }}"#),
        "  3.1|7   |\"hi\"|ff"
    );
    assert_eq!(run(r#"{{ printf "%d" .Name }}"#), "%!d(string=cpu)");
    assert_eq!(
        run(r#"{{ 'a' }} {{ 0x10 }} {{ 1e3 }} {{ true }} {{ "s" }} {{ `raw` }}"#),
        "97 16 1000 true s raw"
    );
}

#[test]
fn caller_functions_and_json() {
    let t = Template::builder("t")
        .funcs(&FuncMap::kapacitor())
        .func("upper", |args| {
            Ok(Value::Str(
                args.first()
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_uppercase(),
            ))
        })
        .parse(r#"{{ .Name | upper }} {{ jsonCompact .Tags }} {{ json .List }}"#)
        .unwrap();
    assert_eq!(
        t.execute(&data()).unwrap(),
        "CPU {\"az\":\"1b\",\"host\":\"serverA\",\"region\":\"west\"} [\"a\",\"b\",\"c\"]\n"
    );
    // Without registering them, json is not a function (as in Kapacitor's text templates).
    assert_eq!(
        parse_err("{{ json . }}"),
        r#"template: t:1: function "json" not defined"#
    );
}

#[test]
fn html_mode_escapes_every_interpolation() {
    let v: Value = Struct::new("main.d")
        .with("S", "a<b>&'\"+\0")
        .with("N", Value::Float(1.5))
        .into();
    let out = Template::parse_html("d", "<p>{{ .S }}</p>{{ .N }}{{ .S | html }}")
        .unwrap()
        .execute(&v)
        .unwrap();
    assert_eq!(
        out,
        "<p>a&lt;b&gt;&amp;&#39;&#34;&#43;\u{fffd}</p>1.5a&lt;b&gt;&amp;&#39;&#34;+\u{fffd}"
    );
    // html/template drops comments from the template text; text/template keeps them.
    assert_eq!(html("a<!--x-->b{{ if true }}<!-- y -->c{{ end }}"), "abc");
    assert_eq!(run("a<!--x-->b"), "a<!--x-->b");
    // json output is escaped too, which is why Kapacitor's default details show &#34;.
    assert_eq!(
        html(r#"{{ json .Tags }}"#),
        "{&#34;az&#34;:&#34;1b&#34;,&#34;host&#34;:&#34;serverA&#34;,&#34;region&#34;:&#34;west&#34;}\n"
    );
}

#[test]
fn parse_errors_match_go() {
    assert_eq!(parse_err("{{ .Name "), "template: t:1: unclosed action");
    assert_eq!(
        parse_err("{{ .Name }"),
        r#"template: t:1: unexpected "}" in operand"#
    );
    assert_eq!(
        parse_err("{{ foo }}"),
        r#"template: t:1: function "foo" not defined"#
    );
    assert_eq!(parse_err("{{ if .X }}"), "template: t:1: unexpected EOF");
    assert_eq!(parse_err("{{ end }}"), "template: t:1: unexpected {{end}}");
    assert_eq!(
        parse_err("{{ $x }}"),
        r#"template: t:1: undefined variable "$x""#
    );
    assert_eq!(
        parse_err("a\nb\n{{ bad }}"),
        r#"template: t:3: function "bad" not defined"#
    );
    assert_eq!(
        parse_err("{{ break }}"),
        "template: t:1: {{break}} outside {{range}}"
    );
    assert_eq!(
        parse_err(r#"{{ printf "x" | 3 }}"#),
        "template: t:1: non executable command in pipeline stage 2"
    );
    assert_eq!(
        parse_err("{{ if }}{{ end }}"),
        "template: t:1: missing value for if"
    );
    assert_eq!(
        parse_err("{{ 3.x }}"),
        r#"template: t:1: bad number syntax: "3.x""#
    );
    assert_eq!(
        parse_err("{{ range .X }}{{ else }}{{ else }}{{ end }}"),
        "template: t:1: expected end; found {{else}}"
    );
    assert_eq!(
        parse_err("{{ \"x\".y }}"),
        r#"template: t:1: unexpected . after term "\"x\"""#
    );
    let e = Template::parse("id", "ok\n  {{ foo }}").unwrap_err();
    assert_eq!((e.line(), e.column()), (2, 6));
}

#[test]
fn exec_errors_match_go() {
    assert_eq!(
        exec_err(r#"{{ if gt (index .Fields "value") 80 }}x{{ end }}"#),
        r#"template: t:1:6: executing "t" at <gt (index .Fields "value") 80>: error calling gt: incompatible types for comparison"#
    );
    assert_eq!(
        exec_err("{{ nil }}"),
        r#"template: t:1:3: executing "t" at <nil>: nil is not a command"#
    );
    assert_eq!(
        exec_err("{{ .Name 1 }}"),
        r#"template: t:1:3: executing "t" at <.Name>: Name has arguments but cannot be invoked as function"#
    );
    assert_eq!(
        exec_err(r#"{{ template "nope" }}"#),
        r#"template: t:1:12: executing "t" at <{{template "nope"}}>: template "nope" not defined"#
    );
    assert_eq!(
        exec_err("{{ index .List 5 }}"),
        r#"template: t:1:3: executing "t" at <index .List 5>: error calling index: index out of range: 5"#
    );
    assert_eq!(
        exec_err("{{ eq }}"),
        r#"template: t:1:3: executing "t" at <eq>: wrong number of args for eq: want at least 1 got 0"#
    );
    assert_eq!(
        exec_err("{{ printf 3 }}"),
        r#"template: t:1:10: executing "t" at <3>: expected string; found 3"#
    );
    assert_eq!(
        exec_err("{{ range .Name }}{{ end }}"),
        r#"template: t:1:9: executing "t" at <.Name>: range can't iterate over cpu"#
    );
    assert!(
        exec_err("{{ lt .List 1 }}").ends_with("error calling lt: invalid type for comparison")
    );
    assert!(exec_err(r#"{{ index .Tags 1 }}"#).ends_with("value has type int64; should be string"));
}

#[test]
fn recursion_is_bounded_without_overflowing_a_small_stack() {
    // Tokio worker threads have 2 MiB stacks; runaway recursion must be an error there too.
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            Template::parse("t", r#"{{ define "r" }}{{ if true }}{{ with . }}{{ template "r" . }}{{ end }}{{ end }}{{ end }}{{ template "r" . }}"#)
                .unwrap()
                .execute(&Value::Int(1))
                .unwrap_err()
                .to_string()
        })
        .unwrap();
    let err = h.join().unwrap();
    assert!(err.contains("exceeded maximum template depth"), "{err}");
}

#[test]
fn execute_to_appends_and_restores_on_error() {
    let ok = Template::parse("t", "{{ .Name }}").unwrap();
    let bad = Template::parse("t", "x{{ .Nope }}").unwrap();
    let mut buf = String::from("> ");
    ok.execute_to(&mut buf, &data()).unwrap();
    assert_eq!(buf, "> cpu");
    assert!(bad.execute_to(&mut buf, &data()).is_err());
    assert_eq!(buf, "> cpu");
}
