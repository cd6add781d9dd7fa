//! Word processing as Docker's builder does it for the instructions it expands (ADD, COPY,
//! ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG, ONBUILD's target):
//! quotes, the escape character, and `$var` / `${var…}` with every modifier —
//! `:-` `-` `:+` `+` `:?` `?` `#` `##` `%` `%%` `/` `//`.

/// A substitution that cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SubstError(pub String);

type Result<T> = std::result::Result<T, SubstError>;

/// Looks up a variable: `None` when unset.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The word processor for one escape character.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer { escape: '\\' }
    }
}

#[derive(Default)]
struct Words {
    cur: String,
    started: bool,
    out: Vec<String>,
}

impl Words {
    fn char(&mut self, c: char) {
        if c.is_whitespace() {
            self.end();
        } else {
            self.raw(c);
        }
    }
    fn raw(&mut self, c: char) {
        self.cur.push(c);
        self.started = true;
    }
    fn raw_str(&mut self, s: &str) {
        self.cur.push_str(s);
        self.started = true;
    }
    fn string(&mut self, s: &str) {
        for c in s.chars() {
            self.char(c);
        }
    }
    fn end(&mut self) {
        if self.started {
            self.out.push(std::mem::take(&mut self.cur));
            self.started = false;
        }
    }
}

struct Scan<'a> {
    c: Vec<char>,
    i: usize,
    esc: char,
    env: &'a dyn Env,
}

impl Lexer {
    /// One word: quotes removed, variables substituted, whitespace kept.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String> {
        Ok(self.process(word, env)?.0)
    }

    /// Words split on unquoted whitespace (also inside unquoted expansions).
    pub fn process_words(&self, s: &str, env: &dyn Env) -> Result<Vec<String>> {
        Ok(self.process(s, env)?.1)
    }

    fn process(&self, s: &str, env: &dyn Env) -> Result<(String, Vec<String>)> {
        let mut sc = Scan {
            c: s.chars().collect(),
            i: 0,
            esc: self.escape,
            env,
        };
        let mut w = Words::default();
        let r = sc.until(None, &mut w)?;
        w.end();
        Ok((r, w.out))
    }
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.i += usize::from(c.is_some());
        c
    }

    /// Process up to `stop` (unquoted) or the end.
    fn until(&mut self, stop: Option<char>, w: &mut Words) -> Result<String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                return Ok(out);
            }
            self.i += 1;
            if c == '\'' {
                let s = self.single()?;
                out.push_str(&s);
                w.raw_str(&s);
            } else if c == '"' {
                let s = self.double()?;
                out.push_str(&s);
                w.raw_str(&s);
            } else if c == '$' {
                let v = self.dollar()?;
                out.push_str(&v);
                w.string(&v);
            } else if c == self.esc {
                match self.next() {
                    Some(n) => {
                        out.push(n);
                        w.raw(n);
                    }
                    None => break,
                }
            } else {
                out.push(c);
                w.char(c);
            }
        }
        if let Some(s) = stop {
            return Err(SubstError(format!("missing '{s}' in substitution")));
        }
        Ok(out)
    }

    fn single(&mut self) -> Result<String> {
        let mut s = String::new();
        loop {
            match self.next() {
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
                None => {
                    return Err(SubstError(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    ))
                }
            }
        }
    }

    fn double(&mut self) -> Result<String> {
        let mut s = String::new();
        loop {
            match self.next() {
                Some('"') => return Ok(s),
                Some('$') => s.push_str(&self.dollar()?),
                Some(c) if c == self.esc => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.esc => {
                        self.i += 1;
                        s.push(n);
                    }
                    _ => s.push(c),
                },
                Some(c) => s.push(c),
                None => {
                    return Err(SubstError(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ))
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        if let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                // Positional parameters are never set in a Dockerfile.
                self.i += 1;
                return c.to_string();
            }
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.i += 1;
            } else {
                break;
            }
        }
        n
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String> {
        match self.peek() {
            Some('{') => {
                self.i += 1;
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let n = self.name();
                return Ok(self.env.get(&n).unwrap_or_default());
            }
            _ => return Ok("$".into()),
        }
        let name = self.name();
        if name.is_empty() {
            return Err(SubstError("bad substitution".into()));
        }
        let val = self.env.get(&name);
        let Some(c) = self.next() else {
            return Err(SubstError("missing '}' in substitution".into()));
        };
        let word = |s: &mut Scan| -> Result<String> {
            let mut w = Words::default();
            let r = s.until(Some('}'), &mut w)?;
            s.i += 1;
            Ok(r)
        };
        match c {
            '}' => Ok(val.unwrap_or_default()),
            ':' => {
                let m = self
                    .next()
                    .ok_or_else(|| SubstError("missing '}' in substitution".into()))?;
                let w = word(self)?;
                let empty = val.as_deref().is_none_or(str::is_empty);
                match m {
                    '-' => Ok(if empty { w } else { val.unwrap_or_default() }),
                    '+' => Ok(if empty { String::new() } else { w }),
                    '?' if empty => Err(SubstError(format!(
                        "{name}: {}",
                        if w.is_empty() {
                            "is not allowed to be empty".to_string()
                        } else {
                            w
                        }
                    ))),
                    '?' => Ok(val.unwrap_or_default()),
                    _ => Err(SubstError(format!(
                        "unsupported modifier ({m}) in substitution"
                    ))),
                }
            }
            '-' => {
                let w = word(self)?;
                Ok(val.unwrap_or(w))
            }
            '+' => {
                let w = word(self)?;
                Ok(if val.is_some() { w } else { String::new() })
            }
            '?' => {
                let w = word(self)?;
                val.ok_or_else(|| {
                    SubstError(format!(
                        "{name}: {}",
                        if w.is_empty() {
                            "is not allowed to be unset".to_string()
                        } else {
                            w
                        }
                    ))
                })
            }
            '#' | '%' => {
                let longest = self.peek() == Some(c);
                if longest {
                    self.i += 1;
                }
                let pat = word(self)?;
                let v = val.unwrap_or_default();
                Ok(trim(&v, &pat, c == '#', longest))
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.i += 1;
                }
                let mut w = Words::default();
                let mut pat = String::new();
                // The pattern ends at an unescaped '/' or the closing brace.
                while let Some(ch) = self.peek() {
                    if ch == '/' || ch == '}' {
                        break;
                    }
                    if ch == self.esc {
                        self.i += 1;
                        if let Some(n) = self.next() {
                            pat.push('\\');
                            pat.push(n);
                        }
                        continue;
                    }
                    if ch == '$' {
                        self.i += 1;
                        pat.push_str(&glob_quote(&self.dollar()?));
                        continue;
                    }
                    self.i += 1;
                    pat.push(ch);
                }
                let repl = if self.peek() == Some('/') {
                    self.i += 1;
                    let r = self.until(Some('}'), &mut w)?;
                    self.i += 1;
                    r
                } else {
                    if self.next() != Some('}') {
                        return Err(SubstError("missing '}' in substitution".into()));
                    }
                    String::new()
                };
                Ok(replace(&val.unwrap_or_default(), &pat, &repl, all))
            }
            _ => Err(SubstError(format!(
                "unsupported modifier ({c}) in substitution"
            ))),
        }
    }
}

fn glob_quote(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// `#`/`##` (prefix) and `%`/`%%` (suffix) removal with a shell pattern.
fn trim(v: &str, pat: &str, prefix: bool, longest: bool) -> String {
    let idx: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    if prefix {
        let order: Box<dyn Iterator<Item = &usize>> = if longest {
            Box::new(idx.iter().rev())
        } else {
            Box::new(idx.iter())
        };
        for &i in order {
            if glob_match(pat, &v[..i]) {
                return v[i..].to_string();
            }
        }
    } else {
        let order: Box<dyn Iterator<Item = &usize>> = if longest {
            Box::new(idx.iter())
        } else {
            Box::new(idx.iter().rev())
        };
        for &i in order {
            if glob_match(pat, &v[i..]) {
                return v[..i].to_string();
            }
        }
    }
    v.to_string()
}

/// `/pat/repl` (first, longest match) and `//pat/repl` (every match).
fn replace(v: &str, pat: &str, repl: &str, all: bool) -> String {
    if pat.is_empty() {
        return v.to_string();
    }
    let idx: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    let mut out = String::new();
    let mut k = 0;
    let mut replaced = false;
    while k < idx.len() {
        let start = idx[k];
        let hit = if replaced && !all {
            None
        } else {
            idx[k + 1..]
                .iter()
                .rev()
                .find(|&&e| glob_match(pat, &v[start..e]))
                .copied()
        };
        match hit {
            Some(e) => {
                out.push_str(repl);
                replaced = true;
                k = idx.iter().position(|&x| x == e).expect("index");
            }
            None => {
                if k + 1 < idx.len() {
                    out.push_str(&v[start..idx[k + 1]]);
                }
                k += 1;
            }
        }
    }
    out
}

/// Shell pattern match of the whole string: `*`, `?`, `[…]` (with `!`/`^` and ranges), `\x`.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    glob_at(&p, &t, false)
}

/// Like [`glob_match`], but `*` and `?` never match `/` (Go's `filepath.Match`).
pub fn path_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    glob_at(&p, &t, true)
}

fn glob_at(p: &[char], t: &[char], path: bool) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut back: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = if pi < p.len() {
            match p[pi] {
                '*' => {
                    back = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' if !(path && t[ti] == '/') => Some(pi + 1),
                '[' => class(p, pi, t[ti]).filter(|_| !(path && t[ti] == '/')),
                '\\' if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(pi + 2),
                c => (c == t[ti]).then_some(pi + 1),
            }
        } else {
            None
        };
        match step {
            Some(np) => {
                pi = np;
                ti += 1;
            }
            None => match back {
                Some((bp, bt)) if !(path && t[bt] == '/') => {
                    back = Some((bp, bt + 1));
                    pi = bp + 1;
                    ti = bt + 1;
                }
                _ => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Match `c` against the class at `p[i] == '['`; the index after the class on a match.
fn class(p: &[char], i: usize, c: char) -> Option<usize> {
    let mut j = i + 1;
    let neg = matches!(p.get(j), Some('!' | '^'));
    if neg {
        j += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let a = *p.get(j)?;
        if a == ']' && !first {
            j += 1;
            break;
        }
        first = false;
        let a = if a == '\\' {
            j += 1;
            *p.get(j)?
        } else {
            a
        };
        if p.get(j + 1) == Some(&'-') && p.get(j + 2).is_some_and(|&b| b != ']') {
            let b = p[j + 2];
            if a <= c && c <= b {
                hit = true;
            }
            j += 3;
        } else {
            if a == c {
                hit = true;
            }
            j += 1;
        }
    }
    (hit != neg).then_some(j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("a", "apple"),
            ("e", ""),
            ("p", "/usr/local/lib/file.tar.gz"),
            ("sp", "two words"),
        ])
    }

    fn w(s: &str) -> std::result::Result<String, String> {
        let m = env();
        let f = move |n: &str| m.get(n).map(|s| s.to_string());
        Lexer::default().process_word(s, &f).map_err(|e| e.0)
    }

    #[test]
    fn substitution_table() {
        let ok: &[(&str, &str)] = &[
            ("$a", "apple"),
            ("${a}", "apple"),
            ("x$a-y", "xapple-y"),
            ("$nope", ""),
            ("${nope:-dflt}", "dflt"),
            ("${e:-dflt}", "dflt"),
            ("${e-dflt}", ""),
            ("${nope-dflt}", "dflt"),
            ("${a:-dflt}", "apple"),
            ("${a:+alt}", "alt"),
            ("${e:+alt}", ""),
            ("${e+alt}", "alt"),
            ("${nope+alt}", ""),
            ("${a:?boom}", "apple"),
            ("${e?boom}", ""),
            ("${nope:-$a}", "apple"),
            ("${nope:-${e:-deep}}", "deep"),
            ("${p#*/}", "usr/local/lib/file.tar.gz"),
            ("${p##*/}", "file.tar.gz"),
            ("${p%.*}", "/usr/local/lib/file.tar"),
            ("${p%%.*}", "/usr/local/lib/file"),
            ("${a/p/P}", "aPple"),
            ("${a//p/P}", "aPPle"),
            ("${a/p*/X}", "aX"),
            ("${a/#ap/X}", "apple"),
            ("${a//[pl]/_}", "a___e"),
            ("${a/z/X}", "apple"),
            ("${a/p}", "aple"),
            ("'$a'", "$a"),
            ("\"$a\"", "apple"),
            ("\"\\$a\"", "$a"),
            ("\\$a", "$a"),
            ("\"a\\nb\"", "a\\nb"),
            ("a\\ b", "a b"),
            ("$", "$"),
            ("$/x", "$/x"),
            ("${sp}", "two words"),
            ("$1x", "x"),
        ];
        for (i, o) in ok {
            assert_eq!(w(i).as_deref(), Ok(*o), "{i}");
        }
        let bad: &[(&str, &str)] = &[
            ("${nope:?boom}", "nope: boom"),
            ("${e:?}", "e: is not allowed to be empty"),
            ("${nope?}", "nope: is not allowed to be unset"),
            ("${a", "missing '}' in substitution"),
            ("${}", "bad substitution"),
            ("${a!x}", "unsupported modifier (!) in substitution"),
            (
                "'abc",
                "unexpected end of statement while looking for matching single-quote",
            ),
            (
                "\"abc",
                "unexpected end of statement while looking for matching double-quote",
            ),
        ];
        for (i, o) in bad {
            assert_eq!(w(i).unwrap_err(), *o, "{i}");
        }
    }

    #[test]
    fn words_split_on_unquoted_whitespace() {
        let m = env();
        let f = move |n: &str| m.get(n).map(|s| s.to_string());
        let l = Lexer::default();
        assert_eq!(
            l.process_words("a \"b c\" $sp 'd  e' f\\ g", &f).unwrap(),
            vec!["a", "b c", "two", "words", "d  e", "f g"]
        );
        assert_eq!(l.process_words("\"$sp\"", &f).unwrap(), vec!["two words"]);
        let bt = Lexer { escape: '`' };
        assert_eq!(bt.process_word("c:\\dir `$a", &f).unwrap(), "c:\\dir $a");
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.go", "a/b.go"));
        assert!(!path_match("*.go", "a/b.go"));
        assert!(path_match("a/*.go", "a/b.go"));
        assert!(path_match("[a-c]?", "bx"));
        assert!(!path_match("[!a-c]?", "bx"));
        assert!(path_match("\\*", "*"));
        assert!(!path_match("a?", "a/"));
    }
}
