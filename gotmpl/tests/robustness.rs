//! Random inputs: parsing and executing never panic, and number formatting round-trips.

use gotmpl::{FuncMap, Kind, Map, Struct, Template, Value, format_value, sprintf};
use proptest::prelude::*;

const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    "{{/*",
    "*/}}",
    " ",
    "\n",
    ".",
    "$",
    "$x",
    "$x := ",
    "$i, $e := ",
    " = ",
    ",",
    "|",
    "(",
    ")",
    "\"",
    "\"%d %s %v %5.2f %q %x %!\"",
    "`raw`",
    "'a'",
    "'",
    "if ",
    "else ",
    "else if ",
    "end",
    "range ",
    "with ",
    "define \"d\"",
    "template \"d\" .",
    "block \"b\" .",
    "break",
    "continue",
    ".Name",
    ".Tags",
    ".Tags.host",
    ".Fields.v",
    ".List",
    ".Time",
    ".Dur",
    ".Time.Format \"2006\"",
    ".Dur.Seconds",
    "index",
    "slice",
    "len",
    "printf",
    "print",
    "println",
    "html",
    "js",
    "urlquery",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "json",
    "jsonCompact",
    "nil",
    "true",
    "1",
    "-1",
    "0x1F",
    "1e400",
    "1.5",
    "-",
    "99999999999999999999",
    "é",
    "\u{0}",
    "x",
    "text ",
];

fn data() -> Value {
    Struct::new("main.d")
        .with("Name", "cpu")
        .with("Tags", Map::strings([("host", "a"), ("z", "<&>")]))
        .with(
            "Fields",
            Map::from_entries(Kind::Any, [("v", Value::Float(1.5)), ("n", Value::Nil)]),
        )
        .with("List", Value::Slice(vec![1.into(), "s".into(), Value::Nil]))
        .with("Time", Value::Time(i64::MIN))
        .with("Dur", Value::Duration(i64::MIN))
        .into()
}

fn template_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat())
}

const OPERANDS: &[&str] = &[
    ".Name",
    ".Tags",
    ".Tags.host",
    ".Tags.nope",
    ".Fields.v",
    ".Fields.n",
    ".List",
    ".",
    "$",
    "1",
    "-2",
    "1.5",
    "\"s\"",
    "nil",
    "true",
    ".Time",
    ".Dur",
    "(index .List 0)",
    "(len .Tags)",
];
const FUNCS: &[&str] = &[
    "index",
    "len",
    "slice",
    "eq",
    "ne",
    "lt",
    "gt",
    "le",
    "ge",
    "and",
    "or",
    "not",
    "printf \"%v\"",
    "printf \"%d|%s|%6.2f\"",
    "print",
    "println",
    "html",
    "js",
    "urlquery",
    "json",
    "jsonCompact",
    ".Time.Format",
    ".Dur.Round",
];

/// Well-formed actions, so that execution paths (not just parse errors) get exercised.
fn structured_template() -> impl Strategy<Value = String> {
    let operand = prop::sample::select(OPERANDS).prop_map(str::to_owned);
    let command = (
        prop::sample::select(FUNCS),
        prop::collection::vec(operand.clone(), 0..3),
    )
        .prop_map(|(f, args)| format!("{f} {}", args.join(" ")));
    let stage = prop_oneof![command, operand];
    let pipeline = prop::collection::vec(stage, 1..4).prop_map(|v| v.join(" | "));
    let action = (pipeline, 0..5u8).prop_map(|(p, kind)| match kind {
        0 => format!("{{{{ if {p} }}}}y{{{{ else }}}}n{{{{ end }}}}"),
        1 => format!("{{{{ range $i, $e := {p} }}}}{{{{ $i }}}}={{{{ $e }}}};{{{{ end }}}}"),
        2 => format!("{{{{ with {p} }}}}{{{{ . }}}}{{{{ end }}}}"),
        3 => format!("{{{{ $v := {p} }}}}{{{{ $v }}}}"),
        _ => format!("{{{{ {p} }}}}"),
    });
    prop::collection::vec(action, 1..4).prop_map(|v| v.join("-"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_templates_never_panic(src in template_text(), html in any::<bool>()) {
        let t = Template::builder("p").html(html).funcs(&FuncMap::kapacitor()).parse(&src);
        if let Ok(t) = t {
            let _ = t.execute(&data());
            let _ = t.execute(&Value::Nil);
        } else if let Err(e) = t {
            // Parse errors always carry Go's prefix and a line inside the text.
            let msg = e.to_string();
            prop_assert!(msg.starts_with("template: p:"), "{}", msg);
            prop_assert!(e.line() >= 1 && e.line() <= src.matches('\n').count() + 1);
        }
    }

    #[test]
    fn structured_templates_execute_without_panicking(src in structured_template(), html in any::<bool>()) {
        let t = Template::builder("p").html(html).funcs(&FuncMap::kapacitor()).parse(&src);
        // Literal later stages (`x | 1`) are parse errors in Go too.
        let t = match t {
            Ok(t) => t,
            Err(e) => {
                prop_assert!(e.to_string().starts_with("template: p:1: "), "{}", e);
                return Ok(());
            }
        };
        match t.execute(&data()) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().starts_with("template: p:1:"), "{}", e),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,60}") {
        if let Ok(t) = Template::parse("p", &src) {
            let _ = t.execute(&data());
        }
    }

    #[test]
    fn random_printf_formats_never_panic(fmt in "[%0-9.+# *a-zA-Z!-]{0,20}") {
        let args = [Value::Int(-3), Value::Float(2.5), Value::Str("s".into()), Value::Nil];
        let refs: Vec<&Value> = args.iter().collect();
        let _ = sprintf(&fmt, &refs);
    }

    #[test]
    fn percent_v_of_floats_round_trips(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        prop_assume!(f.is_finite());
        let s = format_value(&Value::Float(f));
        let back: f64 = s.parse().unwrap();
        prop_assert_eq!(back.to_bits(), f.to_bits(), "{}", s);
        // Go's %v uses the exponent form exactly when the decimal exponent is < -4 or >= 6.
        if let Some((_, exp)) = s.split_once('e') {
            let e: i32 = exp.parse().unwrap();
            prop_assert!(!(-4..6).contains(&e), "{}", s);
            prop_assert!(exp.len() >= 3, "two exponent digits and a sign: {}", s);
        } else if f != 0.0 {
            let e = f.abs().log10().floor() as i32;
            prop_assert!((-5..7).contains(&e), "{}", s);
        }
    }
}
