//! A small re-implementation of Go's `flag` package, because Kapacitor's CLI syntax is Go's:
//! single- or double-dash long flags (`-tick f`, `--tick f`, `-tick=f`), booleans that never take
//! the next argument (`-no-reload`, `-no-reload=false`), parsing that stops at the first
//! positional argument or at `--`, and `PrintDefaults`-style usage listings.

use std::collections::HashMap;
use std::fmt;

/// What a flag holds; decides whether it consumes the next argument and how usage prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `flag.String`: one value, the last occurrence wins.
    Str,
    /// `flag.Bool`: no separate value argument; `-name=false` is accepted.
    Bool,
    /// A `flag.Var` that appends every occurrence (Kapacitor's repeatable `-dbrp`).
    Multi,
}

/// Checks a value when the flag is set, like a Go `flag.Value`'s `Set` method.
pub type Validator = fn(&str) -> Result<(), String>;

/// One defined flag.
#[derive(Debug, Clone)]
pub struct FlagDef {
    pub name: &'static str,
    pub kind: FlagKind,
    pub usage: &'static str,
    pub validate: Option<Validator>,
}

impl FlagDef {
    pub const fn string(name: &'static str, usage: &'static str) -> Self {
        FlagDef {
            name,
            kind: FlagKind::Str,
            usage,
            validate: None,
        }
    }

    pub const fn boolean(name: &'static str, usage: &'static str) -> Self {
        FlagDef {
            name,
            kind: FlagKind::Bool,
            usage,
            validate: None,
        }
    }

    pub const fn multi(name: &'static str, usage: &'static str, validate: Validator) -> Self {
        FlagDef {
            name,
            kind: FlagKind::Multi,
            usage,
            validate: Some(validate),
        }
    }
}

/// A set of flags, like Go's `flag.FlagSet`.
#[derive(Debug, Clone)]
pub struct FlagSet {
    defs: Vec<FlagDef>,
}

/// Why parsing stopped with an error. `Display` gives Go's exact message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    /// `-h` or `-help` was given and is not a defined flag.
    Help,
    /// `-`, `---x` or `-=x`.
    BadSyntax(String),
    Undefined(String),
    MissingValue(String),
    InvalidBool {
        name: String,
        value: String,
    },
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Help => write!(f, "flag: help requested"),
            FlagError::BadSyntax(arg) => write!(f, "bad flag syntax: {arg}"),
            FlagError::Undefined(name) => write!(f, "flag provided but not defined: -{name}"),
            FlagError::MissingValue(name) => write!(f, "flag needs an argument: -{name}"),
            FlagError::InvalidBool { name, value } => {
                write!(
                    f,
                    "invalid boolean value {value:?} for -{name}: parse error"
                )
            }
            FlagError::InvalidValue {
                name,
                value,
                reason,
            } => {
                write!(f, "invalid value {value:?} for flag -{name}: {reason}")
            }
        }
    }
}

impl std::error::Error for FlagError {}

/// The result of a successful parse: flag values plus the arguments left after the flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
    /// Positional arguments remaining after flag parsing stopped (Go's `FlagSet.Args()`).
    pub args: Vec<String>,
}

impl Parsed {
    /// The last value given for a string flag, if it was set.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// The value of a string flag or "" (Go's zero value).
    pub fn string_or_empty(&self, name: &str) -> &str {
        self.string(name).unwrap_or("")
    }

    /// A boolean flag's value (false when absent).
    pub fn bool(&self, name: &str) -> bool {
        self.string(name) == Some("true")
    }

    /// Every value given for a repeatable flag, in order.
    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the flag appeared at all.
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl FlagSet {
    pub fn new(defs: Vec<FlagDef>) -> Self {
        FlagSet { defs }
    }

    fn lookup(&self, name: &str) -> Option<&FlagDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// Whether `arg` would be taken as one of this set's flags (or a help request) rather than a
    /// positional argument. Used to tell a task ID that starts with '-' from a flag.
    pub fn is_flag_arg(&self, arg: &str) -> bool {
        let Some(rest) = arg.strip_prefix('-') else {
            return false;
        };
        let rest = rest.strip_prefix('-').unwrap_or(rest);
        let name = rest.split_once('=').map_or(rest, |(n, _)| n);
        self.lookup(name).is_some() || name == "h" || name == "help"
    }

    /// Parses flags from the front of `args` with Go's rules.
    pub fn parse(&self, args: &[String]) -> Result<Parsed, FlagError> {
        let mut parsed = Parsed::default();
        let mut i = 0;
        while i < args.len() {
            let s = args[i].as_str();
            if s.len() < 2 || !s.starts_with('-') {
                break;
            }
            let mut name = &s[1..];
            if let Some(rest) = name.strip_prefix('-') {
                if rest.is_empty() {
                    // "--" ends the flags and is consumed.
                    i += 1;
                    break;
                }
                name = rest;
            }
            if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
                return Err(FlagError::BadSyntax(s.to_string()));
            }
            i += 1;
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (name, None),
            };
            let Some(def) = self.lookup(name) else {
                if name == "help" || name == "h" {
                    return Err(FlagError::Help);
                }
                return Err(FlagError::Undefined(name.to_string()));
            };
            let value = match def.kind {
                FlagKind::Bool => {
                    let raw = inline.unwrap_or("true");
                    match parse_go_bool(raw) {
                        Some(b) => b.to_string(),
                        None => {
                            return Err(FlagError::InvalidBool {
                                name: name.to_string(),
                                value: raw.to_string(),
                            });
                        }
                    }
                }
                FlagKind::Str | FlagKind::Multi => match inline {
                    Some(v) => v.to_string(),
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => return Err(FlagError::MissingValue(name.to_string())),
                },
            };
            if let Some(validate) = def.validate {
                validate(&value).map_err(|reason| FlagError::InvalidValue {
                    name: name.to_string(),
                    value: value.clone(),
                    reason,
                })?;
            }
            parsed.values.entry(def.name).or_default().push(value);
        }
        parsed.args = args[i..].to_vec();
        Ok(parsed)
    }

    /// Go's `FlagSet.PrintDefaults()` output: flags sorted by name, each as
    /// `  -name type` then the usage on a tab-indented line.
    pub fn defaults(&self) -> String {
        let mut defs: Vec<&FlagDef> = self.defs.iter().collect();
        defs.sort_by_key(|d| d.name);
        let mut out = String::new();
        for def in defs {
            let mut line = format!("  -{}", def.name);
            let type_name = match def.kind {
                FlagKind::Str => "string",
                FlagKind::Bool => "",
                FlagKind::Multi => "value",
            };
            if !type_name.is_empty() {
                line.push(' ');
                line.push_str(type_name);
            }
            // Go puts the usage of a one-letter boolean flag on the same line.
            if line.len() <= 4 {
                line.push('\t');
            } else {
                line.push_str("\n    \t");
            }
            line.push_str(&def.usage.replace('\n', "\n    \t"));
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> FlagSet {
        fn no_commas(v: &str) -> Result<(), String> {
            if v.contains(',') {
                Err("no commas".to_string())
            } else {
                Ok(())
            }
        }
        FlagSet::new(vec![
            FlagDef::string("tick", "Path to the TICKscript"),
            FlagDef::boolean("no-reload", "Do not reload the task even if it is enabled"),
            FlagDef::multi("dbrp", "A database and retention policy pair.", no_commas),
        ])
    }

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn accepts_single_double_dash_and_equals_forms() {
        for form in [
            args(&["-tick", "a.tick"]),
            args(&["--tick", "a.tick"]),
            args(&["-tick=a.tick"]),
            args(&["--tick=a.tick"]),
        ] {
            let p = set().parse(&form).unwrap();
            assert_eq!(p.string("tick"), Some("a.tick"), "{form:?}");
            assert!(p.args.is_empty());
        }
    }

    #[test]
    fn bool_flags_do_not_consume_next_argument() {
        let p = set()
            .parse(&args(&["-no-reload", "true", "-tick", "x"]))
            .unwrap();
        assert!(p.bool("no-reload"));
        // Parsing stops at the positional "true", as in Go.
        assert_eq!(p.args, args(&["true", "-tick", "x"]));
        assert_eq!(p.string("tick"), None);
        let p = set().parse(&args(&["-no-reload=false"])).unwrap();
        assert!(!p.bool("no-reload"));
        assert!(p.is_set("no-reload"));
    }

    #[test]
    fn repeatable_flag_collects_in_order() {
        let p = set().parse(&args(&["-dbrp", "a.b", "-dbrp=c.d"])).unwrap();
        assert_eq!(p.all("dbrp"), &args(&["a.b", "c.d"])[..]);
    }

    #[test]
    fn last_string_value_wins() {
        let p = set().parse(&args(&["-tick", "a", "-tick", "b"])).unwrap();
        assert_eq!(p.string("tick"), Some("b"));
    }

    #[test]
    fn double_dash_terminates_and_single_dash_is_positional() {
        let p = set().parse(&args(&["--", "-tick", "x"])).unwrap();
        assert_eq!(p.args, args(&["-tick", "x"]));
        let p = set().parse(&args(&["-", "-tick", "x"])).unwrap();
        assert_eq!(p.args, args(&["-", "-tick", "x"]));
    }

    #[test]
    fn errors_carry_go_messages() {
        let e = set().parse(&args(&["-nope"])).unwrap_err();
        assert_eq!(e.to_string(), "flag provided but not defined: -nope");
        let e = set().parse(&args(&["-tick"])).unwrap_err();
        assert_eq!(e.to_string(), "flag needs an argument: -tick");
        let e = set().parse(&args(&["-no-reload=maybe"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid boolean value \"maybe\" for -no-reload: parse error"
        );
        let e = set().parse(&args(&["-dbrp", "a,b"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value \"a,b\" for flag -dbrp: no commas"
        );
        let e = set().parse(&args(&["---x"])).unwrap_err();
        assert_eq!(e.to_string(), "bad flag syntax: ---x");
        assert_eq!(set().parse(&args(&["-h"])).unwrap_err(), FlagError::Help);
        assert_eq!(
            set().parse(&args(&["--help"])).unwrap_err(),
            FlagError::Help
        );
    }

    #[test]
    fn recognises_flag_arguments() {
        let s = set();
        assert!(s.is_flag_arg("-tick"));
        assert!(s.is_flag_arg("--tick=x"));
        assert!(s.is_flag_arg("-h"));
        assert!(!s.is_flag_arg("-my-task"));
        assert!(!s.is_flag_arg("task"));
    }

    #[test]
    fn defaults_match_go_print_defaults() {
        let expected = "  -dbrp value\n    \tA database and retention policy pair.\n  -no-reload\n    \tDo not reload the task even if it is enabled\n  -tick string\n    \tPath to the TICKscript\n";
        assert_eq!(set().defaults(), expected);
    }

    #[test]
    fn go_bool_spellings() {
        assert_eq!(parse_go_bool("T"), Some(true));
        assert_eq!(parse_go_bool("False"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
    }
}
