//! Instruction validation: syntax nodes become typed instructions grouped into stages, with
//! Docker's messages for wrong arity, unknown flags, bad forms and misplaced instructions, and
//! the build checks (`--check`) as warnings. Variables are not expanded here: that depends on
//! the ARG and ENV state when the instruction runs (see [`crate::builder`]).

use crate::syntax::{Dockerfile, Heredoc, Node, ParseError};

/// Shell form (run through the stage's SHELL) or exec form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    /// Sources and destination as written (expanded when the step runs).
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `["NONE"]` or `["CMD", …]` / `["CMD-SHELL", "…"]`.
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

/// A validated instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run {
        command: Command,
        mounts: Vec<String>,
        network: Option<String>,
        security: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    /// Raw `key=value` words (quotes kept for expansion).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    StopSignal(String),
    Maintainer(String),
    Onbuild(String),
    Healthcheck(Health),
    Copy(CopySpec),
    Add(CopySpec),
}

/// An instruction with the node it came from (position, original text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub instruction: Instruction,
    pub node: Node,
}

/// `FROM base [AS name]` and the steps after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    pub base: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub node: Node,
    pub steps: Vec<Step>,
}

/// A build check finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub rule: &'static str,
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// A whole validated Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub file: String,
    pub escape: char,
    /// ARGs before the first FROM.
    pub meta_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
    pub warnings: Vec<Warning>,
    /// `# check=error=true`: warnings fail the build.
    pub warnings_are_errors: bool,
}

impl Program {
    /// The index of the stage called `name` (or with that number).
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|&n| n < self.stages.len())
            })
    }
}

fn allowed_flags(kw: &str) -> &'static [&'static str] {
    match kw {
        "from" => &["platform"],
        "run" => &["mount", "network", "security"],
        "copy" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "add" => &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ],
        "healthcheck" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    }
}

/// Split on unquoted whitespace, keeping quotes and escapes in the words.
pub fn split_raw(s: &str, esc: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == esc {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct V<'a> {
    file: &'a str,
    esc: char,
    warnings: Vec<Warning>,
}

impl V<'_> {
    fn warn(&mut self, n: &Node, rule: &'static str, message: String) {
        self.warnings.push(Warning {
            rule,
            message,
            line: n.line,
            column: n.column,
        });
    }

    fn name_values(
        &mut self,
        n: &Node,
        what: &str,
        legacy_ok: bool,
    ) -> Result<Vec<(String, String)>, ParseError> {
        let words = split_raw(&n.rest, self.esc);
        if words.is_empty() {
            return Err(n.error(self.file, format!("{what} requires at least one argument")));
        }
        if !words[0].contains('=') {
            if !legacy_ok {
                return Err(n.error(self.file, format!("{what} requires at least one argument")));
            }
            // `ENV key value with spaces`: the legacy form.
            let rest = n.rest.trim_start()[words[0].len()..].trim().to_string();
            if rest.is_empty() {
                return Err(n.error(self.file, format!("{what} must have two arguments")));
            }
            self.warn(
                n,
                "LegacyKeyValueFormat",
                format!("\"{what} key=value\" should be used instead of legacy \"{what} key value\" format"),
            );
            return Ok(vec![(words[0].clone(), rest)]);
        }
        let mut out = Vec::new();
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                return Err(n.error(
                    self.file,
                    format!(
                        "Syntax error - can't find = in \"{w}\". Must be of the form: name=value"
                    ),
                ));
            };
            if k.is_empty() {
                return Err(n.error(self.file, format!("{what} names can not be blank")));
            }
            out.push((k.to_string(), v.to_string()));
        }
        Ok(out)
    }

    fn command(&mut self, n: &Node) -> Command {
        match &n.json {
            Some(v) => Command::Exec(v.clone()),
            None => Command::Shell(n.rest.clone()),
        }
    }

    fn instruction(&mut self, n: &Node) -> Result<Instruction, ParseError> {
        let kw = n.keyword.as_str();
        let allowed = allowed_flags(kw);
        for f in &n.flags {
            if !allowed.contains(&f.name.as_str()) {
                return Err(ParseError {
                    file: self.file.to_string(),
                    line: n.line,
                    column: f.column,
                    message: format!("unknown flag: {}", f.name),
                });
            }
        }
        let flag = |name: &str| -> Option<String> {
            n.flags
                .iter()
                .rev()
                .find(|f| f.name == name)
                .map(|f| f.value.clone().unwrap_or_else(|| "true".into()))
        };
        let flags_all = |name: &str| -> Vec<String> {
            n.flags
                .iter()
                .filter(|f| f.name == name)
                .filter_map(|f| f.value.clone())
                .collect()
        };
        let upper = kw.to_ascii_uppercase();
        let exactly_one = |v: &mut Self| -> Result<String, ParseError> {
            let w = split_raw(&n.rest, v.esc);
            if w.len() != 1 {
                return Err(n.error(v.file, format!("{upper} requires exactly one argument")));
            }
            Ok(w[0].clone())
        };
        Ok(match kw {
            "run" => {
                if n.rest.is_empty() && n.heredocs.is_empty() {
                    return Err(n.error(self.file, "RUN requires at least one argument"));
                }
                Instruction::Run {
                    command: self.command(n),
                    mounts: flags_all("mount"),
                    network: flag("network"),
                    security: flag("security"),
                    heredocs: n.heredocs.clone(),
                }
            }
            "cmd" | "entrypoint" => {
                let c = self.command(n);
                if matches!(c, Command::Shell(_)) && !n.rest.is_empty() {
                    self.warn(
                        n,
                        "JSONArgsRecommended",
                        format!("JSON arguments recommended for {upper} to prevent unintended behavior related to OS signals"),
                    );
                }
                if kw == "cmd" {
                    Instruction::Cmd(c)
                } else {
                    Instruction::Entrypoint(c)
                }
            }
            "shell" => match &n.json {
                Some(v) if !v.is_empty() => Instruction::Shell(v.clone()),
                _ => {
                    return Err(
                        n.error(self.file, "SHELL requires the arguments to be in JSON form")
                    )
                }
            },
            "env" => Instruction::Env(self.name_values(n, "ENV", true)?),
            "label" => Instruction::Label(self.name_values(n, "LABEL", true)?),
            "arg" => {
                let words = split_raw(&n.rest, self.esc);
                if words.is_empty() {
                    return Err(n.error(self.file, "ARG requires at least one argument"));
                }
                let mut out = Vec::new();
                for w in words {
                    match w.split_once('=') {
                        Some(("", _)) => {
                            return Err(n.error(self.file, "ARG names can not be blank"))
                        }
                        Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                        None => out.push((w, None)),
                    }
                }
                Instruction::Arg(out)
            }
            "expose" => {
                let w = split_raw(&n.rest, self.esc);
                if w.is_empty() {
                    return Err(n.error(self.file, "EXPOSE requires at least one argument"));
                }
                Instruction::Expose(w)
            }
            "volume" => {
                let w = match &n.json {
                    Some(v) => v.clone(),
                    None => split_raw(&n.rest, self.esc),
                };
                if w.is_empty() || w.iter().any(|s| s.trim().is_empty()) {
                    return Err(n.error(self.file, "VOLUME specified can not be an empty string"));
                }
                Instruction::Volume(w)
            }
            "user" => Instruction::User(exactly_one(self)?),
            "workdir" => Instruction::Workdir(exactly_one(self)?),
            "stopsignal" => Instruction::StopSignal(exactly_one(self)?),
            "maintainer" => {
                if n.rest.is_empty() {
                    return Err(n.error(self.file, "MAINTAINER requires exactly one argument"));
                }
                self.warn(
                    n,
                    "MaintainerDeprecated",
                    "Maintainer instruction is deprecated in favor of using label".into(),
                );
                Instruction::Maintainer(n.rest.clone())
            }
            "onbuild" => {
                if n.rest.is_empty() {
                    return Err(n.error(self.file, "ONBUILD requires at least one argument"));
                }
                let trig = n
                    .rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match trig.as_str() {
                    "ONBUILD" => {
                        return Err(n.error(
                            self.file,
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                        ))
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(n.error(
                            self.file,
                            format!("{trig} isn't allowed as an ONBUILD trigger"),
                        ))
                    }
                    _ => {}
                }
                // The trigger must itself be a valid instruction.
                let inner = crate::syntax::parse(self.file, &n.rest).map_err(|mut e| {
                    e.line = n.line;
                    e
                })?;
                for node in &inner.nodes {
                    self.instruction(node)?;
                }
                Instruction::Onbuild(n.rest.clone())
            }
            "healthcheck" => {
                let words = split_raw(&n.rest, self.esc);
                let Some(first) = words.first() else {
                    return Err(n.error(self.file, "HEALTHCHECK requires at least one argument"));
                };
                let typ = first.to_ascii_uppercase();
                let test = match typ.as_str() {
                    "NONE" => {
                        if words.len() > 1 || !n.flags.is_empty() {
                            return Err(n.error(self.file, "HEALTHCHECK NONE takes no arguments"));
                        }
                        vec!["NONE".to_string()]
                    }
                    "CMD" => {
                        let rest = n.rest.trim_start()[first.len()..].trim();
                        match crate::syntax::parse_json_array(rest) {
                            Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                            None if rest.is_empty() => {
                                return Err(
                                    n.error(self.file, "Missing command after HEALTHCHECK CMD")
                                )
                            }
                            None => vec!["CMD-SHELL".to_string(), rest.to_string()],
                        }
                    }
                    _ => {
                        return Err(n.error(
                            self.file,
                            format!("Unknown type \"{typ}\" in HEALTHCHECK (try CMD)"),
                        ))
                    }
                };
                if let Some(r) = flag("retries") {
                    if r.parse::<i64>().map_or(true, |v| v < 0) {
                        return Err(n.error(
                            self.file,
                            format!("--retries must be a non-negative integer, got {r:?}"),
                        ));
                    }
                }
                for d in ["interval", "timeout", "start-period", "start-interval"] {
                    if let Some(v) = flag(d) {
                        if crate::builder::parse_duration(&v).is_none() {
                            return Err(
                                n.error(self.file, format!("invalid duration for --{d}: {v:?}"))
                            );
                        }
                    }
                }
                Instruction::Healthcheck(Health {
                    test,
                    interval: flag("interval"),
                    timeout: flag("timeout"),
                    start_period: flag("start-period"),
                    start_interval: flag("start-interval"),
                    retries: flag("retries"),
                })
            }
            "copy" | "add" => {
                let mut words = match &n.json {
                    Some(v) => v.clone(),
                    None => split_raw(&n.rest, self.esc),
                };
                let here: Vec<Heredoc> = n.heredocs.clone();
                // Heredoc markers stand for sources.
                let need = if here.is_empty() { 2 } else { 1 };
                if words.len() < need {
                    return Err(n.error(
                        self.file,
                        format!("{upper} requires at least two arguments, but only one was provided. Destination could not be determined"),
                    ));
                }
                let dest = words.pop().expect("checked");
                let spec = CopySpec {
                    sources: words,
                    dest,
                    from: flag("from"),
                    chown: flag("chown"),
                    chmod: flag("chmod"),
                    link: flag("link").is_some_and(|v| v != "false"),
                    parents: flag("parents").is_some_and(|v| v != "false"),
                    exclude: flags_all("exclude"),
                    checksum: flag("checksum"),
                    heredocs: here,
                };
                if let Some(m) = &spec.chmod {
                    if !m.contains('$') && u32::from_str_radix(m, 8).map_or(true, |v| v > 0o7777) {
                        return Err(n.error(
                            self.file,
                            format!("invalid chmod parameter: {m}. it should be octal string and between 0 and 07777"),
                        ));
                    }
                }
                if kw == "copy" {
                    Instruction::Copy(spec)
                } else {
                    Instruction::Add(spec)
                }
            }
            other => {
                return Err(n.error(self.file, format!("unknown instruction: {other}")));
            }
        })
    }
}

fn valid_stage_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || "-_.".contains(x))
}

/// Validate a parsed Dockerfile into stages.
pub fn validate(d: &Dockerfile) -> Result<Program, ParseError> {
    let mut v = V {
        file: &d.file,
        esc: d.directives.escape,
        warnings: Vec::new(),
    };
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for n in &d.nodes {
        if n.keyword == "from" {
            for f in &n.flags {
                if f.name != "platform" {
                    return Err(ParseError {
                        file: d.file.clone(),
                        line: n.line,
                        column: f.column,
                        message: format!("unknown flag: {}", f.name),
                    });
                }
            }
            let w = split_raw(&n.rest, v.esc);
            let ok = w.len() == 1 || (w.len() == 3 && w[1].eq_ignore_ascii_case("as"));
            if !ok {
                return Err(n.error(&d.file, "FROM requires either one or three arguments"));
            }
            let name = if w.len() == 3 {
                let raw = &w[2];
                let lower = raw.to_ascii_lowercase();
                if !valid_stage_name(&lower) {
                    return Err(n.error(
                        &d.file,
                        format!("invalid name for build stage: \"{raw}\", name can't start with a number or contain symbols"),
                    ));
                }
                if *raw != lower {
                    v.warn(
                        n,
                        "StageNameCasing",
                        format!("Stage name '{raw}' should be lowercase"),
                    );
                }
                let kw_upper = n.keyword_raw.chars().all(|c| c.is_ascii_uppercase());
                let as_upper = w[1].chars().all(|c| c.is_ascii_uppercase());
                if kw_upper != as_upper {
                    v.warn(
                        n,
                        "FromAsCasing",
                        format!(
                            "'{}' and '{}' keywords' casing do not match",
                            w[1], n.keyword_raw
                        ),
                    );
                }
                if stages
                    .iter()
                    .any(|s| s.name.as_deref() == Some(lower.as_str()))
                {
                    return Err(n.error(&d.file, format!("duplicate stage name \"{lower}\"")));
                }
                Some(lower)
            } else {
                None
            };
            stages.push(Stage {
                index: stages.len(),
                base: w[0].clone(),
                name,
                platform: n
                    .flags
                    .iter()
                    .find(|f| f.name == "platform")
                    .and_then(|f| f.value.clone()),
                node: n.clone(),
                steps: Vec::new(),
            });
            continue;
        }
        let ins = v.instruction(n)?;
        match stages.last_mut() {
            Some(s) => s.steps.push(Step {
                instruction: ins,
                node: n.clone(),
            }),
            None => match ins {
                Instruction::Arg(a) => meta_args.extend(a),
                _ => return Err(n.error(&d.file, "no build stage in current context")),
            },
        }
    }
    if stages.is_empty() {
        return Err(ParseError {
            file: d.file.clone(),
            line: d.nodes.last().map_or(1, |n| n.line),
            column: 1,
            message: "the Dockerfile has no FROM instruction: nothing to build".into(),
        });
    }
    for s in &stages {
        for kw in ["cmd", "entrypoint", "healthcheck"] {
            let of: Vec<&Step> = s.steps.iter().filter(|st| st.node.keyword == kw).collect();
            if of.len() > 1 {
                let last = of[of.len() - 1];
                let up = kw.to_ascii_uppercase();
                v.warn(
                    &last.node,
                    "MultipleInstructionsDisallowed",
                    format!("Multiple {up} instructions should not be used in the same stage because only the last one will be used"),
                );
            }
        }
    }
    let (skip, error) = check_directive(d.directives.check.as_deref());
    let warnings = v
        .warnings
        .into_iter()
        .filter(|w| !skip.iter().any(|s| s == "all" || s == w.rule))
        .collect();
    Ok(Program {
        file: d.file.clone(),
        escape: d.directives.escape,
        meta_args,
        stages,
        warnings,
        warnings_are_errors: error,
    })
}

/// `skip=A,B;error=true` → (rules to skip, whether warnings are errors).
fn check_directive(s: Option<&str>) -> (Vec<String>, bool) {
    let mut skip = Vec::new();
    let mut error = false;
    for part in s.unwrap_or("").split(';') {
        match part.trim().split_once('=') {
            Some(("skip", v)) => skip.extend(v.split(',').map(|x| x.trim().to_string())),
            Some(("error", v)) => error = v.trim() == "true",
            _ => {}
        }
    }
    (skip, error)
}

/// Parse and validate in one go.
pub fn load(file: &str, text: &str) -> Result<Program, ParseError> {
    validate(&crate::syntax::parse(file, text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(t: &str) -> String {
        load("Dockerfile", t).unwrap_err().to_string()
    }

    #[test]
    fn validation_errors_with_positions() {
        let cases: &[(&str, &str)] = &[
            ("RUN x", "Dockerfile:1:1: no build stage in current context"),
            ("FROM a b", "Dockerfile:1:1: FROM requires either one or three arguments"),
            ("FROM a TO b", "Dockerfile:1:1: FROM requires either one or three arguments"),
            ("FROM a AS 1x", "Dockerfile:1:1: invalid name for build stage: \"1x\", name can't start with a number or contain symbols"),
            ("FROM a AS x\nFROM b AS x", "Dockerfile:2:1: duplicate stage name \"x\""),
            ("FROM a\nCOPY x", "Dockerfile:2:1: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
            ("FROM a\n  COPY --chmod=999 a b", "Dockerfile:2:3: invalid chmod parameter: 999. it should be octal string and between 0 and 07777"),
            ("FROM a\nCOPY --nope=1 a b", "Dockerfile:2:6: unknown flag: nope"),
            ("FROM --platform=x --nope a", "Dockerfile:1:19: unknown flag: nope"),
            ("FROM a\nWORKDIR a b", "Dockerfile:2:1: WORKDIR requires exactly one argument"),
            ("FROM a\nSHELL sh -c", "Dockerfile:2:1: SHELL requires the arguments to be in JSON form"),
            ("FROM a\nENV", "Dockerfile:2:1: ENV requires at least one argument"),
            ("FROM a\nENV a=1 b", "Dockerfile:2:1: Syntax error - can't find = in \"b\". Must be of the form: name=value"),
            ("FROM a\nENV =1", "Dockerfile:2:1: ENV names can not be blank"),
            ("FROM a\nONBUILD ONBUILD RUN x", "Dockerfile:2:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
            ("FROM a\nONBUILD FROM x", "Dockerfile:2:1: FROM isn't allowed as an ONBUILD trigger"),
            ("FROM a\nHEALTHCHECK FOO x", "Dockerfile:2:1: Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
            ("FROM a\nHEALTHCHECK --interval=abc CMD x", "Dockerfile:2:1: invalid duration for --interval: \"abc\""),
            ("FROM a\nEXPOSE", "Dockerfile:2:1: EXPOSE requires at least one argument"),
            ("ARG x\n", "Dockerfile:1:1: the Dockerfile has no FROM instruction: nothing to build"),
        ];
        for (t, want) in cases {
            assert_eq!(&err(t), want, "{t}");
        }
    }

    #[test]
    fn stages_args_and_forms() {
        let p = load(
            "Dockerfile",
            "ARG V=1 W\nFROM --platform=linux/amd64 img:$V AS Build\nENV a=1 b=\"x y\"\nENV legacy some value\nCMD echo hi\nCMD [\"a\"]\nfrom scratch\nCOPY --from=build [\"/a b\", \"/c\"]\nCOPY <<EOF /f\nhi\nEOF\n",
        )
        .unwrap();
        assert_eq!(
            p.meta_args,
            vec![("V".into(), Some("1".into())), ("W".into(), None)]
        );
        assert_eq!(p.stages.len(), 2);
        assert_eq!(p.stages[0].name.as_deref(), Some("build"));
        assert_eq!(p.stages[0].platform.as_deref(), Some("linux/amd64"));
        assert_eq!(
            p.stages[0].steps[0].instruction,
            Instruction::Env(vec![
                ("a".into(), "1".into()),
                ("b".into(), "\"x y\"".into())
            ])
        );
        assert_eq!(
            p.stages[0].steps[1].instruction,
            Instruction::Env(vec![("legacy".into(), "some value".into())])
        );
        let rules: Vec<&str> = p.warnings.iter().map(|w| w.rule).collect();
        assert_eq!(
            rules,
            vec![
                "StageNameCasing",
                "LegacyKeyValueFormat",
                "JSONArgsRecommended",
                "MultipleInstructionsDisallowed"
            ]
        );
        match &p.stages[1].steps[0].instruction {
            Instruction::Copy(c) => {
                assert_eq!(c.sources, vec!["/a b"]);
                assert_eq!(c.dest, "/c");
                assert_eq!(c.from.as_deref(), Some("build"));
            }
            o => panic!("{o:?}"),
        }
        match &p.stages[1].steps[1].instruction {
            Instruction::Copy(c) => {
                assert_eq!(c.sources, vec!["<<EOF"]);
                assert_eq!(c.heredocs[0].content, "hi\n");
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(p.stage_index("build"), Some(0));
        assert_eq!(p.stage_index("1"), Some(1));
        let p = load(
            "Dockerfile",
            "# check=skip=JSONArgsRecommended;error=true\nFROM a\nCMD x\nMAINTAINER me",
        )
        .unwrap();
        assert!(p.warnings_are_errors);
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.warnings[0].rule, "MaintainerDeprecated");
    }
}
