//! A subset of Go's `text/template` and `html/template`, with Go's value formatting, for
//! Kapacitor alert templates (`.id()`, `.message()`, `.details()`) and handler templates.
//!
//! ```
//! use gotmpl::{Map, Struct, Template, Value};
//!
//! let tmpl = Template::parse("id", r#"kapacitor/{{ .Name }}/{{ index .Tags "host" }}"#).unwrap();
//! let data = Struct::new("kapacitor.idInfo")
//!     .with("Name", "cpu")
//!     .with("Tags", Map::strings([("host", "serverA")]));
//! assert_eq!(tmpl.execute(&data.into()).unwrap(), "kapacitor/cpu/serverA");
//! ```
//!
//! What is Go-compatible: the template language (actions, trim markers, comments, pipelines,
//! variables, `if`/`else if`/`range`/`with`/`break`/`continue`/`define`/`template`/`block`),
//! the builtins (`and or not eq ne lt le gt ge index len slice print printf println html js
//! urlquery`), missing-value semantics (`<no value>` vs. zero values), `fmt` formatting of
//! numbers, times and durations, `encoding/json` output, and error texts.
//!
//! What is simplified: `html/template` escapes every action as HTML text (Go switches escapers
//! by context inside `<script>`, attributes and URLs) and drops only HTML comments that open and
//! close within one text segment; `call`, complex numbers and hex floats are not supported;
//! `printf` has no `%p` or argument indexes; all integers are `int64` (Go says `int` for
//! literals in error texts); execution nesting is capped at [`MAX_EXEC_DEPTH`] (Go: 100000).

mod ast;
mod error;
mod escape;
mod exec;
mod funcs;
mod gofmt;
mod json;
pub mod kapacitor;
mod lex;
mod methods;
mod parse;
mod strconv;
mod template;
mod timefmt;
mod value;

pub use error::{Error, ErrorKind};
pub use exec::MAX_EXEC_DEPTH;
pub use funcs::{Func, FuncMap, FuncResult, json_compact, json_encode};
pub use template::{Builder, Template};
pub use value::{Field, Kind, Map, Struct, Value};

/// Go's `fmt.Sprint` of one value (`%v`), e.g. `1.234567e+06` for a float.
pub fn format_value(v: &Value) -> String {
    let mut s = String::new();
    gofmt::print_value(&mut s, v);
    s
}

/// Go's `fmt.Sprintf` over [`Value`]s.
pub fn sprintf(format: &str, args: &[&Value]) -> String {
    let mut s = String::new();
    gofmt::sprintf(&mut s, format, args);
    s
}

/// Go's `encoding/json` `Marshal` of a value.
pub fn to_json(v: &Value) -> Result<String, String> {
    let mut s = String::new();
    json::marshal(&mut s, v)?;
    Ok(s)
}
