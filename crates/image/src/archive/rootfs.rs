//! Import of a root filesystem tar: the image config `docker import` makes, with
//! `-c/--change` Dockerfile instructions applied to it (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
//! USER, VOLUME, WORKDIR, STOPSIGNAL, ONBUILD, HEALTHCHECK), in exec (JSON) or shell form,
//! with `$VAR`/`${VAR}` substitution where a Dockerfile does it.

use super::ArchiveError;
use serde_json::{json, Map, Value};

type Result<T> = std::result::Result<T, ArchiveError>;

/// The container config (`config` in the image config) after applying `changes` in order.
pub fn apply_changes(changes: &[String]) -> Result<Map<String, Value>> {
    let mut st = State::default();
    for c in changes {
        st.apply(c).map_err(|detail| ArchiveError::Change {
            change: c.clone(),
            detail,
        })?;
    }
    Ok(st.config)
}

/// The image config of an imported rootfs.
pub fn image_config(
    config: Map<String, Value>,
    diff_id: &crate::Digest,
    created: i64,
    message: Option<&str>,
) -> Value {
    let host = crate::manifest::Platform::host();
    let comment = message
        .filter(|m| !m.is_empty())
        .unwrap_or("Imported from -");
    let created = super::rfc3339(created);
    let mut v = json!({
        "architecture": host.architecture,
        "os": host.os,
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": created, "created_by": "import", "comment": comment}],
    });
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        v["comment"] = json!(m);
    }
    if let Some(var) = host.variant {
        v["variant"] = json!(var);
    }
    v
}

#[derive(Default)]
struct State {
    config: Map<String, Value>,
    cmd_set: bool,
}

type Res<T> = std::result::Result<T, String>;

const NOT_ALLOWED: &[&str] = &["from", "run", "copy", "add", "arg", "shell", "maintainer"];

impl State {
    fn env(&self) -> Vec<(String, String)> {
        self.config
            .get("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (kv.to_string(), String::new()),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn apply(&mut self, change: &str) -> Res<()> {
        let change = change.trim();
        let (kw, rest) = match change.find(char::is_whitespace) {
            Some(i) => (&change[..i], change[i..].trim()),
            None => (change, ""),
        };
        let lower = kw.to_ascii_lowercase();
        if kw.is_empty() {
            return Err("empty instruction".into());
        }
        if NOT_ALLOWED.contains(&lower.as_str()) {
            return Err(format!("{lower} is not a valid change command"));
        }
        let known = [
            "cmd",
            "entrypoint",
            "env",
            "expose",
            "label",
            "user",
            "volume",
            "workdir",
            "stopsignal",
            "onbuild",
            "healthcheck",
        ];
        if !known.contains(&lower.as_str()) {
            return Err(format!("unknown instruction: {}", kw.to_uppercase()));
        }
        if rest.is_empty() {
            return Err(format!(
                "{} requires at least one argument",
                kw.to_uppercase()
            ));
        }
        let env = self.env();
        match lower.as_str() {
            "cmd" => {
                let v = command(rest);
                self.config.insert("Cmd".into(), json!(v));
                self.cmd_set = true;
            }
            "entrypoint" => {
                let v = command(rest);
                self.config.insert("Entrypoint".into(), json!(v));
                if !self.cmd_set {
                    self.config.remove("Cmd");
                }
            }
            "env" => {
                for (k, v) in pairs(rest, &env, "ENV")? {
                    let list = self
                        .config
                        .entry("Env")
                        .or_insert_with(|| json!([]))
                        .as_array_mut()
                        .ok_or("Env is not a list")?;
                    let entry = json!(format!("{k}={v}"));
                    let prefix = format!("{k}=");
                    match list
                        .iter_mut()
                        .find(|e| e.as_str().is_some_and(|s| s.starts_with(&prefix) || s == k))
                    {
                        Some(e) => *e = entry,
                        None => list.push(entry),
                    }
                }
            }
            "label" => {
                for (k, v) in pairs(rest, &env, "LABEL")? {
                    self.config
                        .entry("Labels")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .ok_or("Labels is not a map")?
                        .insert(k, json!(v));
                }
            }
            "expose" => {
                for w in words(rest, Some(&env))? {
                    for p in expose(&w)? {
                        self.config
                            .entry("ExposedPorts")
                            .or_insert_with(|| json!({}))
                            .as_object_mut()
                            .ok_or("ExposedPorts is not a map")?
                            .insert(p, json!({}));
                    }
                }
            }
            "user" => {
                let w = one_word(rest, &env, "USER")?;
                self.config.insert("User".into(), json!(w));
            }
            "volume" => {
                let vols = match json_array(rest) {
                    Some(v) => v,
                    None => words(rest, Some(&env))?,
                };
                for v in vols {
                    if v.trim().is_empty() {
                        return Err("VOLUME specified can not be an empty string".into());
                    }
                    self.config
                        .entry("Volumes")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .ok_or("Volumes is not a map")?
                        .insert(v, json!({}));
                }
            }
            "workdir" => {
                let w = expand_all(rest, &env)?;
                let base = self
                    .config
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .unwrap_or("/")
                    .to_string();
                let joined = if w.starts_with('/') {
                    w
                } else {
                    format!("{base}/{w}")
                };
                self.config
                    .insert("WorkingDir".into(), json!(clean_path(&joined)));
            }
            "stopsignal" => {
                let w = one_word(rest, &env, "STOPSIGNAL")?;
                if !valid_signal(&w) {
                    return Err(format!("invalid signal: {w}"));
                }
                self.config.insert("StopSignal".into(), json!(w));
            }
            "onbuild" => {
                let (inner, _) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                let inner = inner.to_ascii_uppercase();
                if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(format!("{inner} isn't allowed as an ONBUILD trigger"));
                }
                let trigger = format!("{inner}{}", &rest[inner.len()..]);
                self.config
                    .entry("OnBuild")
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .ok_or("OnBuild is not a list")?
                    .push(json!(trigger));
            }
            "healthcheck" => {
                let hc = healthcheck(rest)?;
                self.config.insert("Healthcheck".into(), hc);
            }
            _ => unreachable!("checked against the known list"),
        }
        Ok(())
    }
}

/// CMD/ENTRYPOINT: a JSON array of strings (exec form) or a shell command.
fn command(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

fn one_word(rest: &str, env: &[(String, String)], kw: &str) -> Res<String> {
    let w = words(rest, Some(env))?;
    match w.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!("{kw} requires exactly one argument")),
    }
}

/// `k=v k2="v 2"` pairs, or the legacy `k v with spaces` form.
fn pairs(rest: &str, env: &[(String, String)], kw: &str) -> Res<Vec<(String, String)>> {
    let first = rest.split(char::is_whitespace).next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{kw} must have two arguments"))?;
        let k = expand_all(k, env)?;
        let v = expand_all(v.trim(), env)?;
        return Ok(vec![(k, v)]);
    }
    let mut out = Vec::new();
    for w in words(rest, Some(env))? {
        let (k, v) = w.split_once('=').ok_or_else(|| {
            format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value")
        })?;
        if k.is_empty() {
            return Err(format!("{kw} names can not be blank"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Expand variables and remove quotes in a whole argument, keeping its spaces.
fn expand_all(s: &str, env: &[(String, String)]) -> Res<String> {
    Ok(lex(s, Some(env), false)?.join(""))
}

/// Split into words as a Dockerfile does: whitespace separates, quotes group, `\` escapes,
/// `$VAR`/`${VAR}`/`${VAR:-x}`/`${VAR:+x}` expand (not inside single quotes).
fn words(s: &str, env: Option<&[(String, String)]>) -> Res<Vec<String>> {
    lex(s, env, true)
}

fn lex(s: &str, env: Option<&[(String, String)]>, split: bool) -> Res<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if split && c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(
                            "unexpected end of statement while looking for matching single-quote"
                                .into(),
                        ),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                        },
                        Some('$') if env.is_some() => {
                            cur.push_str(&variable(&mut chars, env.unwrap_or_default())?)
                        }
                        Some(c) => cur.push(c),
                        None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '$' if env.is_some() => {
                in_word = true;
                cur.push_str(&variable(&mut chars, env.unwrap_or_default())?);
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word || !split {
        out.push(cur);
    }
    Ok(out)
}

fn variable(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    env: &[(String, String)],
) -> Res<String> {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if chars.peek() == Some(&'{') {
        chars.next();
        let mut body = String::new();
        loop {
            match chars.next() {
                Some('}') => break,
                Some(c) => body.push(c),
                None => return Err("missing '}' in variable".into()),
            }
        }
        let (name, op) = match body.find(':') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body.as_str(), None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad substitution: ${{{body}}}"));
        }
        let val = lookup(name);
        return match op {
            None => Ok(val.unwrap_or_default()),
            Some(o) if o.starts_with('-') => Ok(val
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| o[1..].to_string())),
            Some(o) if o.starts_with('+') => Ok(match val.filter(|v| !v.is_empty()) {
                Some(_) => o[1..].to_string(),
                None => String::new(),
            }),
            Some(_) => Err(format!("unsupported modifier in ${{{body}}}")),
        };
    }
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_alphanumeric() || c == '_' {
            name.push(c);
            chars.next();
        } else {
            break;
        }
    }
    if name.is_empty() {
        return Ok("$".into());
    }
    Ok(lookup(&name).unwrap_or_default())
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp` … keys.
fn expose(w: &str) -> Res<Vec<String>> {
    let (ports, proto) = match w.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (w, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let port = |p: &str| -> Res<u16> {
        p.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("invalid containerPort: {p}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if hi < lo {
        return Err(format!(
            "invalid range specified for container port: {ports}"
        ));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if SIGNALS.contains(&name) {
        return true;
    }
    let rt = |base: &str| {
        name.strip_prefix(base).is_some_and(|r| {
            r.is_empty()
                || r.strip_prefix(['+', '-'])
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n <= 15)
        })
    };
    rt("RTMIN") || rt("RTMAX")
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=…] CMD …`.
fn healthcheck(rest: &str) -> Res<Value> {
    let mut s = rest.trim();
    let mut hc = Map::new();
    while let Some(flag) = s.strip_prefix("--") {
        let (f, after) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        let (name, val) = f
            .split_once('=')
            .ok_or_else(|| format!("flag --{f} needs a value"))?;
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => "Retries",
            other => return Err(format!("unknown flag: --{other}")),
        };
        let v = if key == "Retries" {
            val.parse::<u64>()
                .map_err(|_| format!("invalid retries: {val}"))? as i64
        } else {
            duration_ns(val).ok_or_else(|| format!("invalid duration for --{name}: {val}"))?
        };
        hc.insert(key.into(), json!(v));
        s = after.trim_start();
    }
    let (kw, cmd) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
    let test = match kw.to_ascii_uppercase().as_str() {
        "NONE" if cmd.trim().is_empty() && hc.is_empty() => json!(["NONE"]),
        "NONE" => return Err("HEALTHCHECK NONE takes no arguments".into()),
        "CMD" if !cmd.trim().is_empty() => match json_array(cmd.trim()) {
            Some(v) => json!(std::iter::once("CMD".to_string())
                .chain(v)
                .collect::<Vec<_>>()),
            None => json!(["CMD-SHELL", cmd.trim()]),
        },
        _ => return Err("HEALTHCHECK must be NONE or CMD <command>".into()),
    };
    hc.insert("Test".into(), test);
    Ok(Value::Object(hc))
}

/// A Go duration (`30s`, `1m30s`, `500ms`, `0`) in nanoseconds, as Docker's flags and
/// Dockerfile options take them; None for anything else (a number needs its unit).
pub fn duration_ns(s: &str) -> Option<i64> {
    let mut total: f64 = 0.0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(changes: &[&str]) -> Value {
        let c: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        Value::Object(apply_changes(&c).unwrap())
    }

    fn err(change: &str) -> String {
        apply_changes(&[change.to_string()])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn instructions_apply_in_both_forms() {
        let c = cfg(&[
            "ENV PATH=/bin:/usr/bin HOME=\"/root dir\"",
            "ENV LEGACY value with spaces",
            "CMD echo $HOME",
            "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
            "EXPOSE 80 53/udp 8000-8001",
            "LABEL a=b \"c d\"=\"e f\"",
            "USER 1000:1000",
            "VOLUME [\"/data\", \"/logs\"]",
            "VOLUME /cache",
            "WORKDIR /app",
            "WORKDIR sub/../src",
            "STOPSIGNAL SIGINT",
            "onbuild run echo hi",
            "HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost",
            "ENV HOME=/home/$LEGACY",
        ]);
        assert_eq!(
            c["Env"],
            json!([
                "PATH=/bin:/usr/bin",
                "HOME=/home/value with spaces",
                "LEGACY=value with spaces"
            ])
        );
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo $HOME"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c"]));
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(c["Labels"], json!({"a": "b", "c d": "e f"}));
        assert_eq!(c["User"], json!("1000:1000"));
        assert_eq!(
            c["Volumes"],
            json!({"/data": {}, "/logs": {}, "/cache": {}})
        );
        assert_eq!(c["WorkingDir"], json!("/app/src"));
        assert_eq!(c["StopSignal"], json!("SIGINT"));
        assert_eq!(c["OnBuild"], json!(["RUN echo hi"]));
        assert_eq!(
            c["Healthcheck"],
            json!({"Interval": 30_000_000_000u64, "Retries": 3, "Test": ["CMD-SHELL", "wget -q localhost"]})
        );
    }

    #[test]
    fn entrypoint_resets_an_unset_cmd_only() {
        assert!(cfg(&["ENTRYPOINT top"]).get("Cmd").is_none());
        let c = cfg(&["CMD [\"-b\"]", "ENTRYPOINT [\"top\"]"]);
        assert_eq!(c["Cmd"], json!(["-b"]));
    }

    #[test]
    fn bad_instructions_name_themselves() {
        assert!(err("RUN rm -rf /").contains("run is not a valid change command"));
        assert!(err("FROGS x").contains("unknown instruction: FROGS"));
        assert!(err("EXPOSE 99999").contains("invalid containerPort: 99999"));
        assert!(err("EXPOSE 80/icmp").contains("invalid proto"));
        assert!(err("STOPSIGNAL SIGFOO").contains("invalid signal: SIGFOO"));
        assert!(err("CMD").contains("CMD requires at least one argument"));
        assert!(err("ENV a=1 b").contains("can't find = in \"b\""));
        assert!(err("USER a b").contains("exactly one argument"));
        assert!(err("HEALTHCHECK --bogus=1 CMD x").contains("unknown flag"));
        assert!(err("RUN x").starts_with("invalid change \"RUN x\""));
    }
}
