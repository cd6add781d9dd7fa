//! `.dockerignore`: which context files a build never sees.
//!
//! Docker's rules: one pattern a line, `#` comments, surrounding whitespace trimmed, a leading
//! `/` ignored, patterns cleaned like paths; `*` and `?` do not cross `/`, `**` matches any
//! number of directories (also none); `!` re-includes what an earlier pattern excluded; the
//! last matching pattern wins; a pattern that matches a directory excludes what is under it.
//! `<Dockerfile>.dockerignore` next to the Dockerfile takes precedence over the context's.

use crate::shell::path_match;
use std::path::Path;

/// One pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    pub exception: bool,
    segments: Vec<String>,
}

/// The patterns of one ignore file, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    pub patterns: Vec<Pattern>,
}

/// Clean a slash path like Go's `path.Clean`, without the leading `/`.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

impl Matcher {
    /// Parse an ignore file's text.
    pub fn parse(text: &str) -> Matcher {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.strip_prefix('\u{feff}').unwrap_or(line);
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exception = p.starts_with('!');
            if exception {
                p = p[1..].trim();
                if p.is_empty() {
                    continue;
                }
            }
            let cleaned = clean(p);
            patterns.push(Pattern {
                segments: cleaned.split('/').map(String::from).collect(),
                text: cleaned,
                exception,
            });
        }
        Matcher { patterns }
    }

    /// Read the ignore file for a build: `<dockerfile>.dockerignore` if it exists, else the
    /// context's `.dockerignore`, else nothing.
    pub fn for_build(context: &Path, dockerfile: &Path) -> std::io::Result<Matcher> {
        let mut own = dockerfile.as_os_str().to_owned();
        own.push(".dockerignore");
        for p in [Path::new(&own).to_path_buf(), context.join(".dockerignore")] {
            match std::fs::read_to_string(&p) {
                Ok(t) => return Ok(Matcher::parse(&t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Matcher::default())
    }

    /// Whether any pattern re-includes something.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether the context path `rel` (slash-separated, relative) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let rel = clean(rel);
        let parts: Vec<&str> = rel.split('/').collect();
        let mut out = false;
        for p in &self.patterns {
            let hit = (1..=parts.len()).any(|n| segs_match(&p.segments, &parts[..n]));
            if hit {
                out = !p.exception;
            }
        }
        out
    }
}

fn segs_match(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|k| segs_match(rest, &path[k..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => {
                let f = first.replace("**", "*");
                path_match(&f, p) && segs_match(rest, prest)
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_pattern_rules() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            (
                "*.md",
                &[("a.md", true), ("d/a.md", false), ("a.mdx", false)],
            ),
            (
                "**/*.md",
                &[("a.md", true), ("d/e/a.md", true), ("a.txt", false)],
            ),
            (
                "/tmp\n",
                &[("tmp", true), ("tmp/x/y", true), ("a/tmp", false)],
            ),
            ("d/**\n", &[("d/x", true), ("d/x/y", true), ("e/x", false)]),
            (
                "**\n!keep\n",
                &[("x", true), ("keep", false), ("keep/in", false)],
            ),
            (
                "*\n!*.go\nbad.go\n",
                &[("a.go", false), ("bad.go", true), ("a.c", true)],
            ),
            ("# c\n\n  spaced  \n", &[("spaced", true), ("# c", false)]),
            ("a/../b\n./c\n", &[("b", true), ("c/x", true), ("a", false)]),
            (
                "node_modules\n",
                &[("node_modules/x/y.js", true), ("src/node_modules", false)],
            ),
            ("**/node_modules\n", &[("src/node_modules/x", true)]),
            (
                "x?[0-9]\n",
                &[("xa1", true), ("xab", false), ("x/1", false)],
            ),
            (
                "dir\n!dir/keep\n",
                &[("dir/a", true), ("dir/keep", false), ("dir/keep/z", false)],
            ),
        ];
        let documented: &[(&str, &[(&str, bool)])] = &[
            (
                "*/temp*",
                &[
                    ("somedir/temporary.txt", true),
                    ("somedir/temp", true),
                    ("temp", false),
                    ("a/b/temp", false),
                ],
            ),
            (
                "*/*/temp*",
                &[
                    ("somedir/subdir/temporary.txt", true),
                    ("somedir/temp", false),
                ],
            ),
            (
                "temp?",
                &[
                    ("tempa", true),
                    ("tempb", true),
                    ("temp", false),
                    ("tempab", false),
                ],
            ),
            (
                "*.md\n!README*.md\nREADME-secret.md\n",
                &[
                    ("a.md", true),
                    ("README.md", false),
                    ("README-secret.md", true),
                ],
            ),
            (
                "*.md\nREADME-secret.md\n!README*.md\n",
                &[("README-secret.md", false), ("x.md", true)],
            ),
            ("!a\n", &[("a", false), ("b", false)]),
            ("\n\n   \n", &[("anything", false)]),
            (".git\n", &[(".git/HEAD", true), (".gitignore", false)]),
        ];
        for (text, checks) in cases.iter().chain(documented) {
            let m = Matcher::parse(text);
            for (path, want) in *checks {
                assert_eq!(m.excluded(path), *want, "patterns {text:?}, path {path}");
            }
        }
    }

    #[test]
    fn dockerfile_specific_ignore_wins() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(".dockerignore"), "a\n").unwrap();
        let df = t.path().join("sub/Dockerfile");
        std::fs::create_dir_all(df.parent().unwrap()).unwrap();
        assert!(Matcher::for_build(t.path(), &df).unwrap().excluded("a"));
        std::fs::write(t.path().join("sub/Dockerfile.dockerignore"), "b\n").unwrap();
        let m = Matcher::for_build(t.path(), &df).unwrap();
        assert!(!m.excluded("a") && m.excluded("b"));
        assert_eq!(clean("/a//b/./c/.."), "a/b");
    }
}
