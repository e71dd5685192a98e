//! Go RE2 syntax → Rust `regex` syntax.
//!
//! Both engines are RE2-like; the differences that change meaning or fail to compile are:
//! - Perl classes `\d \w \s` (and negations) are ASCII-only in Go, Unicode in Rust: they are
//!   rewritten to explicit ASCII classes; `\b \B` become `(?-u:\b)`.
//! - `\Q…\E` literal quoting exists only in Go: the text is escaped instead.
//! - Inside `[...]`, Go treats `[`, `&&`, `--`, `~~` literally; Rust reads them as nested classes
//!   and set operators, so they are escaped.
//! - Go octal escapes `\0`, `\012` become `\x{..}`.

use regex::Regex;

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\f\r ";

/// Compiles a Go regular expression (a TICKscript `/…/` literal) with Go's semantics.
pub fn translate_regex(go_src: &str) -> Result<Regex, String> {
    let rust_src = translate(go_src)?;
    Regex::new(&rust_src).map_err(|e| format!("error parsing regexp: {e}"))
}

fn translate(src: &str) -> Result<String, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len() + 8);
    let mut i = 0;
    // Inside a class: whether the next char is the first one (where `]` is literal).
    let mut class: Option<bool> = None;
    let mut prev_dash = false;
    while i < chars.len() {
        let c = chars[i];
        let at_class_start = class == Some(true);
        if class.is_some() {
            class = Some(false);
        }
        let was_dash = std::mem::take(&mut prev_dash);
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err(
                        "error parsing regexp: trailing backslash at end of expression".into(),
                    );
                };
                i += 2;
                let in_class = class.is_some();
                match e {
                    'Q' => {
                        let start = i;
                        while i < chars.len()
                            && !(chars[i] == '\\' && chars.get(i + 1) == Some(&'E'))
                        {
                            i += 1;
                        }
                        let lit: String = chars[start..i].iter().collect();
                        if i < chars.len() {
                            i += 2; // skip \E
                        }
                        if in_class {
                            for ch in lit.chars() {
                                out.push_str(&regex::escape(ch.encode_utf8(&mut [0; 4])));
                            }
                        } else if !lit.is_empty() {
                            out.push_str("(?:");
                            out.push_str(&regex::escape(&lit));
                            out.push(')');
                        }
                    }
                    // A lone `\E` is accepted (and ignored) by Go.
                    'E' => {}
                    'd' | 'w' | 's' | 'D' | 'W' | 'S' => {
                        let set = match e.to_ascii_lowercase() {
                            'd' => DIGIT,
                            'w' => WORD,
                            _ => SPACE,
                        };
                        let negated = e.is_ascii_uppercase();
                        match (in_class, negated) {
                            (true, false) => out.push_str(set),
                            _ => {
                                out.push_str(if negated { "[^" } else { "[" });
                                out.push_str(set);
                                out.push(']');
                            }
                        }
                    }
                    'b' | 'B' if !in_class => {
                        out.push_str("(?-u:\\");
                        out.push(e);
                        out.push(')');
                    }
                    '0'..='7' => {
                        let first = e;
                        let mut digits = String::from(first);
                        while digits.len() < 3 && matches!(chars.get(i), Some('0'..='7')) {
                            digits.push(chars[i]);
                            i += 1;
                        }
                        if first != '0' && digits.len() == 1 {
                            return Err(format!(
                                "error parsing regexp: invalid escape sequence: `\\{first}`"
                            ));
                        }
                        let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
                        out.push_str(&format!("\\x{{{code:X}}}"));
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                continue;
            }
            '[' if class.is_none() => {
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                class = Some(true);
                continue;
            }
            '[' => {
                // POSIX classes `[:alpha:]` are nested syntax in both engines.
                if chars.get(i + 1) == Some(&':')
                    && let Some(end) = find_posix_end(&chars, i + 2)
                {
                    out.extend(&chars[i..end]);
                    i = end;
                    continue;
                }
                out.push_str("\\[");
            }
            ']' if class.is_some() && !at_class_start => {
                out.push(']');
                class = None;
            }
            ']' if at_class_start => out.push_str("\\]"),
            '&' | '~' if class.is_some() => {
                out.push('\\');
                out.push(c);
            }
            '-' if class.is_some() => {
                if was_dash {
                    out.push_str("\\-");
                } else {
                    out.push('-');
                    prev_dash = true;
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Index just past `:]` of a POSIX class starting at `from` (after `[:`), if well formed.
fn find_posix_end(chars: &[char], from: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() && (chars[j].is_ascii_alphabetic() || chars[j] == '^') {
        j += 1;
    }
    (j + 1 < chars.len() && chars[j] == ':' && chars[j + 1] == ']').then_some(j + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(re: &str, s: &str) -> bool {
        translate_regex(re)
            .unwrap_or_else(|e| panic!("{re}: {e}"))
            .is_match(s)
    }

    #[test]
    fn perl_classes_are_ascii_only() {
        assert!(m(r"^\d+$", "123"));
        assert!(!m(r"^\d$", "\u{0663}"));
        assert!(!m(r"^\w$", "é"));
        assert!(m(r"^\W$", "é"));
        assert!(m(r"^\D$", "\u{0663}"));
        assert!(m(r"^\s$", "\t"));
        assert!(!m(r"^\s$", "\u{00A0}"));
        assert!(m(r"^\S$", "\u{00A0}"));
        assert!(m(r"^[\d.]+$", "1.5"));
        assert!(!m(r"^[\w]$", "é"));
        assert!(m(r"^[a\D]$", "é"));
    }

    #[test]
    fn word_boundaries_are_ascii() {
        assert!(m(r"\bcpu\b", "a cpu here"));
        // In Go `é` is not a word char, so there is a boundary between it and `x`.
        assert!(m(r"é\bx", "éx"));
        assert!(m(r"a\Bb", "ab"));
    }

    #[test]
    fn quoted_literals() {
        assert!(m(r"^\Qa.b*c\E$", "a.b*c"));
        assert!(!m(r"^\Qa.b\E$", "axb"));
        assert!(m(r"^\Q(x)", "(x) tail"));
        assert!(m(r"^[\Q]-\E]+$", "]-]"));
    }

    #[test]
    fn class_literals_that_rust_reads_as_operators() {
        assert!(m(r"^[[]$", "["));
        assert!(m(r"^[a&&b]+$", "a&b"));
        assert!(m(r"^[a~~b]+$", "~"));
        assert!(m(r"^[]a]+$", "]a"));
        assert!(m(r"^[^]a]$", "b"));
        assert!(m(r"^[[:alpha:]]+$", "abc"));
        assert!(m(r"^[a-c]+$", "abc"));
    }

    #[test]
    fn octal_escapes_and_errors() {
        assert!(m(r"^\101$", "A"));
        assert!(m(r"^\0$", "\0"));
        assert!(translate_regex(r"\1").is_err());
        assert!(translate_regex(r"abc\").is_err());
        assert!(translate_regex(r"(").is_err());
    }

    #[test]
    fn ordinary_syntax_passes_through() {
        assert!(m(r"(?i)^CPU[0-9]+$", "cpu12"));
        assert!(m(r"^(?P<h>[a-z]+)\.example\.com$", "web.example.com"));
        assert!(m(r"^a/b$", "a/b"));
    }
}
