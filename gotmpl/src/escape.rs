//! The escapers of `text/template` (`html`, `js`, `urlquery`) and of `html/template`'s text
//! context.

use std::fmt::Write;

/// `template.HTMLEscapeString` (the `html` builtin of text/template).
pub fn html_escape(out: &mut String, s: &str) {
    replace_chars(out, s, |c| match c {
        '"' => Some("&#34;"),
        '\'' => Some("&#39;"),
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\0' => Some("\u{fffd}"),
        _ => None,
    });
}

/// html/template's escaper for text nodes (`htmlReplacementTable`): like [`html_escape`] plus
/// `+`, which Go escapes because it can matter in UTF-7 sniffing contexts.
pub fn html_template_escape(out: &mut String, s: &str) {
    replace_chars(out, s, |c| match c {
        '"' => Some("&#34;"),
        '\'' => Some("&#39;"),
        '&' => Some("&amp;"),
        '+' => Some("&#43;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\0' => Some("\u{fffd}"),
        _ => None,
    });
}

fn replace_chars(out: &mut String, s: &str, table: impl Fn(char) -> Option<&'static str>) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        if let Some(rep) = table(c) {
            out.push_str(&s[last..i]);
            out.push_str(rep);
            last = i + c.len_utf8();
        }
    }
    out.push_str(&s[last..]);
}

/// html/template drops HTML comments from the template's own text. Only comments that open
/// and close within one text node are removed; one spanning an action is left alone.
pub fn strip_html_comments(text: &str) -> Option<String> {
    let first = text.find("<!--")?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut start = Some(first);
    while let Some(open) = start {
        let Some(end) = rest[open + 4..].find("-->") else {
            break;
        };
        out.push_str(&rest[..open]);
        rest = &rest[open + 4 + end + 3..];
        start = rest.find("<!--");
    }
    out.push_str(rest);
    Some(out)
}

/// `template.JSEscapeString` (the `js` builtin).
pub fn js_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if (c as u32) >= 0x80 && (c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `url.QueryEscape` (the `urlquery` builtin).
pub fn url_query_escape(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&mut String, &str), s: &str) -> String {
        let mut o = String::new();
        f(&mut o, s);
        o
    }

    #[test]
    fn escapers_match_go() {
        assert_eq!(
            run(html_escape, r#"<a href="x">'&'</a>+"#),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;+"
        );
        assert_eq!(run(html_template_escape, "a+b<\0"), "a&#43;b&lt;\u{fffd}");
        assert_eq!(
            run(js_escape, "a'b\"c<d>=&\\\n"),
            "a\\'b\\\"c\\u003Cd\\u003E\\u003D\\u0026\\\\\\u000A"
        );
        assert_eq!(
            strip_html_comments("a<!-- x -->b<!---->c").as_deref(),
            Some("abc")
        );
        assert_eq!(
            strip_html_comments("a<!-- open").as_deref(),
            Some("a<!-- open")
        );
        assert_eq!(strip_html_comments("plain"), None);
        assert_eq!(run(url_query_escape, "a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
