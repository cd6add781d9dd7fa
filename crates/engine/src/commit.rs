//! `commit`: a container's changes as a new image — the image's layers plus one layer from
//! the container's overlay upper dir (deletions as whiteouts), and a config from the
//! container's, with Dockerfile-style changes (`CMD`, `ENV`, …) applied on top.

use crate::container::{Container, Status};
use crate::engine::{Engine, EngineError, Kind, Result};
use image::commit::LayerRef;
use image::layer::diff::DiffOptions;
use serde_json::{json, Map, Value};

/// What `POST /commit` asks for.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `repo[:tag]` to name the image (none: untagged).
    pub reference: Option<String>,
    pub comment: String,
    pub author: String,
    /// Freeze the container while its changes are read.
    pub pause: bool,
    /// Dockerfile instructions applied to the new config.
    pub changes: Vec<String>,
    /// `Config` fields that replace the container's.
    pub config: Option<Value>,
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::new(Kind::Invalid, msg)
}

fn internal(msg: impl std::fmt::Display) -> EngineError {
    EngineError::new(Kind::Internal, msg.to_string())
}

impl Engine {
    /// Commit the container `key`; returns the new image ID (`sha256:…`).
    pub fn commit(&self, key: &str, opts: &CommitOptions) -> Result<String> {
        let c = self.store.get(key)?;
        let mut config = c.config.clone();
        if let Some(over) = opts.config.as_ref().and_then(Value::as_object) {
            for (k, v) in over {
                if !v.is_null() {
                    config[k] = v.clone();
                }
            }
        }
        for change in &opts.changes {
            apply_change(&mut config, change)?;
        }
        if let Some(r) = &opts.reference {
            image::Reference::parse(r)
                .map_err(|e| invalid(format!("invalid reference format: {e}")))?;
        }
        let freeze = opts.pause && c.state.status == Status::Running;
        if freeze {
            self.pause(&c.id)?;
        }
        let layer = self.commit_layer(&c);
        if freeze {
            let _ = self.unpause(&c.id);
        }
        let layer = layer?;
        let (base, mut layers) = self.base_image(&c)?;
        layers.push(LayerRef::from(&layer));
        let img = image_config(&c, base, config, &layer, opts);
        let names: Vec<String> = opts.reference.iter().cloned().collect();
        let rec = self.images.create_image(&img, &layers, &names)?;
        let id = rec.config.to_string();
        self.emit(&c, "commit", &[("comment", opts.comment.clone())]);
        Ok(id)
    }

    /// The upper dir as a layer over the container's image (an empty layer when the
    /// container never ran).
    fn commit_layer(&self, c: &Container) -> Result<image::commit::NewLayer> {
        let info = self.images.inspect(&c.image)?;
        let upper = self.rootfs_dir(&c.id).join("upper");
        let empty;
        let dir = if upper.is_dir() {
            upper
        } else {
            empty = tempdir_in(&self.rootfs_dir(&c.id))?;
            empty.0.clone()
        };
        Ok(self
            .images
            .commit_upper(&info.chain_ids, &dir, &DiffOptions::default(), false)?)
    }

    /// The image's raw config and its layers.
    fn base_image(&self, c: &Container) -> Result<(Value, Vec<LayerRef>)> {
        let info = self.images.inspect(&c.image)?;
        let raw = self
            .images
            .content()
            .read(&info.record.config)
            .map_err(internal)?;
        let base: Value = serde_json::from_slice(&raw).map_err(internal)?;
        let diff_ids = image::manifest::diff_ids(&info.config).map_err(internal)?;
        let mut layers = Vec::new();
        for (d, diff_id) in info.manifest.layers().iter().zip(diff_ids) {
            layers.push(LayerRef {
                blob: image::manifest::digest_of(d).map_err(internal)?,
                diff_id,
                size: d.size(),
                media_type: d.media_type().to_string(),
            });
        }
        Ok((base, layers))
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir_in(parent: &std::path::Path) -> Result<TempDir> {
    let p = parent.join(format!("commit-empty-{}", std::process::id()));
    std::fs::create_dir_all(&p).map_err(|e| internal(format!("create {}: {e}", p.display())))?;
    Ok(TempDir(p))
}

/// The new image's config: the base's, with the container's config, the new layer and a
/// history entry.
fn image_config(
    c: &Container,
    mut base: Value,
    config: Value,
    layer: &image::commit::NewLayer,
    opts: &CommitOptions,
) -> Value {
    let now = runtime::util::rfc3339_now();
    base["config"] = image_side(config);
    base["created"] = json!(now);
    base["container"] = json!(c.id);
    if !opts.author.is_empty() {
        base["author"] = json!(opts.author);
    } else if let Some(m) = base.as_object_mut() {
        m.remove("author");
    }
    if !opts.comment.is_empty() {
        base["comment"] = json!(opts.comment);
    }
    if !base["rootfs"]["diff_ids"].is_array() {
        base["rootfs"] = json!({"type": "layers", "diff_ids": []});
    }
    if let Some(a) = base["rootfs"]["diff_ids"].as_array_mut() {
        a.push(json!(layer.diff_id.to_string()));
    }
    let created_by = std::iter::once(c.path.clone())
        .chain(c.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut h = json!({"created": now, "created_by": created_by});
    if !opts.author.is_empty() {
        h["author"] = json!(opts.author);
    }
    if !opts.comment.is_empty() {
        h["comment"] = json!(opts.comment);
    }
    if !base["history"].is_array() {
        base["history"] = json!([]);
    }
    if let Some(a) = base["history"].as_array_mut() {
        a.push(h);
    }
    base
}

/// The fields of a container config that an image config keeps.
fn image_side(config: Value) -> Value {
    const KEEP: &[&str] = &[
        "User",
        "ExposedPorts",
        "Env",
        "Entrypoint",
        "Cmd",
        "Volumes",
        "WorkingDir",
        "Labels",
        "StopSignal",
        "OnBuild",
        "Healthcheck",
        "Shell",
        "ArgsEscaped",
    ];
    let mut out = Map::new();
    if let Value::Object(m) = config {
        for (k, v) in m {
            let empty = v.is_null()
                || v.as_str() == Some("")
                || v.as_array().is_some_and(|a| a.is_empty()) && k != "Cmd" && k != "Entrypoint"
                || v.as_object().is_some_and(|o| o.is_empty());
            if KEEP.contains(&k.as_str()) && !empty {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

/// Apply one Dockerfile instruction (`docker commit --change`) to a container config.
pub fn apply_change(config: &mut Value, change: &str) -> Result<()> {
    let change = change.trim();
    let (word, rest) = change
        .split_once(char::is_whitespace)
        .map(|(w, r)| (w, r.trim()))
        .unwrap_or((change, ""));
    let bad = || {
        invalid(format!(
            "dockerfile parse error on line 1: {word} requires at least one argument"
        ))
    };
    let upper = word.to_ascii_uppercase();
    if rest.is_empty() && upper != "CMD" && upper != "ENTRYPOINT" {
        return Err(bad());
    }
    match upper.as_str() {
        "CMD" => config["Cmd"] = command(rest),
        "ENTRYPOINT" => {
            config["Entrypoint"] = command(rest);
            config["Cmd"] = Value::Null;
        }
        "ENV" => {
            for (k, v) in pairs(rest, true)? {
                set_env(config, &k, &v);
            }
        }
        "LABEL" => {
            for (k, v) in pairs(rest, false)? {
                if !config["Labels"].is_object() {
                    config["Labels"] = json!({});
                }
                config["Labels"][k] = json!(v);
            }
        }
        "EXPOSE" => {
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                let port = p.split('/').next().unwrap_or_default();
                if port.split('-').any(|n| n.parse::<u16>().is_err()) {
                    return Err(invalid(format!("invalid containerPort: {port}")));
                }
                if !config["ExposedPorts"].is_object() {
                    config["ExposedPorts"] = json!({});
                }
                config["ExposedPorts"][p] = json!({});
            }
        }
        "USER" => config["User"] = json!(rest),
        "WORKDIR" => config["WorkingDir"] = json!(rest),
        "STOPSIGNAL" => config["StopSignal"] = json!(rest),
        "VOLUME" => {
            let vols = serde_json::from_str::<Vec<String>>(rest)
                .unwrap_or_else(|_| rest.split_whitespace().map(String::from).collect());
            if !config["Volumes"].is_object() {
                config["Volumes"] = json!({});
            }
            for v in vols {
                config["Volumes"][v] = json!({});
            }
        }
        "ONBUILD" => {
            if !config["OnBuild"].is_array() {
                config["OnBuild"] = json!([]);
            }
            if let Some(a) = config["OnBuild"].as_array_mut() {
                a.push(json!(rest));
            }
        }
        _ => return Err(invalid(format!("{word} is not a valid change command"))),
    }
    Ok(())
}

/// Exec form (a JSON array) or shell form (run by `/bin/sh -c`).
fn command(rest: &str) -> Value {
    if rest.is_empty() {
        return Value::Null;
    }
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) => json!(v),
        Err(_) => json!(["/bin/sh", "-c", rest]),
    }
}

fn set_env(config: &mut Value, key: &str, val: &str) {
    let entry = format!("{key}={val}");
    if !config["Env"].is_array() {
        config["Env"] = json!([]);
    }
    if let Some(env) = config["Env"].as_array_mut() {
        let prefix = format!("{key}=");
        match env.iter_mut().find(|e| {
            e.as_str()
                .is_some_and(|s| s.starts_with(&prefix) || s == key)
        }) {
            Some(e) => *e = json!(entry),
            None => env.push(json!(entry)),
        }
    }
}

/// `k=v k2="v 2"` pairs, or (`legacy`, for ENV) the old `key value with spaces` form.
fn pairs(rest: &str, legacy: bool) -> Result<Vec<(String, String)>> {
    let words = split_words(rest)?;
    if legacy && !words.first().is_some_and(|w| w.contains('=')) {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| invalid(format!("ENV must have two arguments: {rest}")))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(invalid(format!(
                "dockerfile parse error on line 1: {w}: missing '=' in key=value"
            ))),
        })
        .collect()
}

/// Words split on blanks, with `"…"` and `'…'` quoting and `\` escapes (quotes removed).
fn split_words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(invalid(format!("unterminated quote in {s:?}")));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_to_the_config() {
        let mut c = json!({"Env": ["A=1"], "Cmd": ["sh"]});
        apply_change(&mut c, r#"CMD ["sh","-c","echo hi"]"#).unwrap();
        apply_change(&mut c, "ENV A=2 B=\"two words\"").unwrap();
        apply_change(&mut c, "ENV C three words").unwrap();
        apply_change(&mut c, "LABEL a=b").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        apply_change(&mut c, "USER nobody").unwrap();
        apply_change(&mut c, "VOLUME /data").unwrap();
        apply_change(&mut c, "STOPSIGNAL SIGINT").unwrap();
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["Env"], json!(["A=2", "B=two words", "C=three words"]));
        assert_eq!(c["Labels"], json!({"a": "b"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["User"], "nobody");
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["StopSignal"], "SIGINT");
        apply_change(&mut c, "CMD echo hi").unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
    }

    #[test]
    fn bad_changes_name_the_cause() {
        let mut c = json!({});
        let e = apply_change(&mut c, "RUN true").unwrap_err();
        assert_eq!(e.message, "RUN is not a valid change command");
        let e = apply_change(&mut c, "EXPOSE http").unwrap_err();
        assert!(e.message.contains("invalid containerPort"), "{}", e.message);
        assert!(apply_change(&mut c, "ENV").is_err());
    }
}
