//! Go's `path.Match`, used for topic and handler list patterns (`?pattern=cpu*`).

/// Go's `path.ErrBadPattern` text.
pub const BAD_PATTERN: &str = "syntax error in pattern";

/// Checks a pattern once, so that matching can assume it is well formed.
pub fn validate(pattern: &str) -> Result<(), String> {
    let p: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(BAD_PATTERN.into());
                }
                i += 2;
            }
            '[' => {
                i = class_end(&p, i + 1).ok_or_else(|| BAD_PATTERN.to_string())?;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Index after the `]` closing a class that starts at `i` (just past `[`).
fn class_end(p: &[char], mut i: usize) -> Option<usize> {
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            return Some(i + 1);
        }
        first = false;
        let (_, next) = class_char(p, i)?;
        i = next;
        if p.get(i) == Some(&'-') {
            let (_, next) = class_char(p, i + 1)?;
            i = next;
        }
    }
}

fn class_char(p: &[char], i: usize) -> Option<(char, usize)> {
    match *p.get(i)? {
        '\\' => p.get(i + 1).map(|c| (*c, i + 2)),
        '-' | ']' => None,
        c => Some((c, i + 1)),
    }
}

/// Whether `name` matches `pattern` (an empty pattern matches everything, as Kapacitor's
/// `PatternMatch`). Malformed patterns match nothing; check them with [`validate`].
pub fn matches(pattern: &str, name: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    if validate(pattern).is_err() {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_at(&p, 0, &n, 0)
}

fn match_at(p: &[char], mut pi: usize, n: &[char], mut ni: usize) -> bool {
    while pi < p.len() {
        match p[pi] {
            '*' => {
                // Collapse runs of stars; a star never crosses '/'.
                while pi < p.len() && p[pi] == '*' {
                    pi += 1;
                }
                let mut k = ni;
                loop {
                    if match_at(p, pi, n, k) {
                        return true;
                    }
                    if k >= n.len() || n[k] == '/' {
                        return false;
                    }
                    k += 1;
                }
            }
            '?' => {
                if ni >= n.len() || n[ni] == '/' {
                    return false;
                }
                pi += 1;
                ni += 1;
            }
            '[' => {
                let Some(&c) = n.get(ni) else { return false };
                if c == '/' {
                    return false;
                }
                let mut i = pi + 1;
                let negate = p.get(i) == Some(&'^');
                if negate {
                    i += 1;
                }
                let mut hit = false;
                let mut first = true;
                while p[i] != ']' || first {
                    first = false;
                    let (lo, next) = class_char(p, i).unwrap_or((p[i], i + 1));
                    i = next;
                    let mut hi = lo;
                    if p.get(i) == Some(&'-')
                        && let Some((h, next)) = class_char(p, i + 1)
                    {
                        hi = h;
                        i = next;
                    }
                    if lo <= c && c <= hi {
                        hit = true;
                    }
                }
                if hit == negate {
                    return false;
                }
                pi = i + 1;
                ni += 1;
            }
            '\\' => {
                if n.get(ni) != p.get(pi + 1) {
                    return false;
                }
                pi += 2;
                ni += 1;
            }
            c => {
                if n.get(ni) != Some(&c) {
                    return false;
                }
                pi += 1;
                ni += 1;
            }
        }
    }
    ni == n.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match_cases() {
        assert!(matches("", "anything"));
        assert!(matches("cpu*", "cpu_alert"));
        assert!(matches("*:cpu:*", "main:cpu:alert2"));
        assert!(!matches("cpu*", "mem"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a*", "a/b"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[^a-c]x", "bx"));
        assert!(matches("\\*", "*"));
        assert!(validate("[").is_err());
        assert!(validate("a\\").is_err());
        assert!(validate("[]").is_err());
        assert!(validate("[a-]").is_err());
        assert!(validate("ok*").is_ok());
    }
}
