//! `tug build`: send a context to the daemon's `POST /build` and show its progress;
//! `--check` parses and validates the Dockerfile locally and builds nothing.

use crate::client::{enc, fail, Client, Fail, Result};
use base64::Engine as _;
use build::ignore::Matcher;
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag)
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile)
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Set metadata for an image (KEY=VALUE)
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Secret to expose to the build (id=mysecret,src=/local/secret or id=x,env=VAR)
    #[arg(long = "secret")]
    secrets: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the base images
    #[arg(long)]
    pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Type of progress output (auto, plain, tty)
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Output destination (type=docker|oci,dest=PATH)
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// Check the Dockerfile for errors and warnings; build nothing
    #[arg(long)]
    check: bool,
    /// Networking mode for RUN instructions (host or none)
    #[arg(long)]
    network: Option<String>,
    /// Set the target platform (only the host's)
    #[arg(long)]
    platform: Option<String>,
    /// Build context: a directory
    path: String,
}

fn dockerfile_path(a: &BuildArgs) -> PathBuf {
    match &a.file {
        Some(f) if f == "-" => PathBuf::from("-"),
        Some(f) => PathBuf::from(f),
        None => Path::new(&a.path).join("Dockerfile"),
    }
}

/// `tug build --check`: exit 1 with the errors or warnings found.
pub fn check(a: &BuildArgs) -> i32 {
    let p = dockerfile_path(a);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ERROR: failed to read dockerfile {}: {e}", p.display());
            return 1;
        }
    };
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    match build::instructions::load(&name, &text) {
        Err(e) => {
            eprintln!("ERROR: {e}");
            1
        }
        Ok(prog) if prog.warnings.is_empty() => {
            println!("Check complete, no warnings found.");
            0
        }
        Ok(prog) => {
            for w in &prog.warnings {
                println!(
                    "WARNING: {} - {}:{}:{}: {}",
                    w.rule, prog.file, w.line, w.column, w.message
                );
            }
            let n = prog.warnings.len();
            eprintln!(
                "Check complete, {n} warning{} found!",
                if n == 1 { " has been" } else { "s have been" }
            );
            1
        }
    }
}

fn kv(list: &[String], from_env: bool) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for s in list {
        match s.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_string(), v.to_string());
            }
            None if from_env => {
                if let Ok(v) = std::env::var(s) {
                    m.insert(s.clone(), v);
                }
            }
            None => {
                m.insert(s.clone(), String::new());
            }
        }
    }
    m
}

fn secrets(list: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in list {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for part in s.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", _)) => {}
                _ => {
                    return fail(format!(
                        "invalid secret {s:?}: expected id=ID,src=PATH or id=ID,env=VAR"
                    ))
                }
            }
        }
        let Some(id) = id else {
            return fail(format!("invalid secret {s:?}: id is required"));
        };
        let data = match (src, env) {
            (Some(p), _) => {
                std::fs::read(&p).map_err(|e| Fail(format!("secret {id}: read {p}: {e}")))?
            }
            (None, Some(v)) => std::env::var(&v)
                .map_err(|_| Fail(format!("secret {id}: environment variable {v} is not set")))?
                .into_bytes(),
            (None, None) => std::env::var(&id).map(String::into_bytes).map_err(|_| {
                Fail(format!(
                    "secret {id}: no src given and no environment variable {id}"
                ))
            })?,
        };
        out.insert(id, base64::engine::general_purpose::STANDARD.encode(data));
    }
    Ok(out)
}

pub fn build(c: &Client, a: BuildArgs) -> Result<()> {
    if let Some(p) = &a.platform {
        let host = image::manifest::Platform::host();
        if *p != format!("{}/{}", host.os, host.architecture) {
            return fail(format!(
                "platform {p} is not supported: tug builds for the host platform"
            ));
        }
    }
    let ctx = PathBuf::from(&a.path);
    if !ctx.is_dir() {
        return fail(format!(
            "unable to prepare context: path {:?} not found",
            a.path
        ));
    }
    let df = dockerfile_path(&a);
    // A Dockerfile outside the context (or on stdin) travels in the context under its own name.
    let (df_name, extra): (String, Option<Vec<u8>>) = if df == Path::new("-") {
        let mut t = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut t)
            .map_err(|e| Fail(format!("read Dockerfile from stdin: {e}")))?;
        (".dockerfile.tug".into(), Some(t))
    } else {
        let abs_df = std::fs::canonicalize(&df).map_err(|e| {
            Fail(format!(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: {e}"
            ))
        })?;
        let abs_ctx = std::fs::canonicalize(&ctx)
            .map_err(|e| Fail(format!("unable to prepare context: {e}")))?;
        match abs_df.strip_prefix(&abs_ctx) {
            Ok(rel) => (rel.to_string_lossy().into_owned(), None),
            Err(_) => (
                ".dockerfile.tug".into(),
                Some(
                    std::fs::read(&abs_df)
                        .map_err(|e| Fail(format!("read {}: {e}", df.display())))?,
                ),
            ),
        }
    };
    let matcher = Matcher::for_build(&ctx, &ctx.join(&df_name))
        .map_err(|e| Fail(format!("unable to prepare context: .dockerignore: {e}")))?;
    let mut build_args = kv(&a.build_args, true);
    if let Ok(e) = std::env::var("SOURCE_DATE_EPOCH") {
        build_args.entry("SOURCE_DATE_EPOCH".into()).or_insert(e);
    }
    let mut path = format!("/build?dockerfile={}", enc(&df_name));
    for t in &a.tags {
        path.push_str(&format!("&t={}", enc(t)));
    }
    let js = |m: &BTreeMap<String, String>| enc(&serde_json::to_string(m).unwrap_or_default());
    if !build_args.is_empty() {
        path.push_str(&format!("&buildargs={}", js(&build_args)));
    }
    let labels = kv(&a.labels, false);
    if !labels.is_empty() {
        path.push_str(&format!("&labels={}", js(&labels)));
    }
    let sec = secrets(&a.secrets)?;
    if !sec.is_empty() {
        path.push_str(&format!("&secrets={}", js(&sec)));
    }
    if let Some(t) = &a.target {
        path.push_str(&format!("&target={}", enc(t)));
    }
    if a.no_cache {
        path.push_str("&nocache=1");
    }
    if a.pull {
        path.push_str("&pull=1");
    }
    if a.quiet {
        path.push_str("&q=1");
    }
    if let Some(n) = &a.network {
        path.push_str(&format!("&networkmode={}", enc(n)));
    }
    let (mut reader, writer) = std::io::pipe().map_err(|e| Fail(format!("pipe: {e}")))?;
    let ctx2 = ctx.clone();
    let df2 = df_name.clone();
    let packer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, writer);
        match extra {
            None => build::context::pack(&ctx2, &df2, &matcher, &mut w),
            Some(data) => {
                let mut inner = Vec::new();
                build::context::pack(&ctx2, "", &matcher, &mut inner)?;
                // Re-open the archive to append the Dockerfile member before the end blocks.
                let mut ar = tar::Archive::new(inner.as_slice());
                let mut out = tar::Builder::new(&mut w);
                for e in ar.entries()? {
                    let mut e = e?;
                    let h = e.header().clone();
                    out.append(&h, &mut e)?;
                }
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                out.append_data(&mut h, &df2, data.as_slice())?;
                out.finish()
            }
        }
    });
    let resp = c.request("POST", &path, Some(&mut reader));
    let _ = packer.join();
    let resp = resp?;
    let mut id = None;
    let mut failed = None;
    let stdout = std::io::stdout();
    for m in resp.messages() {
        let m = m?;
        if let Some(s) = m["stream"].as_str() {
            if !a.quiet {
                let mut o = stdout.lock();
                let _ = o.write_all(s.as_bytes());
                let _ = o.flush();
            }
        }
        if let Some(i) = m["aux"]["ID"].as_str() {
            id = Some(i.to_string());
        }
        if let Some(e) = m["errorDetail"]["message"].as_str().or(m["error"].as_str()) {
            failed = Some(e.to_string());
        }
    }
    if let Some(e) = failed {
        return fail(e);
    }
    let Some(id) = id else {
        return fail("the daemon ended the build without an image ID");
    };
    if a.quiet {
        println!("{id}");
    }
    if let Some(o) = &a.output {
        output(c, &id, o)?;
    }
    Ok(())
}

/// `--output type=docker|oci,dest=PATH` (`-` for stdout): the image as an archive.
fn output(c: &Client, id: &str, spec: &str) -> Result<()> {
    let mut kind = "docker".to_string();
    let mut dest = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("type", v)) => kind = v.to_string(),
            Some(("dest", v)) => dest = Some(v.to_string()),
            _ if !part.contains('=') => dest = Some(part.to_string()),
            _ => return fail(format!("invalid output {spec:?}")),
        }
    }
    if !matches!(kind.as_str(), "docker" | "oci") {
        return fail(format!(
            "output type {kind} is not supported: use docker or oci"
        ));
    }
    let Some(dest) = dest else {
        return fail(format!("output {spec:?}: dest is required"));
    };
    // tug's archives are docker-archive and OCI layout at once.
    let mut r = c.request("GET", &format!("/images/get?names={}", enc(id)), None)?;
    let io = |e: std::io::Error| Fail(format!("write {dest}: {e}"));
    if dest == "-" {
        std::io::copy(&mut r, &mut std::io::stdout()).map_err(io)?;
    } else {
        let tmp = format!("{dest}.tmp-{}", std::process::id());
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        std::io::copy(&mut r, &mut f).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &dest).map_err(io)?;
    }
    Ok(())
}

/// `tug build …`: `--check` locally, else through the daemon.
pub fn main(host: Option<&str>, a: BuildArgs) -> i32 {
    if a.check {
        return check(&a);
    }
    super::images::run(host, |c| build(c, a))
}
