//! The Dockerfile syntax layer: parser directives, comments, line continuations, heredocs,
//! instruction keywords, `--flags` and JSON (exec) form. It knows nothing about what an
//! instruction means; [`crate::instructions`] validates the nodes this produces.
//!
//! Positions are 1-based lines and columns of the file as written, so every error can say
//! `Dockerfile:7:5: unknown instruction: RUNN`.

use std::fmt;

/// Every instruction keyword of the Dockerfile reference (lower-case).
pub const KEYWORDS: &[&str] = &[
    "from",
    "run",
    "cmd",
    "label",
    "maintainer",
    "expose",
    "env",
    "add",
    "copy",
    "entrypoint",
    "volume",
    "user",
    "workdir",
    "arg",
    "onbuild",
    "stopsignal",
    "healthcheck",
    "shell",
];

/// Instructions whose arguments may carry heredocs.
const HEREDOC_KEYWORDS: &[&str] = &["run", "copy", "add"];

/// A syntax or validation error at a place in a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Parser directives from the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub syntax: Option<String>,
    pub escape: char,
    /// The raw `check` directive (`skip=A,B;error=true`).
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// A `--name=value` (or bare `--name`) flag before an instruction's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
    pub column: usize,
}

/// One heredoc: `<<EOF`, `<<-EOF` (leading tabs removed), `<<"EOF"` (no expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// Unquoted name: variables in the content are expanded (by the shell, for RUN).
    pub expand: bool,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Lower-case keyword.
    pub keyword: String,
    /// The keyword as written (for messages and history).
    pub keyword_raw: String,
    /// The arguments after the flags, continuation lines joined.
    pub rest: String,
    /// The whole logical line after the keyword, flags included (for history).
    pub original: String,
    pub flags: Vec<Flag>,
    /// The arguments as a JSON string array, when written so.
    pub json: Option<Vec<String>>,
    pub heredocs: Vec<Heredoc>,
    pub line: usize,
    pub end_line: usize,
    pub column: usize,
}

impl Node {
    /// An error at this node's keyword.
    pub fn error(&self, file: &str, message: impl Into<String>) -> ParseError {
        ParseError {
            file: file.to_string(),
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    pub file: String,
    pub directives: Directives,
    pub nodes: Vec<Node>,
}

fn err(file: &str, line: usize, column: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        file: file.to_string(),
        line,
        column,
        message: message.into(),
    }
}

fn is_directive_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic()) && c.all(|x| x.is_ascii_alphanumeric())
}

/// `# key=value` at the top of the file, if this line is one.
fn directive(line: &str) -> Option<(String, String)> {
    let t = line.trim_start().strip_prefix('#')?;
    let (k, v) = t.split_once('=')?;
    let k = k.trim();
    let v = v.trim();
    (is_directive_name(k) && !v.is_empty()).then(|| (k.to_ascii_lowercase(), v.to_string()))
}

/// Parse a Dockerfile's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut d = Directives::default();
    let mut i = 0;
    let mut seen = Vec::new();
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else {
            break;
        };
        if !matches!(k.as_str(), "syntax" | "escape" | "check") {
            break;
        }
        if seen.contains(&k) {
            return Err(err(
                file,
                i + 1,
                1,
                format!("only one {k} parser directive can be used"),
            ));
        }
        match k.as_str() {
            "escape" => {
                d.escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(err(
                            file,
                            i + 1,
                            1,
                            format!("invalid escape token '{v}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => d.syntax = Some(v),
            _ => d.check = Some(v),
        }
        seen.push(k);
        i += 1;
    }
    let mut nodes = Vec::new();
    let esc = d.escape;
    while i < lines.len() {
        let raw = lines[i];
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let column = raw.len() - trimmed.len() + 1;
        let mut logical = String::new();
        let (mut body, mut cont) = continuation(trimmed, esc);
        logical.push_str(body);
        while cont {
            i += 1;
            if i >= lines.len() {
                break;
            }
            let l = lines[i];
            let t = l.trim_start();
            if t.starts_with('#') || t.is_empty() {
                // Comments and empty lines inside a continued instruction are dropped.
                cont = true;
                continue;
            }
            (body, cont) = continuation(l, esc);
            logical.push_str(body);
        }
        let end = i.min(lines.len() - 1);
        i += 1;
        let (kw, after) = split_keyword(&logical);
        let keyword = kw.to_ascii_lowercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(err(
                file,
                start + 1,
                column,
                format!("unknown instruction: {kw}"),
            ));
        }
        let rest_col = column + kw.len() + (after.len() - after.trim_start().len());
        let original = after.trim().to_string();
        let (flags, rest) = extract_flags(after.trim_start(), rest_col);
        let rest = rest.trim().to_string();
        let json = parse_json_array(&rest);
        let mut heredocs = Vec::new();
        if HEREDOC_KEYWORDS.contains(&keyword.as_str()) && json.is_none() {
            for (name, chomp, expand) in heredoc_markers(&rest) {
                let mut content = String::new();
                let mut found = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let cmp = if chomp { l.trim_start_matches('\t') } else { l };
                    if cmp == name {
                        found = true;
                        break;
                    }
                    content.push_str(cmp);
                    content.push('\n');
                }
                if !found {
                    return Err(err(
                        file,
                        start + 1,
                        column,
                        format!("unterminated heredoc {name}"),
                    ));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                });
            }
        }
        nodes.push(Node {
            keyword,
            keyword_raw: kw.to_string(),
            rest,
            original,
            flags,
            json,
            heredocs,
            line: start + 1,
            end_line: end.max(start) + 1,
            column,
        });
    }
    Ok(Dockerfile {
        file: file.to_string(),
        directives: d,
        nodes,
    })
}

/// The line without a trailing escape (and the whitespace after it), and whether it had one.
fn continuation(line: &str, esc: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(esc) {
        Some(body) => (body, true),
        None => (line, false),
    }
}

fn split_keyword(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(n) => (&s[..n], &s[n..]),
        None => (s, ""),
    }
}

/// Leading `--flag[=value]` words; values may be quoted.
fn extract_flags(s: &str, col: usize) -> (Vec<Flag>, &str) {
    let mut flags = Vec::new();
    let mut rest = s;
    loop {
        let t = rest.trim_start();
        let offset = s.len() - t.len();
        if !t.starts_with("--") || t.len() == 2 || t[2..].starts_with(char::is_whitespace) {
            return (flags, t);
        }
        let mut end = t.len();
        let mut quote = None;
        for (n, c) in t.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (None, '"' | '\'') => quote = Some(c),
                (None, c) if c.is_whitespace() => {
                    end = n;
                    break;
                }
                _ => {}
            }
        }
        let word = &t[2..end];
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(unquote(v))),
            None => (word.to_string(), None),
        };
        flags.push(Flag {
            name,
            value,
            column: col + offset,
        });
        rest = &t[end..];
    }
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// `["a", "b"]` as strings; anything else is shell form.
pub fn parse_json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') || !t.ends_with(']') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// The heredoc markers of a line, in order: (name, strip leading tabs, expand).
pub fn heredoc_markers(s: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == '<' && b.get(i + 1) == Some(&'<') && b.get(i + 2) != Some(&'<') {
            if i > 0 && b[i - 1] == '<' {
                i += 1;
                continue;
            }
            let mut j = i + 2;
            let chomp = b.get(j) == Some(&'-');
            if chomp {
                j += 1;
            }
            let q = match b.get(j) {
                Some(&c @ ('"' | '\'')) => {
                    j += 1;
                    Some(c)
                }
                _ => None,
            };
            let start = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == '_') {
                j += 1;
            }
            let name: String = b[start..j].iter().collect();
            let closed = match q {
                Some(qc) => b.get(j) == Some(&qc),
                None => true,
            };
            if !name.is_empty() && closed {
                out.push((name, chomp, q.is_none()));
                i = j + usize::from(q.is_some());
                continue;
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> Dockerfile {
        parse("Dockerfile", t).unwrap()
    }

    fn e(t: &str) -> String {
        parse("Dockerfile", t).unwrap_err().to_string()
    }

    #[test]
    fn instructions_comments_and_continuations() {
        let d = p("# a comment\nFROM busybox AS b\n\nrun echo a \\\n  # dropped\n\n  b\nCMD [\"sh\", \"-c\"]\n");
        assert_eq!(d.nodes.len(), 3);
        assert_eq!(d.nodes[0].keyword, "from");
        assert_eq!(d.nodes[0].rest, "busybox AS b");
        assert_eq!(d.nodes[1].keyword, "run");
        assert_eq!(d.nodes[1].rest, "echo a   b");
        assert_eq!((d.nodes[1].line, d.nodes[1].end_line), (4, 7));
        assert_eq!(
            d.nodes[2].json,
            Some(vec!["sh".to_string(), "-c".to_string()])
        );
    }

    #[test]
    fn directives() {
        let d =
            p("# syntax=docker/dockerfile:1\n# escape=`\n# check=skip=all\nFROM a\nRUN x `\n y\n");
        assert_eq!(d.directives.escape, '`');
        assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.directives.check.as_deref(), Some("skip=all"));
        assert_eq!(d.nodes[1].rest, "x  y");
        // After a comment or instruction, a directive is only a comment.
        let d = p("# hello\n# escape=`\nFROM a\nRUN x \\\n y");
        assert_eq!(d.directives.escape, '\\');
        assert_eq!(d.nodes[1].rest, "x  y");
        assert_eq!(
            e("# escape=\\\n# escape=`\nFROM a"),
            "Dockerfile:2:1: only one escape parser directive can be used"
        );
        assert_eq!(
            e("# escape=x\nFROM a"),
            "Dockerfile:1:1: invalid escape token 'x' does not match ` or \\"
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(
            e("FROM a\n\n   RUNN echo\n"),
            "Dockerfile:3:4: unknown instruction: RUNN"
        );
        assert_eq!(
            e("FROM a\nRUN <<EOF\necho\n"),
            "Dockerfile:2:1: unterminated heredoc EOF"
        );
    }

    #[test]
    fn flags_and_json() {
        let d = p("COPY --from=build --chmod=755 a b\nRUN --mount=type=cache,target=/c --network=none make\nCMD [\"a\" \nCMD --x\n");
        let n = &d.nodes[0];
        assert_eq!(n.flags.len(), 2);
        assert_eq!(n.flags[0].name, "from");
        assert_eq!(n.flags[0].value.as_deref(), Some("build"));
        assert_eq!(n.flags[0].column, 6);
        assert_eq!(n.flags[1].column, 19);
        assert_eq!(n.rest, "a b");
        assert_eq!(
            d.nodes[1].flags[0].value.as_deref(),
            Some("type=cache,target=/c")
        );
        assert_eq!(d.nodes[1].rest, "make");
        assert_eq!(d.nodes[2].json, None, "malformed JSON is shell form");
        assert_eq!(d.nodes[3].flags[0].name, "x");
    }

    #[test]
    fn heredocs() {
        let d = p("FROM a\nRUN <<EOF\necho hi\n  two\nEOF\nCOPY <<-\"A\" <<B /dst/\n\t$x\n\tA\nb\nB\nRUN cat <<'Q' | sh\n$HOME\nQ\n");
        assert_eq!(d.nodes.len(), 4);
        let h = &d.nodes[1].heredocs;
        assert_eq!(h[0].name, "EOF");
        assert_eq!(h[0].content, "echo hi\n  two\n");
        assert!(h[0].expand);
        let h = &d.nodes[2].heredocs;
        assert_eq!(h.len(), 2);
        assert_eq!(
            (h[0].name.as_str(), h[0].content.as_str(), h[0].expand),
            ("A", "$x\n", false)
        );
        assert_eq!((h[1].name.as_str(), h[1].content.as_str()), ("B", "b\n"));
        assert_eq!(d.nodes[3].heredocs[0].content, "$HOME\n");
        assert!(!d.nodes[3].heredocs[0].expand);
        assert!(heredoc_markers("cat <<< x").is_empty());
        assert!(heredoc_markers("echo '<<EOF'").is_empty());
    }

    #[test]
    fn crlf_and_bom() {
        let d = p("\u{feff}FROM a\r\nRUN b \\\r\n c\r\n");
        assert_eq!(d.nodes[1].rest, "b  c");
    }
}
