//! Whole-value matching of the service model's member patterns: the subset of regular
//! expressions they use (literals, `\` escapes, `[...]` classes with ranges, `?` `*` `+`, and the
//! `^` `$` anchors, which a whole-value match implies).

/// One element of a pattern: the characters it accepts and how often.
#[derive(Debug)]
struct Atom {
    /// Accepted characters: single characters and inclusive ranges.
    ranges: Vec<(char, char)>,
    min: usize,
    /// `None` for unbounded.
    max: Option<usize>,
}

impl Atom {
    fn accepts(&self, c: char) -> bool {
        self.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
    }
}

/// Parses a pattern into atoms; `None` for a construct outside the subset.
fn parse(pattern: &str) -> Option<Vec<Atom>> {
    let body = pattern.strip_prefix('^').unwrap_or(pattern);
    let body = body.strip_suffix('$').unwrap_or(body);
    let mut chars = body.chars().peekable();
    let mut atoms = Vec::new();
    while let Some(c) = chars.next() {
        let ranges = match c {
            '\\' => vec![single(chars.next()?)?],
            '[' => {
                let mut ranges = Vec::new();
                loop {
                    let lo = match chars.next()? {
                        ']' => break,
                        '\\' => chars.next()?,
                        c => c,
                    };
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.peek() {
                            Some(']') | None => {
                                ranges.push((lo, lo));
                                ranges.push(('-', '-'));
                            }
                            Some(_) => {
                                let hi = match chars.next()? {
                                    '\\' => chars.next()?,
                                    c => c,
                                };
                                ranges.push((lo, hi));
                            }
                        }
                    } else {
                        ranges.push((lo, lo));
                    }
                }
                ranges
            }
            '(' | ')' | '|' | '{' | '}' | '.' | '*' | '+' | '?' => return None,
            c => vec![(c, c)],
        };
        let (min, max) = match chars.peek() {
            Some('?') => (0, Some(1)),
            Some('*') => (0, None),
            Some('+') => (1, None),
            _ => (1, Some(1)),
        };
        if min != 1 || max != Some(1) {
            chars.next();
        }
        atoms.push(Atom { ranges, min, max });
    }
    Some(atoms)
}

/// An escaped character as a range; `\d` is the one class escape the model uses.
fn single(c: char) -> Option<(char, char)> {
    match c {
        'd' => Some(('0', '9')),
        'w' | 's' | 'D' | 'W' | 'S' => None,
        c => Some((c, c)),
    }
}

fn match_from(atoms: &[Atom], s: &[char]) -> bool {
    let Some((atom, rest)) = atoms.split_first() else {
        return s.is_empty();
    };
    let most = s.iter().take_while(|c| atom.accepts(**c)).count();
    let most = atom.max.map_or(most, |m| most.min(m));
    (atom.min..=most).rev().any(|n| match_from(rest, &s[n..]))
}

/// Whether all of `s` matches `pattern`. A pattern outside the supported subset matches
/// everything (the emulator checks only patterns it understands).
pub fn full_match(pattern: &str, s: &str) -> bool {
    let Some(atoms) = parse(pattern) else {
        return true;
    };
    let chars: Vec<char> = s.chars().collect();
    match_from(&atoms, &chars)
}

#[cfg(test)]
mod tests {
    use super::full_match;

    #[test]
    fn the_model_patterns() {
        let policy = "[0-9A-Za-z\\-\\_]+";
        assert!(full_match(policy, "default"));
        assert!(full_match(policy, "a-b_C9"));
        assert!(!full_match(policy, ""));
        assert!(!full_match(policy, "a b"));
        let filter = "^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$";
        assert!(full_match(filter, ""));
        assert!(full_match(filter, "!prod/db-x"));
        assert!(full_match(filter, "a!b"));
        assert!(!full_match(filter, "a*b"));
        let token = "^[a-zA-Z0-9\\-]+$";
        assert!(full_match(token, "abc-123"));
        assert!(!full_match(token, "abc_123"));
        assert!(full_match("[0-9]+h", "12h"));
        assert!(!full_match("[0-9]+h", "12"));
    }
}
