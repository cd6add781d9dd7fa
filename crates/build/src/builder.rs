//! Running a validated Dockerfile: stages (independent ones in parallel, unused ones
//! skipped), each instruction applied to a stage state (image config, layers, snapshot
//! chain, ARG scope), RUN in a container through tug's runtime, COPY/ADD into an overlay
//! workspace, each layer step cached by a key over its parent, instruction, arguments and
//! the content of what it copies.
//!
//! RUN's network: the host's by default (the build container shares the host network
//! namespace, as `--network host`); `RUN --network=none` gets an empty namespace.

use crate::context;
use crate::ignore::Matcher;
use crate::instructions::{Command, CopySpec, Instruction, Program, Stage, Step};
use crate::shell::Lexer;
use image::commit::{LayerRef, NewLayer};
use image::layer::diff::DiffOptions;
use image::{Digest, ImageService};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where a `#!` heredoc script is mounted for its RUN (never part of a layer).
const HEREDOC_SCRIPT: &str = "/dev/.tug-heredoc-script";
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];
const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// What kind of failure a build error is (the API maps it to a status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The Dockerfile or the options are wrong.
    Invalid,
    /// A base image, stage, file or secret does not exist.
    NotFound,
    /// A RUN command failed.
    Failed,
    /// A local operation failed.
    Internal,
}

/// A failed build.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    pub kind: Kind,
    pub message: String,
}

impl BuildError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        BuildError {
            kind,
            message: message.into(),
        }
    }
    fn invalid(m: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, m)
    }
    fn internal(m: impl std::fmt::Display) -> Self {
        Self::new(Kind::Internal, m.to_string())
    }
}

impl From<crate::syntax::ParseError> for BuildError {
    fn from(e: crate::syntax::ParseError) -> Self {
        BuildError::invalid(e.to_string())
    }
}

impl From<image::ServiceError> for BuildError {
    fn from(e: image::ServiceError) -> Self {
        let kind = match e.kind() {
            image::ErrorKind::NotFound => Kind::NotFound,
            image::ErrorKind::Invalid | image::ErrorKind::Unsupported => Kind::Invalid,
            _ => Kind::Internal,
        };
        BuildError::new(kind, e.to_string())
    }
}

type Result<T> = std::result::Result<T, BuildError>;

/// The options of one build (`docker build`'s flags and query parameters).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's path in the context (default `Dockerfile`).
    pub dockerfile: Option<String>,
    /// The Dockerfile's text, when it is not read from the context.
    pub dockerfile_text: Option<String>,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub labels: BTreeMap<String, String>,
    /// Secrets by id: their content (never written to a layer).
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// Apply the context's `.dockerignore` (a context already filtered by a client need not).
    pub ignore: bool,
    /// RUN's network when a step does not say: `host` (the default) or `none`.
    pub network: Option<String>,
    /// Pull base images even when they are present (`--pull`).
    pub pull: bool,
}

/// Fetches an image from its registry into the store (the daemon's pull).
pub type Puller = std::sync::Arc<dyn Fn(&str) -> std::result::Result<(), String> + Send + Sync>;

/// Progress lines, in the legacy builder's wording (`Step 1/3 : FROM busybox`).
pub enum Event<'a> {
    /// A line of progress (ends with a newline).
    Line(&'a str),
    /// The built image's ID (`sha256:…`), just before the closing lines.
    Id(&'a str),
}

/// The result of a build.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image ID (config digest).
    pub id: Digest,
    pub tags: Vec<String>,
    /// Layer steps taken from the cache / run.
    pub cached: usize,
    pub executed: usize,
}

/// Runs builds against one image store.
pub struct Builder {
    pub images: ImageService,
    /// The tug binary (its `runtime run` runs RUN steps).
    pub runtime: PathBuf,
    /// Runtime state root for build containers.
    pub runtime_root: PathBuf,
    /// Builder state: the step cache, cache mounts.
    pub state: PathBuf,
    /// Parent cgroup for build containers (relative paths nest under the caller's).
    pub cgroup_parent: Option<String>,
    /// How to pull a base image that is missing (or with `--pull`); none: local images only.
    pub puller: Option<Puller>,
}

/// A stage's state after some steps.
#[derive(Debug, Clone)]
struct State {
    config: Value,
    layers: Vec<LayerRef>,
    chains: Vec<Digest>,
    key: String,
    /// ARGs in scope: name → value (None: declared without a value).
    args: BTreeMap<String, Option<String>>,
}

impl State {
    fn cfg(&self) -> &Value {
        &self.config["config"]
    }

    fn cfg_mut(&mut self) -> &mut Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        self.config["config"].as_object_mut().expect("object")
    }

    fn env(&self) -> Vec<(String, String)> {
        self.cfg()["Env"]
            .as_array()
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

    fn set_env(&mut self, k: &str, v: &str) {
        let mut env = self.env();
        match env.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v.to_string(),
            None => env.push((k.to_string(), v.to_string())),
        }
        let list: Vec<Value> = env.iter().map(|(k, v)| json!(format!("{k}={v}"))).collect();
        self.cfg_mut().insert("Env".into(), Value::Array(list));
    }

    /// Variables for expansion: ENV wins over ARG.
    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |n: &str| {
            self.env()
                .into_iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v)
                .or_else(|| self.args.get(n).cloned().flatten())
        }
    }

    fn workdir(&self) -> String {
        self.cfg()["WorkingDir"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    fn shell(&self) -> Vec<String> {
        self.cfg()["Shell"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .filter(|v: &Vec<String>| !v.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn history(&mut self, created: &str, created_by: String, empty: bool) {
        let mut h = json!({"created": created, "created_by": created_by});
        if empty {
            h["empty_layer"] = json!(true);
        }
        if !self.config["history"].is_array() {
            self.config["history"] = json!([]);
        }
        self.config["history"]
            .as_array_mut()
            .expect("array")
            .push(h);
    }

    fn add_layer(&mut self, l: &NewLayer) {
        self.layers.push(l.into());
        self.chains.push(l.chain_id.clone());
        if !self.config["rootfs"]["diff_ids"].is_array() {
            self.config["rootfs"] = json!({"type": "layers", "diff_ids": []});
        }
        self.config["rootfs"]["diff_ids"]
            .as_array_mut()
            .expect("array")
            .push(json!(l.diff_id.to_string()));
    }

    fn id(&self) -> String {
        let d = Digest::sha256(&serde_json::to_vec(&self.config).unwrap_or_default());
        d.hex()[..12].to_string()
    }
}

fn sha(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    context::hex(&h.finalize())
}

/// A cached layer step.
#[derive(serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    layer: NewLayer,
    created: String,
    created_by: String,
}

struct Run<'a> {
    b: &'a Builder,
    prog: &'a Program,
    opts: &'a BuildOptions,
    context: &'a Path,
    matcher: Matcher,
    out: &'a (dyn Fn(Event) + Sync),
    lexer: Lexer,
    /// Global ARGs (before the first FROM), resolved.
    meta: BTreeMap<String, Option<String>>,
    epoch: Option<i64>,
    total_steps: usize,
    step_no: HashMap<(usize, usize), usize>,
    results: Mutex<HashMap<usize, std::result::Result<State, BuildError>>>,
    ready: Condvar,
    used_args: Mutex<BTreeSet<String>>,
    counts: Mutex<(usize, usize)>,
}

/// Parse the number of a `--interval`-style duration (`30s`, `1m30s`, `500ms`) in ns.
pub fn parse_duration(s: &str) -> Option<i64> {
    image::archive::rootfs::duration_ns(s)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn quote_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl Builder {
    /// Parse, validate and run a build of the context directory `context`.
    pub fn build(
        &self,
        context: &Path,
        opts: &BuildOptions,
        out: &(dyn Fn(Event) + Sync),
    ) -> Result<Built> {
        let df_name = opts
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".into());
        let text = match &opts.dockerfile_text {
            Some(t) => t.clone(),
            None => {
                let p = context.join(crate::ignore::clean(&df_name));
                std::fs::read_to_string(&p).map_err(|e| {
                    BuildError::new(
                        Kind::NotFound,
                        format!("Cannot locate specified Dockerfile: {df_name}: {e}"),
                    )
                })?
            }
        };
        let shown = Path::new(&df_name)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or(df_name.clone());
        let prog = crate::instructions::load(&shown, &text)?;
        if prog.warnings_are_errors && !prog.warnings.is_empty() {
            let w = &prog.warnings[0];
            return Err(BuildError::invalid(format!(
                "{}:{}:{}: {}: {}",
                prog.file, w.line, w.column, w.rule, w.message
            )));
        }
        let matcher = if opts.ignore {
            Matcher::for_build(context, &context.join(&df_name)).map_err(BuildError::internal)?
        } else {
            Matcher::default()
        };
        self.run(&prog, context, matcher, opts, out)
    }

    fn run(
        &self,
        prog: &Program,
        context: &Path,
        matcher: Matcher,
        opts: &BuildOptions,
        out: &(dyn Fn(Event) + Sync),
    ) -> Result<Built> {
        for d in [self.state.join("cache"), self.state.join("mounts")] {
            std::fs::create_dir_all(&d).map_err(BuildError::internal)?;
        }
        let target = match &opts.target {
            Some(t) => prog.stage_index(t).ok_or_else(|| {
                BuildError::new(
                    Kind::NotFound,
                    format!("target stage \"{t}\" could not be found"),
                )
            })?,
            None => prog.stages.len() - 1,
        };
        let epoch =
            match opts.build_args.get("SOURCE_DATE_EPOCH") {
                Some(s) => Some(s.parse::<i64>().map_err(|_| {
                    BuildError::invalid(format!("invalid SOURCE_DATE_EPOCH: {s:?}"))
                })?),
                None => None,
            };
        let mut meta = BTreeMap::new();
        let host = image::manifest::Platform::host();
        for (k, v) in [
            (
                "TARGETPLATFORM",
                format!("{}/{}", host.os, host.architecture),
            ),
            ("TARGETOS", host.os.clone()),
            ("TARGETARCH", host.architecture.clone()),
            (
                "BUILDPLATFORM",
                format!("{}/{}", host.os, host.architecture),
            ),
            ("BUILDOS", host.os.clone()),
            ("BUILDARCH", host.architecture.clone()),
        ] {
            meta.insert(k.to_string(), Some(v));
        }
        let lexer = Lexer {
            escape: prog.escape,
        };
        let mut used = BTreeSet::new();
        for (k, v) in &prog.meta_args {
            let val = match opts.build_args.get(k) {
                Some(b) => Some(b.clone()),
                None => match v {
                    Some(d) => {
                        let env = |n: &str| meta.get(n).cloned().flatten();
                        Some(lexer.process_word(d, &env).map_err(|e| {
                            BuildError::invalid(format!("{}: ARG {k}: {e}", prog.file))
                        })?)
                    }
                    None => None,
                },
            };
            used.insert(k.clone());
            meta.insert(k.clone(), val);
        }
        // Which stages the target needs.
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !needed.insert(i) {
                continue;
            }
            for d in self.deps(prog, i, &meta, &lexer) {
                if d < i {
                    todo.push(d);
                }
            }
        }
        let mut step_no = HashMap::new();
        let mut n = 0;
        for s in &prog.stages {
            if needed.contains(&s.index) {
                n += 1;
                step_no.insert((s.index, usize::MAX), n);
                for k in 0..s.steps.len() {
                    n += 1;
                    step_no.insert((s.index, k), n);
                }
            }
        }
        let r = Run {
            b: self,
            prog,
            opts,
            context,
            matcher,
            out,
            lexer,
            meta,
            epoch,
            total_steps: n,
            step_no,
            results: Mutex::new(HashMap::new()),
            ready: Condvar::new(),
            used_args: Mutex::new(used),
            counts: Mutex::new((0, 0)),
        };
        std::thread::scope(|sc| {
            for &i in &needed {
                let r = &r;
                sc.spawn(move || {
                    let res = r.stage(&prog.stages[i]);
                    r.results.lock().expect("lock").insert(i, res);
                    r.ready.notify_all();
                });
            }
        });
        let st = r
            .results
            .lock()
            .expect("lock")
            .remove(&target)
            .expect("target built")?;
        let unused: Vec<String> = opts
            .build_args
            .keys()
            .filter(|k| {
                !r.used_args.lock().expect("lock").contains(*k)
                    && !PROXY_ARGS.contains(&k.as_str())
                    && k.as_str() != "SOURCE_DATE_EPOCH"
            })
            .cloned()
            .collect();
        if !unused.is_empty() {
            r.line(&format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                unused.join(" ")
            ));
        }
        self.finish(&r, st)
    }

    fn finish(&self, r: &Run, mut st: State) -> Result<Built> {
        let created = st.config["history"]
            .as_array()
            .and_then(|h| h.last())
            .and_then(|h| h["created"].as_str().map(String::from))
            .unwrap_or_else(|| r.time());
        if !r.opts.labels.is_empty() {
            let labels = st.cfg_mut().entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for (k, v) in &r.opts.labels {
                labels[k] = json!(v);
            }
        }
        st.config["created"] = json!(created);
        if let Some(o) = st.config.as_object_mut() {
            o.remove("container_config");
            o.remove("container");
        }
        let rec = self
            .images
            .create_image(&st.config, &st.layers, &r.opts.tags)?;
        let id = rec.config.clone();
        (r.out)(Event::Id(&id.to_string()));
        r.line(&format!("Successfully built {}\n", &id.hex()[..12]));
        for t in &r.opts.tags {
            let shown = image::Reference::parse(t)
                .map(|x| x.familiar())
                .unwrap_or_else(|_| t.clone());
            let shown = if shown.contains(':') || shown.contains('@') {
                shown
            } else {
                format!("{shown}:latest")
            };
            r.line(&format!("Successfully tagged {shown}\n"));
        }
        let (cached, executed) = *r.counts.lock().expect("lock");
        Ok(Built {
            id,
            tags: r.opts.tags.clone(),
            cached,
            executed,
        })
    }

    /// Stages that stage `i` needs: its base and `--from` sources.
    fn deps(
        &self,
        prog: &Program,
        i: usize,
        meta: &BTreeMap<String, Option<String>>,
        lexer: &Lexer,
    ) -> Vec<usize> {
        let env = |n: &str| meta.get(n).cloned().flatten();
        let s = &prog.stages[i];
        let mut out = Vec::new();
        let base = lexer.process_word(&s.base, &env).unwrap_or_default();
        if let Some(d) = prog.stage_index(&base).filter(|&d| d < i) {
            if prog.stages[d].name.is_some() {
                out.push(d);
            }
        }
        for st in &s.steps {
            let from = match &st.instruction {
                Instruction::Copy(c) => c.from.clone(),
                Instruction::Run { mounts, .. } => mounts.iter().find_map(|m| {
                    m.split(',')
                        .find_map(|kv| kv.strip_prefix("from=").map(String::from))
                }),
                _ => None,
            };
            if let Some(f) = from {
                if let Some(d) = prog.stage_index(&f) {
                    out.push(d);
                }
            }
        }
        out
    }
}

impl Run<'_> {
    fn line(&self, s: &str) {
        (self.out)(Event::Line(s));
    }

    fn time(&self) -> String {
        image::archive::rfc3339(self.epoch.unwrap_or_else(now_secs))
    }

    fn diff_opts(&self) -> DiffOptions {
        DiffOptions {
            clamp_mtime: self.epoch,
        }
    }

    fn wait_stage(&self, i: usize) -> Result<State> {
        let mut g = self.results.lock().expect("lock");
        loop {
            if let Some(r) = g.get(&i) {
                return r.clone().map_err(|e| {
                    BuildError::new(e.kind, format!("stage {i} failed: {}", e.message))
                });
            }
            g = self.ready.wait(g).expect("lock");
        }
    }

    fn stage(&self, s: &Stage) -> Result<State> {
        let env = |n: &str| self.meta.get(n).cloned().flatten();
        let base = self
            .lexer
            .process_word(&s.base, &env)
            .map_err(|e| self.err_at(&s.node, e.to_string()))?;
        if let Some(p) = &s.platform {
            let p = self
                .lexer
                .process_word(p, &env)
                .map_err(|e| self.err_at(&s.node, e.to_string()))?;
            let host = image::manifest::Platform::host();
            let want = format!("{}/{}", host.os, host.architecture);
            if p != want && p.trim_end_matches("/v1") != want {
                return Err(self.err_at(
                    &s.node,
                    format!(
                        "platform {p} is not supported: tug builds for the host platform ({want})"
                    ),
                ));
            }
        }
        let n = self.step_no[&(s.index, usize::MAX)];
        self.line(&format!(
            "Step {n}/{} : FROM {}\n",
            self.total_steps, s.node.original
        ));
        let mut st = match self.prog.stage_index(&base).filter(|&d| d < s.index) {
            Some(d) if self.prog.stages[d].name.is_some() => {
                let mut st = self.wait_stage(d)?;
                st.args.clear();
                st
            }
            _ => self.base_image(&base)?,
        };
        self.line(&format!(" ---> {}\n", st.id()));
        // ONBUILD triggers of the base run first.
        let triggers: Vec<String> = st.cfg()["OnBuild"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if !triggers.is_empty() {
            st.cfg_mut().insert("OnBuild".into(), Value::Null);
            for t in triggers {
                self.line(&format!(" ---> Running in onbuild trigger: {t}\n"));
                let prog =
                    crate::instructions::load(&self.prog.file, &format!("FROM scratch\n{t}"))?;
                for step in &prog.stages[0].steps {
                    self.step(s, &mut st, step)?;
                }
            }
        }
        for (k, step) in s.steps.iter().enumerate() {
            let n = self.step_no[&(s.index, k)];
            self.line(&format!(
                "Step {n}/{} : {} {}\n",
                self.total_steps,
                step.node.keyword_raw.to_ascii_uppercase(),
                step.node.original
            ));
            let t0 = Instant::now();
            self.step(s, &mut st, step)?;
            self.line(&format!(
                " ---> {} [{:.3}s]\n",
                st.id(),
                t0.elapsed().as_secs_f64()
            ));
        }
        Ok(st)
    }

    fn err_at(&self, n: &crate::syntax::Node, msg: impl std::fmt::Display) -> BuildError {
        BuildError::invalid(format!("{}:{}:{}: {msg}", self.prog.file, n.line, n.column))
    }

    fn base_image(&self, base: &str) -> Result<State> {
        if base == "scratch" {
            let host = image::manifest::Platform::host();
            return Ok(State {
                config: json!({
                    "architecture": host.architecture, "os": host.os,
                    "config": {"Env": [DEFAULT_PATH]},
                    "rootfs": {"type": "layers", "diff_ids": []},
                    "history": [],
                }),
                layers: Vec::new(),
                chains: Vec::new(),
                key: sha(&["scratch"]),
                args: BTreeMap::new(),
            });
        }
        let present = self.b.images.inspect(base).is_ok();
        if let Some(pull) = &self.b.puller {
            if self.opts.pull || !present {
                self.line(&format!(" ---> Pulling {base}\n"));
                if let Err(e) = pull(base) {
                    if !present {
                        return Err(BuildError::new(
                            Kind::NotFound,
                            format!("base image {base}: no such image locally, and pulling it failed: {e}"),
                        ));
                    }
                    self.line(&format!(" ---> Pull failed ({e}): using the local image\n"));
                }
            }
        }
        let info = self.b.images.inspect(base).map_err(|e| match e.kind() {
            image::ErrorKind::NotFound => BuildError::new(
                Kind::NotFound,
                format!("pull access denied for {base}, repository does not exist or may require 'docker login': no such image in the local store (pull it first)"),
            ),
            _ => e.into(),
        })?;
        let bytes = self
            .b
            .images
            .content()
            .read(&info.record.config)
            .map_err(BuildError::internal)?;
        let mut config: Value = serde_json::from_slice(&bytes).map_err(BuildError::internal)?;
        if !config["config"].is_object() {
            config["config"] = json!({});
        }
        let diff_ids: Vec<Digest> = config["rootfs"]["diff_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str()?.parse().ok())
            .collect();
        let layers = info
            .manifest
            .layers()
            .iter()
            .zip(&diff_ids)
            .map(|(l, d)| LayerRef {
                blob: l.digest().to_string().parse().expect("valid digest"),
                diff_id: d.clone(),
                size: l.size(),
                media_type: l.media_type().to_string(),
            })
            .collect();
        Ok(State {
            config,
            layers,
            chains: info.chain_ids.clone(),
            key: sha(&["from", &info.record.config.to_string()]),
            args: BTreeMap::new(),
        })
    }

    fn expand(&self, st: &State, n: &crate::syntax::Node, w: &str) -> Result<String> {
        let env = st.lookup();
        self.lexer
            .process_word(w, &env)
            .map_err(|e| self.err_at(n, e))
    }

    fn step(&self, s: &Stage, st: &mut State, step: &Step) -> Result<()> {
        let node = &step.node;
        let text0 = format!(
            "{} {}",
            node.keyword_raw.to_ascii_uppercase(),
            node.original
        );
        let time_key = format!("t-{}", sha(&[&st.key, &text0]));
        let created = self.step_time(&time_key);
        let nop = |what: &str| format!("/bin/sh -c #(nop)  {what}");
        let text = format!(
            "{} {}",
            node.keyword_raw.to_ascii_uppercase(),
            node.original
        );
        match &step.instruction {
            Instruction::Env(kvs) => {
                // Every value is expanded with the variables as they were before this
                // instruction (`ENV a=bye b=$a` gives b the old a), as Docker does.
                let mut pairs = Vec::new();
                for (k, v) in kvs {
                    pairs.push((self.expand(st, node, k)?, self.expand(st, node, v)?));
                }
                let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                for (k, v) in &pairs {
                    st.set_env(k, v);
                }
                st.history(&created, nop(&format!("ENV {}", shown.join(" "))), true);
            }
            Instruction::Label(kvs) => {
                let mut shown = Vec::new();
                for (k, v) in kvs {
                    let k = self.expand(st, node, k)?;
                    let v = self.expand(st, node, v)?;
                    shown.push(format!("{k}={v}"));
                    let labels = st.cfg_mut().entry("Labels").or_insert_with(|| json!({}));
                    if !labels.is_object() {
                        *labels = json!({});
                    }
                    labels[&k] = json!(v);
                }
                st.history(&created, nop(&format!("LABEL {}", shown.join(" "))), true);
            }
            Instruction::Maintainer(m) => {
                st.config["author"] = json!(m);
                st.history(&created, nop(&format!("MAINTAINER {m}")), true);
            }
            Instruction::Arg(list) => {
                for (k, v) in list {
                    let val = match self.opts.build_args.get(k) {
                        Some(b) => Some(b.clone()),
                        None => match v {
                            Some(d) => Some(self.expand(st, node, d)?),
                            None => self.meta.get(k).cloned().flatten(),
                        },
                    };
                    self.used_args.lock().expect("lock").insert(k.clone());
                    st.args.insert(k.clone(), val);
                }
                let shown: Vec<String> = list
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{k}={v}"),
                        None => k.clone(),
                    })
                    .collect();
                st.history(&created, nop(&format!("ARG {}", shown.join(" "))), true);
            }
            Instruction::Cmd(c) | Instruction::Entrypoint(c) => {
                let v = match c {
                    Command::Exec(v) => v.clone(),
                    Command::Shell(s) if s.is_empty() => Vec::new(),
                    Command::Shell(s) => {
                        let mut v = st.shell();
                        v.push(s.clone());
                        v
                    }
                };
                let is_cmd = matches!(step.instruction, Instruction::Cmd(_));
                let key = if is_cmd { "Cmd" } else { "Entrypoint" };
                st.cfg_mut().insert(key.into(), json!(v));
                if !is_cmd
                    && !s
                        .steps
                        .iter()
                        .any(|x| matches!(x.instruction, Instruction::Cmd(_)))
                {
                    // ENTRYPOINT resets an inherited CMD.
                    st.cfg_mut().insert("Cmd".into(), Value::Null);
                }
                st.history(
                    &created,
                    nop(&format!("{} {}", key.to_ascii_uppercase(), quote_json(&v))),
                    true,
                );
            }
            Instruction::Shell(v) => {
                st.cfg_mut().insert("Shell".into(), json!(v));
                st.history(&created, nop(&format!("SHELL {}", quote_json(v))), true);
            }
            Instruction::Expose(ports) => {
                let mut shown = Vec::new();
                for p in ports {
                    let words = {
                        let env = st.lookup();
                        self.lexer
                            .process_words(p, &env)
                            .map_err(|e| self.err_at(node, e))?
                    };
                    for p in words {
                        let p = if p.contains('/') {
                            p.to_ascii_lowercase()
                        } else {
                            format!("{p}/tcp")
                        };
                        let num = p.split('/').next().unwrap_or("");
                        let ok = num.split('-').all(|x| x.parse::<u16>().is_ok());
                        if !ok {
                            return Err(self.err_at(node, format!("invalid containerPort: {num}")));
                        }
                        shown.push(p.clone());
                        let e = st
                            .cfg_mut()
                            .entry("ExposedPorts")
                            .or_insert_with(|| json!({}));
                        if !e.is_object() {
                            *e = json!({});
                        }
                        e[&p] = json!({});
                    }
                }
                st.history(&created, nop(&format!("EXPOSE {}", shown.join(" "))), true);
            }
            Instruction::Volume(vols) => {
                let mut shown = Vec::new();
                for v in vols {
                    let v = self.expand(st, node, v)?;
                    let e = st.cfg_mut().entry("Volumes").or_insert_with(|| json!({}));
                    if !e.is_object() {
                        *e = json!({});
                    }
                    e[&v] = json!({});
                    shown.push(v);
                }
                st.history(
                    &created,
                    nop(&format!("VOLUME {}", quote_json(&shown))),
                    true,
                );
            }
            Instruction::User(u) => {
                let u = self.expand(st, node, u)?;
                st.cfg_mut().insert("User".into(), json!(u));
                st.history(&created, nop(&format!("USER {u}")), true);
            }
            Instruction::Workdir(w) => {
                let w = self.expand(st, node, w)?;
                let abs = if w.starts_with('/') {
                    w.clone()
                } else {
                    format!("{}/{}", st.workdir().trim_end_matches('/'), w)
                };
                let abs = format!("/{}", crate::ignore::clean(&abs)).replace("/.", "/");
                st.cfg_mut().insert("WorkingDir".into(), json!(abs));
                let key = sha(&[&st.key, "WORKDIR", &abs]);
                let by = nop(&format!("WORKDIR {abs}"));
                self.layer_step(st, &key, &created, by, false, |st| {
                    let ws = self.b.images.workspace(&st.chains)?;
                    let dir = resolve_in_root(&ws.rootfs(), &abs);
                    if !dir.is_dir() {
                        std::fs::create_dir_all(&dir)
                            .map_err(|e| self.err_at(node, format!("mkdir {abs}: {e}")))?;
                    }
                    Ok(ws.commit(&self.b.images, &self.diff_opts())?)
                })?;
            }
            Instruction::StopSignal(sig) => {
                let sig = self.expand(st, node, sig)?;
                st.cfg_mut().insert("StopSignal".into(), json!(sig));
                st.history(&created, nop(&format!("STOPSIGNAL {sig}")), true);
            }
            Instruction::Onbuild(t) => {
                let e = st.cfg_mut().entry("OnBuild").or_insert_with(|| json!([]));
                if !e.is_array() {
                    *e = json!([]);
                }
                e.as_array_mut().expect("array").push(json!(t));
                st.history(&created, nop(&format!("ONBUILD {t}")), true);
            }
            Instruction::Healthcheck(h) => {
                let mut v = json!({"Test": h.test});
                for (k, f) in [
                    ("Interval", &h.interval),
                    ("Timeout", &h.timeout),
                    ("StartPeriod", &h.start_period),
                    ("StartInterval", &h.start_interval),
                ] {
                    if let Some(d) = f.as_deref().and_then(parse_duration) {
                        v[k] = json!(d);
                    }
                }
                if let Some(r) = h.retries.as_deref().and_then(|r| r.parse::<i64>().ok()) {
                    v["Retries"] = json!(r);
                }
                st.cfg_mut().insert("Healthcheck".into(), v);
                st.history(
                    &created,
                    nop(&format!("HEALTHCHECK {}", node.original)),
                    true,
                );
            }
            Instruction::Run {
                command,
                mounts,
                network,
                security,
                heredocs,
            } => self.run_step(
                st,
                node,
                command,
                mounts,
                network.as_deref().or(self.opts.network.as_deref()),
                security.as_deref(),
                heredocs,
                &created,
            )?,
            Instruction::Copy(c) => self.copy_step(st, node, c, false, &created)?,
            Instruction::Add(c) => self.copy_step(st, node, c, true, &created)?,
        }
        st.key = sha(&[
            &st.key,
            &text,
            &serde_json::to_string(st.cfg()).unwrap_or_default(),
        ]);
        self.remember_time(&time_key, &created);
        Ok(())
    }

    /// When a step was first made: remembered per step key (so a cached build makes the
    /// same image), `SOURCE_DATE_EPOCH` if given, else now.
    fn step_time(&self, key: &str) -> String {
        if self.epoch.is_some() || self.opts.no_cache {
            return self.time();
        }
        std::fs::read_to_string(self.b.state.join("cache").join(key))
            .ok()
            .filter(|t| image::archive::parse_rfc3339(t).is_some())
            .unwrap_or_else(|| self.time())
    }

    fn remember_time(&self, key: &str, created: &str) {
        let p = self.b.state.join("cache").join(key);
        if self.epoch.is_none() && !p.exists() {
            let tmp = p.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, created).is_ok() {
                let _ = std::fs::rename(&tmp, &p);
            }
        }
    }

    /// Look up a cached layer step; `None` when missing or its content is gone.
    fn cached(&self, key: &str) -> Option<CacheEntry> {
        if self.opts.no_cache {
            return None;
        }
        let p = self.b.state.join("cache").join(key);
        let e: CacheEntry = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
        let ok = self.b.images.content().contains(&e.layer.blob)
            && self.b.images.snapshots().exists(&e.layer.chain_id);
        ok.then_some(e)
    }

    fn remember(&self, key: &str, e: &CacheEntry) {
        let dir = self.b.state.join("cache");
        let tmp = dir.join(format!(".tmp-{key}-{}", std::process::id()));
        if std::fs::write(&tmp, serde_json::to_vec(e).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(&tmp, dir.join(key));
        }
    }

    /// Apply a cached or new layer step to the state.
    fn layer_step(
        &self,
        st: &mut State,
        key: &str,
        created: &str,
        created_by: String,
        keep_empty: bool,
        make: impl FnOnce(&State) -> Result<NewLayer>,
    ) -> Result<()> {
        if let Some(e) = self.cached(key) {
            self.line(" ---> Using cache\n");
            self.counts.lock().expect("lock").0 += 1;
            if e.layer.empty && !keep_empty {
                st.history(&e.created, e.created_by, true);
            } else {
                st.add_layer(&e.layer);
                st.history(&e.created, e.created_by, false);
            }
            st.key = key.to_string();
            return Ok(());
        }
        let layer = make(st)?;
        self.counts.lock().expect("lock").1 += 1;
        self.remember(
            key,
            &CacheEntry {
                layer: layer.clone(),
                created: created.to_string(),
                created_by: created_by.clone(),
            },
        );
        if layer.empty && !keep_empty {
            st.history(created, created_by, true);
        } else {
            st.add_layer(&layer);
            st.history(created, created_by, false);
        }
        st.key = key.to_string();
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run_step(
        &self,
        st: &mut State,
        node: &crate::syntax::Node,
        command: &Command,
        mounts: &[String],
        network: Option<&str>,
        security: Option<&str>,
        heredocs: &[crate::syntax::Heredoc],
        created: &str,
    ) -> Result<()> {
        // `RUN <<EOF` whose body starts with `#!`: the body is a script run by its interpreter.
        let mut script_file: Option<String> = None;
        let args: Vec<String> = match command {
            Command::Exec(v) => v.clone(),
            Command::Shell(s)
                if heredocs.len() == 1
                    && s.split_whitespace().count() == 1
                    && s.trim().starts_with("<<")
                    && heredocs[0].content.starts_with("#!") =>
            {
                script_file = Some(heredocs[0].content.clone());
                vec![HEREDOC_SCRIPT.to_string()]
            }
            Command::Shell(s) => {
                let script = if heredocs.len() == 1
                    && crate::syntax::heredoc_markers(s).len() == 1
                    && s.trim().starts_with("<<")
                    && s.split_whitespace().count() == 1
                {
                    heredocs[0].content.clone()
                } else {
                    let mut t = s.clone();
                    for h in heredocs {
                        t.push('\n');
                        t.push_str(&h.content);
                        t.push_str(&h.name);
                    }
                    t
                };
                let mut v = st.shell();
                v.push(script);
                v
            }
        };
        // Build args in the environment (ENV wins), and in history as `|N k=v …`.
        let env_names: BTreeSet<String> = st.env().into_iter().map(|(k, _)| k).collect();
        let mut arg_env: Vec<(String, String)> = st
            .args
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .filter(|(k, _)| !env_names.contains(k))
            .collect();
        for p in PROXY_ARGS {
            if let Some(v) = self.opts.build_args.get(*p) {
                if !arg_env.iter().any(|(k, _)| k == p) {
                    arg_env.push((p.to_string(), v.clone()));
                }
            }
        }
        let shown_args: Vec<String> = arg_env
            .iter()
            .filter(|(k, _)| !PROXY_ARGS.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut created_by = args.join(" ");
        if !shown_args.is_empty() {
            created_by = format!(
                "|{} {} {created_by}",
                shown_args.len(),
                shown_args.join(" ")
            );
        }
        if let Some(sec) = security {
            if sec != "sandbox" {
                return Err(self.err_at(
                    node,
                    format!("RUN --security={sec} is not allowed: tug runs build steps sandboxed"),
                ));
            }
        }
        if let Some(n) = network {
            if !matches!(n, "host" | "none" | "default") {
                return Err(self.err_at(
                    node,
                    format!("network mode {n:?} is not supported for RUN: use host or none"),
                ));
            }
        }
        let mount_specs: Vec<MountSpec> = mounts
            .iter()
            .map(|m| MountSpec::parse(m).map_err(|e| self.err_at(node, e)))
            .collect::<Result<_>>()?;
        let mut key_parts = vec![
            st.key.clone(),
            "RUN".to_string(),
            quote_json(&args),
            script_file.clone().unwrap_or_default(),
            created_by.clone(),
            format!("{network:?}"),
        ];
        for m in &mount_specs {
            key_parts.push(format!("{m:?}"));
            if m.kind == "bind" {
                let src = match &m.from {
                    Some(f) => match self.prog.stage_index(f) {
                        Some(i) => self.wait_stage(i)?.key,
                        None => f.clone(),
                    },
                    None => context::hash_paths(
                        self.context,
                        &[self
                            .context
                            .join(crate::ignore::clean(m.source.as_deref().unwrap_or(".")))],
                        &self.matcher,
                    )
                    .map_err(|e| self.err_at(node, format!("bind mount source: {e}")))?,
                };
                key_parts.push(src);
            }
        }
        let refs: Vec<&str> = key_parts.iter().map(String::as_str).collect();
        let key = sha(&refs);
        let env: Vec<String> = {
            let mut e: Vec<String> = st.env().iter().map(|(k, v)| format!("{k}={v}")).collect();
            if !e.iter().any(|x| x.starts_with("PATH=")) {
                e.insert(0, DEFAULT_PATH.to_string());
            }
            e.extend(arg_env.iter().map(|(k, v)| format!("{k}={v}")));
            e
        };
        let user = st.cfg()["User"].as_str().unwrap_or("").to_string();
        let workdir = st.workdir();
        self.layer_step(st, &key, created, created_by.clone(), true, |st| {
            let ws = self.b.images.workspace(&st.chains)?;
            let rootfs = ws.rootfs();
            let wd = resolve_in_root(&rootfs, &workdir);
            std::fs::create_dir_all(&wd).map_err(BuildError::internal)?;
            let (uid, gid, groups) = resolve_user(&rootfs, &user).map_err(|e| self.err_at(node, e))?;
            let mut extra_mounts = Vec::new();
            let mut keep_alive = Vec::new();
            let mut views: Vec<image::snapshot::Mount> = Vec::new();
            if let Some(body) = &script_file {
                let f = ws.scratch().join("heredoc-script");
                std::fs::write(&f, body).map_err(BuildError::internal)?;
                std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .map_err(BuildError::internal)?;
                extra_mounts.push(json!({"destination": HEREDOC_SCRIPT, "type": "bind", "source": f, "options": ["bind", "ro"]}));
            }
            for m in &mount_specs {
                let target = m.target.clone();
                match m.kind.as_str() {
                    "cache" => {
                        let id = m.id.clone().unwrap_or_else(|| target.clone());
                        let dir = self.b.state.join("mounts").join(sha(&["cache", &id]));
                        std::fs::create_dir_all(&dir).map_err(BuildError::internal)?;
                        extra_mounts.push(json!({"destination": target, "type": "bind", "source": dir, "options": ["rbind", "rw"]}));
                    }
                    "tmpfs" => {
                        let mut o = vec!["nosuid".to_string(), "nodev".to_string()];
                        if let Some(sz) = &m.size {
                            o.push(format!("size={sz}"));
                        }
                        extra_mounts.push(json!({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": o}));
                    }
                    "secret" => {
                        let id = m.id.clone().unwrap_or_else(|| {
                            Path::new(&target).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
                        });
                        match self.opts.secrets.get(&id) {
                            Some(data) => {
                                let f = ws.scratch().join(format!("secret-{}", sha(&[&id])));
                                std::fs::write(&f, data).map_err(BuildError::internal)?;
                                let mode = m.mode.unwrap_or(0o400);
                                let _ = std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(mode));
                                let _ = std::os::unix::fs::chown(&f, Some(m.uid.unwrap_or(uid)), Some(m.gid.unwrap_or(gid)));
                                extra_mounts.push(json!({"destination": target, "type": "bind", "source": f, "options": ["bind", "ro"]}));
                            }
                            None if m.required => {
                                return Err(BuildError::new(Kind::NotFound, format!("secret {id} not found: pass it with --secret id={id},src=<file>")));
                            }
                            None => {}
                        }
                    }
                    _ => {
                        // bind: from the context (default) or a stage/image's root.
                        let src_root = match &m.from {
                            Some(f) => {
                                let chains = match self.prog.stage_index(f) {
                                    Some(i) => self.wait_stage(i)?.chains,
                                    None => self.b.images.inspect(f)?.chain_ids,
                                };
                                let w = self.b.images.workspace(&chains)?;
                                let r = w.rootfs();
                                keep_alive.push(w);
                                r
                            }
                            None => self.context.to_path_buf(),
                        };
                        let mut src = resolve_in_root(&src_root, m.source.as_deref().unwrap_or("/"));
                        if m.rw && m.from.is_none() {
                            // Writes through an rw bind are thrown away after this RUN (as
                            // BuildKit's): the context itself is never written.
                            src = throwaway_view(&src, &ws.scratch().join(format!("bind-{}", extra_mounts.len())), &mut views)?;
                        }
                        let mode = if m.rw { "rw" } else { "ro" };
                        extra_mounts.push(json!({"destination": target, "type": "bind", "source": src, "options": ["rbind", mode]}));
                    }
                }
            }
            let made = self.exec(&ws, &args, &env, &workdir, uid, gid, &groups, network, extra_mounts);
            drop(views);
            let made = made?;
            drop(keep_alive);
            let code = made;
            if code != 0 {
                let shown = match command {
                    Command::Exec(v) => quote_json(v),
                    Command::Shell(_) => args.join(" "),
                };
                return Err(BuildError::new(
                    Kind::Failed,
                    format!("The command '{shown}' returned a non-zero code: {code}"),
                ));
            }
            Ok(ws.commit(&self.b.images, &self.diff_opts())?)
        })
    }

    /// Run `args` in a container on the workspace; returns the exit code.
    #[allow(clippy::too_many_arguments)]
    fn exec(
        &self,
        ws: &image::commit::Workspace,
        args: &[String],
        env: &[String],
        cwd: &str,
        uid: u32,
        gid: u32,
        groups: &[u32],
        network: Option<&str>,
        extra: Vec<Value>,
    ) -> Result<i32> {
        let rootfs = ws.rootfs();
        let id = format!(
            "tug-build-{}",
            &sha(&[
                &rootfs.to_string_lossy(),
                &now_secs().to_string(),
                &format!("{:?}", std::thread::current().id())
            ])[..16]
        );
        let mut mounts = vec![
            json!({"destination": "/proc", "type": "proc", "source": "proc"}),
            json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
            json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        ];
        let mut namespaces = vec![
            json!({"type": "pid"}),
            json!({"type": "ipc"}),
            json!({"type": "uts"}),
            json!({"type": "mount"}),
        ];
        if network == Some("none") {
            namespaces.push(json!({"type": "network"}));
        } else {
            for f in ["/etc/resolv.conf", "/etc/hosts"] {
                if Path::new(f).exists() {
                    mounts.push(json!({"destination": f, "type": "bind", "source": f, "options": ["rbind", "ro"]}));
                }
            }
        }
        mounts.extend(extra);
        // Mount points the image lacks are created for the run and removed afterwards, so
        // they never show up in the layer.
        // Each stub: the first missing path, and the mount point itself.
        let mut stubs = Vec::new();
        for m in &mounts {
            if let Some(d) = m["destination"].as_str() {
                let mut cur = PathBuf::from("/");
                for c in Path::new(d).components().skip(1) {
                    cur.push(c);
                    let p = resolve_in_root(&rootfs, &cur.to_string_lossy());
                    if std::fs::symlink_metadata(&p).is_err() {
                        stubs.push((p, resolve_in_root(&rootfs, d)));
                        break;
                    }
                }
            }
        }
        let mut linux = json!({
            "namespaces": namespaces,
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            "resources": {"devices": [{"access": "rwm", "allow": false}]},
        });
        if let Some(p) = &self.b.cgroup_parent {
            linux["cgroupsPath"] = json!(format!("{}/{id}", p.trim_end_matches('/')));
        }
        let spec = json!({
            "ociVersion": "1.2.0",
            "hostname": "tug-build",
            "root": {"path": rootfs, "readonly": false},
            "process": {
                "terminal": false, "args": args, "env": env, "cwd": cwd,
                "user": {"uid": uid, "gid": gid, "additionalGids": groups},
                "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
                "noNewPrivileges": false,
            },
            "mounts": mounts,
            "linux": linux,
        });
        let bundle = ws.scratch().join("bundle");
        std::fs::create_dir_all(&bundle).map_err(BuildError::internal)?;
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec(&spec).unwrap_or_default(),
        )
        .map_err(BuildError::internal)?;
        self.line(&format!(" ---> Running in {}\n", &id[10..22]));
        let (reader, writer) = std::io::pipe().map_err(BuildError::internal)?;
        let w2 = writer.try_clone().map_err(BuildError::internal)?;
        let mut child = std::process::Command::new(&self.b.runtime)
            .arg("runtime")
            .arg("--root")
            .arg(&self.b.runtime_root)
            .arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(w2)
            .spawn()
            .map_err(|e| BuildError::internal(format!("run {}: {e}", self.b.runtime.display())))?;
        let mut r = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => self.line(&String::from_utf8_lossy(&buf)),
            }
        }
        let status = child.wait().map_err(BuildError::internal)?;
        // Only what the runtime made for the mounts goes: the mount point, then the directories
        // created above it while they are empty (a RUN may have written beside the mount point,
        // e.g. /etc/motd when the image had no /etc).
        for (first, leaf) in stubs {
            let _ = std::fs::remove_file(&leaf).or_else(|_| std::fs::remove_dir(&leaf));
            let mut cur = leaf.parent().map(Path::to_path_buf);
            while let Some(dir) = cur {
                if !dir.starts_with(&first) || std::fs::remove_dir(&dir).is_err() {
                    break;
                }
                cur = dir.parent().map(Path::to_path_buf);
            }
        }
        Ok(status
            .code()
            .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)))
    }

    /// `ADD http://…`: fetch the file (following redirects), check `--checksum`, and keep it
    /// under the builder's state named by its URL; mode 0600 as Docker gives downloads.
    fn download(
        &self,
        node: &crate::syntax::Node,
        url: &str,
        checksum: Option<&str>,
    ) -> Result<PathBuf> {
        let mut cur = url.to_string();
        let mut body = None;
        for _ in 0..5 {
            match http_get(&cur).map_err(|e| self.err_at(node, format!("ADD {url}: {e}")))? {
                HttpAnswer::Body(b) => {
                    body = Some(b);
                    break;
                }
                HttpAnswer::Redirect(to) => cur = to,
            }
        }
        let Some(body) = body else {
            return Err(self.err_at(node, format!("ADD {url}: too many redirects")));
        };
        if let Some(want) = checksum {
            let got = format!("sha256:{}", context::hex(&Sha256::digest(&body)));
            if want != got {
                return Err(self.err_at(node, format!("ADD {url}: digest mismatch {want}: {got}")));
            }
        }
        let name = url
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or("__unnamed__");
        let dir = self.b.state.join("downloads").join(&sha(&[url])[..32]);
        std::fs::create_dir_all(&dir).map_err(BuildError::internal)?;
        let f = dir.join(name);
        std::fs::write(&f, &body).map_err(BuildError::internal)?;
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(BuildError::internal)?;
        Ok(f)
    }

    fn copy_step(
        &self,
        st: &mut State,
        node: &crate::syntax::Node,
        c: &CopySpec,
        add: bool,
        created: &str,
    ) -> Result<()> {
        let verb = if add { "ADD" } else { "COPY" };
        let dest_raw = self.expand(st, node, &c.dest)?;
        let wd = st.workdir();
        let dest_is_dir = dest_raw.ends_with('/') || dest_raw.ends_with("/.") || dest_raw == ".";
        let dest = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{}/{}", wd.trim_end_matches('/'), dest_raw)
        };
        let chown = match &c.chown {
            Some(o) => Some(self.expand(st, node, o)?),
            None => None,
        };
        let chmod = match &c.chmod {
            Some(m) => {
                let m = self.expand(st, node, m)?;
                Some(u32::from_str_radix(&m, 8).map_err(|_| {
                    self.err_at(node, format!("invalid chmod parameter: {m}. it should be octal string and between 0 and 07777"))
                })?)
            }
            None => None,
        };
        // Sources: heredocs, a stage/image root, or the context.
        let mut here = Vec::new();
        let mut srcs = Vec::new();
        let mut remote: Vec<PathBuf> = Vec::new();
        for s in &c.sources {
            if let Some(h) = c.heredocs.iter().find(|h| {
                crate::syntax::heredoc_markers(s)
                    .first()
                    .is_some_and(|(n, _, _)| *n == h.name)
            }) {
                let content = if h.expand {
                    self.expand(st, node, &h.content.replace('"', "\\\""))
                        .unwrap_or_else(|_| h.content.clone())
                } else {
                    h.content.clone()
                };
                here.push((h.name.clone(), content));
                continue;
            }
            let s = self.expand(st, node, s)?;
            if add && (s.starts_with("http://") || s.starts_with("https://")) {
                let checksum = match &c.checksum {
                    Some(x) => Some(self.expand(st, node, x)?),
                    None => None,
                };
                remote.push(self.download(node, &s, checksum.as_deref())?);
                continue;
            }
            if add && (s.starts_with("git@") || s.contains(".git#")) {
                return Err(self.err_at(node, format!("ADD {s}: git sources are not supported by this builder: clone the repository into the build context")));
            }
            if !add && (s.starts_with("http://") || s.starts_with("https://")) {
                return Err(self.err_at(node, format!("COPY {s}: source can't be a URL for COPY")));
            }
            srcs.push(s);
        }
        let (src_root, src_key, _keep) = match &c.from {
            Some(f) => {
                let f = self.expand(st, node, f)?;
                match self.prog.stage_index(&f) {
                    Some(i) => {
                        let other = self.wait_stage(i)?;
                        let w = self.b.images.workspace(&other.chains)?;
                        (w.rootfs(), other.key.clone(), Some(w))
                    }
                    None => {
                        let info = self.b.images.inspect(&f)?;
                        let w = self.b.images.workspace(&info.chain_ids)?;
                        (w.rootfs(), info.record.config.to_string(), Some(w))
                    }
                }
            }
            None => (self.context.to_path_buf(), String::new(), None),
        };
        let from_context = c.from.is_none();
        let all_paths = if from_context {
            context::walk(&src_root, &self.matcher).map_err(BuildError::internal)?
        } else {
            Vec::new()
        };
        let mut files: Vec<PathBuf> = remote.clone();
        let mut wildcard = false;
        for s in &srcs {
            let rel = crate::ignore::clean(s);
            if s.contains(['*', '?', '[']) {
                wildcard = true;
                let hits: Vec<PathBuf> = if from_context {
                    all_paths
                        .iter()
                        .filter(|p| crate::shell::path_match(&rel, p))
                        .map(|p| src_root.join(p))
                        .collect()
                } else {
                    glob_fs(&src_root, &rel)
                };
                files.extend(hits);
            } else {
                let p = if from_context {
                    if rel != "." && !all_paths.contains(&rel) {
                        return Err(BuildError::new(
                            Kind::NotFound,
                            format!("{verb} failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist"),
                        ));
                    }
                    src_root.join(if rel == "." { "" } else { rel.as_str() })
                } else {
                    let p = resolve_in_root(&src_root, &rel);
                    if std::fs::symlink_metadata(&p).is_err() {
                        return Err(BuildError::new(
                            Kind::NotFound,
                            format!("{verb} failed: stat {s}: file does not exist"),
                        ));
                    }
                    p
                };
                files.push(p);
            }
        }
        if files.is_empty() && here.is_empty() {
            return Err(BuildError::new(
                Kind::NotFound,
                format!("{verb} failed: no source files were specified"),
            ));
        }
        if (files.len() + here.len() > 1 || wildcard) && !dest_is_dir {
            return Err(self.err_at(node, format!("When using {verb} with more than one source file, the destination must be a directory and end with a /")));
        }
        let content = if from_context {
            context::hash_paths(&src_root, &files, &self.matcher).map_err(BuildError::internal)?
        } else {
            let rels: Vec<String> = files
                .iter()
                .map(|f| {
                    f.strip_prefix(&src_root)
                        .unwrap_or(f)
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            sha(&[&src_key, &rels.join("\n")])
        };
        let here_key: Vec<String> = here.iter().map(|(n, c)| format!("{n}\0{c}")).collect();
        let key = sha(&[
            &st.key,
            verb,
            &dest,
            &format!("{chown:?}{chmod:?}{dest_is_dir}{}", c.parents),
            &content,
            &here_key.join("\0"),
            &c.exclude.join(","),
        ]);
        let kind = if files.len() == 1 && files[0].is_dir() {
            "dir"
        } else {
            "file"
        };
        let created_by = format!(
            "/bin/sh -c #(nop) {verb} {kind}:{} in {dest} ",
            &content[..content.len().min(64)]
        );
        let excludes = c.exclude.clone();
        let parents = c.parents;
        self.layer_step(st, &key, created, created_by, true, |st| {
            let ws = self.b.images.workspace(&st.chains)?;
            let rootfs = ws.rootfs();
            let (uid, gid) = match &chown {
                Some(o) => resolve_owner(&rootfs, o).map_err(|e| self.err_at(node, e))?,
                None => (0, 0),
            };
            let owner = Owner { uid, gid, chmod };
            let dest_abs = resolve_in_root(&rootfs, &dest);
            let excl = Matcher::parse(&excludes.join("\n"));
            for f in &files {
                let md = std::fs::symlink_metadata(f).map_err(BuildError::internal)?;
                let rel_src = f.strip_prefix(&src_root).unwrap_or(f).to_path_buf();
                if !md.is_dir() && excl.excluded(&rel_src.to_string_lossy()) {
                    continue;
                }
                let target_dir_or_file = if parents {
                    dest_abs.join(&rel_src)
                } else if md.is_dir() {
                    dest_abs.clone()
                } else if dest_is_dir || dest_abs.is_dir() {
                    dest_abs.join(f.file_name().unwrap_or_default())
                } else {
                    dest_abs.clone()
                };
                if let Some(parent) = target_dir_or_file.parent() {
                    mkdir_owned(parent, &rootfs).map_err(BuildError::internal)?;
                }
                if add && md.is_file() && !remote.contains(f) && is_archive(f) {
                    std::fs::create_dir_all(&dest_abs).map_err(BuildError::internal)?;
                    let file = std::fs::File::open(f).map_err(BuildError::internal)?;
                    let (_, dec) = image::layer::decompress(file).map_err(BuildError::internal)?;
                    let opts = image::layer::ApplyOptions {
                        whiteouts: image::layer::WhiteoutMode::Flatten,
                        ..Default::default()
                    };
                    image::layer::apply(dec, &dest_abs, &opts).map_err(|e| self.err_at(node, e))?;
                    continue;
                }
                let ctx_filter = (from_context && !remote.contains(f))
                    .then(|| (&self.matcher, rel_src.as_path()));
                copy_tree(
                    f,
                    &target_dir_or_file,
                    &owner,
                    &excl,
                    Path::new(""),
                    ctx_filter,
                )
                .map_err(|e| BuildError::internal(format!("{verb} {}: {e}", rel_src.display())))?;
            }
            for (name, content) in &here {
                let t = if dest_is_dir {
                    dest_abs.join(name)
                } else {
                    dest_abs.clone()
                };
                if let Some(parent) = t.parent() {
                    mkdir_owned(parent, &rootfs).map_err(BuildError::internal)?;
                }
                std::fs::write(&t, content).map_err(BuildError::internal)?;
                set_owner_mode(&t, &owner, 0o644).map_err(BuildError::internal)?;
            }
            Ok(ws.commit(&self.b.images, &self.diff_opts())?)
        })
    }
}

enum HttpAnswer {
    Body(Vec<u8>),
    Redirect(String),
}

/// A GET of an http:// or https:// URL (system CA roots, plus $SSL_CERT_FILE).
fn http_get(url: &str) -> std::result::Result<HttpAnswer, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("only http:// and https:// URLs".into());
    }
    // Downloads are kept in memory before they are checked: a bound for hostile servers.
    const LIMIT: usize = 1 << 30;
    let (status, location, body) =
        image::registry::transport::get_blocking(url, LIMIT).map_err(|e| e.to_string())?;
    match status {
        200 => Ok(HttpAnswer::Body(body.to_vec())),
        301 | 302 | 303 | 307 | 308 => {
            let loc = location.ok_or("redirect without a location")?;
            Ok(HttpAnswer::Redirect(if loc.starts_with('/') {
                let scheme_end = url.find("://").map_or(0, |i| i + 3);
                let origin_end = url[scheme_end..]
                    .find('/')
                    .map_or(url.len(), |i| scheme_end + i);
                format!("{}{loc}", &url[..origin_end])
            } else {
                loc
            }))
        }
        _ => Err(format!("invalid response status {status}")),
    }
}

struct Owner {
    uid: u32,
    gid: u32,
    chmod: Option<u32>,
}

fn set_owner_mode(p: &Path, o: &Owner, mode: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(p, Some(o.uid), Some(o.gid))?;
    let md = std::fs::symlink_metadata(p)?;
    if !md.file_type().is_symlink() {
        let m = o.chmod.unwrap_or(mode);
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m))?;
    }
    Ok(())
}

fn mkdir_owned(p: &Path, _root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(p)
}

/// Copy `src` (file, symlink or directory: its contents) to `dst`.
/// Copy `src` (file, symlink or directory: its contents) to `dst`; `ctx` is the context's
/// ignore matcher and `src`'s path in the context, when copying from the context.
fn copy_tree(
    src: &Path,
    dst: &Path,
    o: &Owner,
    excl: &Matcher,
    rel: &Path,
    ctx: Option<(&Matcher, &Path)>,
) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !rel.as_os_str().is_empty() && excl.excluded(&rel.to_string_lossy()) {
        return Ok(());
    }
    if let Some((m, p)) = ctx {
        if !p.as_os_str().is_empty() && m.excluded(&p.to_string_lossy()) {
            return Ok(());
        }
    }
    let md = std::fs::symlink_metadata(src)?;
    let ft = md.file_type();
    if ft.is_dir() {
        match std::fs::symlink_metadata(dst) {
            Ok(d) if d.is_dir() => {}
            Ok(_) => {
                std::fs::remove_file(dst)?;
                std::fs::create_dir(dst)?;
                set_owner_mode(dst, o, md.mode() & 0o7777)?;
            }
            Err(_) => {
                std::fs::create_dir(dst)?;
                set_owner_mode(dst, o, md.mode() & 0o7777)?;
            }
        }
        let mut names: Vec<_> = std::fs::read_dir(src)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        for n in names {
            let sub = ctx.map(|(m, p)| (m, p.join(&n)));
            copy_tree(
                &src.join(&n),
                &dst.join(&n),
                o,
                excl,
                &rel.join(&n),
                sub.as_ref().map(|(m, p)| (*m, p.as_path())),
            )?;
        }
        let f = std::fs::File::open(dst)?;
        let _ = f.set_modified(md.modified()?);
        return Ok(());
    }
    if let Ok(d) = std::fs::symlink_metadata(dst) {
        if d.is_dir() {
            std::fs::remove_dir_all(dst)?;
        } else {
            std::fs::remove_file(dst)?;
        }
    }
    if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)?;
        std::os::unix::fs::lchown(dst, Some(o.uid), Some(o.gid))?;
        return Ok(());
    }
    std::fs::copy(src, dst)?;
    set_owner_mode(dst, o, md.permissions().mode() & 0o7777)?;
    let f = std::fs::File::options().write(true).open(dst)?;
    f.set_modified(md.modified()?)?;
    Ok(())
}

fn is_archive(p: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(p) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &h[257..262] == b"ustar")
}

fn glob_fs(root: &Path, pat: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in rd.flatten() {
            let r = if rel.is_empty() {
                e.file_name().to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", e.file_name().to_string_lossy())
            };
            if crate::shell::path_match(pat, &r) {
                out.push(root.join(&r));
            } else if e.file_type().is_ok_and(|t| t.is_dir())
                && r.split('/').count() < pat.split('/').count()
            {
                stack.push(r);
            }
        }
    }
    out.sort();
    out
}

/// `path` inside `root`, following symlinks as if `root` were `/` (never leaving it).
pub fn resolve_in_root(root: &Path, path: &str) -> PathBuf {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path.split('/').rev().map(String::from).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        parts.push(c);
        let cur: PathBuf = root.join(parts.join("/"));
        if let Ok(t) = std::fs::read_link(&cur) {
            hops += 1;
            if hops > 40 {
                break;
            }
            parts.pop();
            let t = t.to_string_lossy().into_owned();
            if t.starts_with('/') {
                parts.clear();
            }
            for x in t.split('/').rev() {
                todo.push(x.to_string());
            }
        }
    }
    let mut p = root.to_path_buf();
    for c in parts {
        if Path::new(&c)
            .components()
            .all(|x| matches!(x, Component::Normal(_)))
        {
            p.push(c);
        }
    }
    p
}

fn read_db(root: &Path, file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(resolve_in_root(root, file))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

/// USER `name|uid[:group|gid]` → uid, gid and supplementary groups from the image's files.
fn resolve_user(root: &Path, user: &str) -> std::result::Result<(u32, u32, Vec<u32>), String> {
    if user.is_empty() {
        return Ok((0, 0, Vec::new()));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_db(root, "/etc/passwd");
    let entry = passwd.iter().find(|e| {
        e.first().map(String::as_str) == Some(u)
            || (u.parse::<u32>().is_ok() && e.get(2).map(String::as_str) == Some(u))
    });
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => entry.and_then(|e| e.get(2)?.parse().ok()).ok_or_else(|| {
            format!("unable to find user {u}: no matching entries in passwd file")
        })?,
    };
    let name = entry.and_then(|e| e.first().cloned()).unwrap_or_default();
    let groups_db = read_db(root, "/etc/group");
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups_db
                .iter()
                .find(|e| e.first().map(String::as_str) == Some(g))
                .and_then(|e| e.get(2)?.parse().ok())
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        },
        None => entry.and_then(|e| e.get(3)?.parse().ok()).unwrap_or(0),
    };
    let extra = if g.is_none() && !name.is_empty() {
        groups_db
            .iter()
            .filter(|e| e.get(3).is_some_and(|m| m.split(',').any(|x| x == name)))
            .filter_map(|e| e.get(2)?.parse().ok())
            .collect()
    } else {
        Vec::new()
    };
    Ok((uid, gid, extra))
}

/// `--chown=user[:group]`: a user alone gives its uid as the gid too (Docker's rule).
fn resolve_owner(root: &Path, o: &str) -> std::result::Result<(u32, u32), String> {
    let (u, g) = match o.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (o, None),
    };
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => read_db(root, "/etc/passwd")
            .iter()
            .find(|e| e.first().map(String::as_str) == Some(u))
            .and_then(|e| e.get(2)?.parse().ok())
            .ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {u}: no such user: {u}"))?,
    };
    let gid = match g {
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => read_db(root, "/etc/group")
                .iter()
                .find(|e| e.first().map(String::as_str) == Some(g))
                .and_then(|e| e.get(2)?.parse().ok())
                .ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}"))?,
        },
    };
    Ok((uid, gid))
}

/// One `RUN --mount=…`.
#[derive(Debug, Clone, Default)]
struct MountSpec {
    kind: String,
    target: String,
    source: Option<String>,
    from: Option<String>,
    id: Option<String>,
    rw: bool,
    required: bool,
    size: Option<String>,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
}

impl MountSpec {
    fn parse(s: &str) -> std::result::Result<MountSpec, String> {
        let mut m = MountSpec {
            kind: "bind".into(),
            ..Default::default()
        };
        for kv in s.split(',') {
            let (k, v) = match kv.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => (kv.trim(), ""),
            };
            match k {
                "type" => m.kind = v.to_string(),
                "target" | "dst" | "destination" => m.target = v.to_string(),
                "source" | "src" => m.source = Some(v.to_string()),
                "from" => m.from = Some(v.to_string()),
                "id" => m.id = Some(v.to_string()),
                "rw" | "readwrite" => m.rw = v != "false",
                "ro" | "readonly" => m.rw = v == "false",
                "required" => m.required = v != "false",
                "size" => m.size = Some(v.to_string()),
                "mode" => m.mode = u32::from_str_radix(v, 8).ok(),
                "uid" => m.uid = v.parse().ok(),
                "gid" => m.gid = v.parse().ok(),
                "sharing" | "env" => {}
                _ => return Err(format!("unexpected key '{k}' in '{kv}'")),
            }
        }
        if !matches!(m.kind.as_str(), "bind" | "cache" | "tmpfs" | "secret") {
            return Err(format!("unsupported mount type {:?}", m.kind));
        }
        if m.target.is_empty() {
            if m.kind == "secret" {
                let id =
                    m.id.clone()
                        .or_else(|| m.source.clone())
                        .unwrap_or_default();
                m.target = format!("/run/secrets/{id}");
                m.id.get_or_insert(id);
            } else {
                return Err(format!("mount type={} requires a target", m.kind));
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration("5"), None);
    }

    #[test]
    fn mounts_parse() {
        let m = MountSpec::parse("type=secret,id=tok").unwrap();
        assert_eq!(m.target, "/run/secrets/tok");
        let m = MountSpec::parse("type=cache,target=/root/.cache,sharing=locked").unwrap();
        assert_eq!(m.kind, "cache");
        assert!(MountSpec::parse("type=cache").is_err());
        assert!(MountSpec::parse("type=nfs,target=/x").is_err());
        assert!(MountSpec::parse("type=bind,target=/x,bogus=1").is_err());
    }

    #[test]
    fn paths_resolve_inside_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/real", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", r.join("real/up")).unwrap();
        assert_eq!(resolve_in_root(r, "/abs/dir"), r.join("real/dir"));
        assert_eq!(resolve_in_root(r, "/real/up/etc"), r.join("etc"));
        assert_eq!(resolve_in_root(r, "../../x"), r.join("x"));
    }

    #[test]
    fn users_and_owners() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(
            r.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            r.join("etc/group"),
            "root:x:0:\napp:x:1001:\nextra:x:2000:app\n",
        )
        .unwrap();
        assert_eq!(resolve_user(r, "app").unwrap(), (1000, 1001, vec![2000]));
        assert_eq!(resolve_user(r, "app:root").unwrap(), (1000, 0, vec![]));
        assert_eq!(resolve_user(r, "42").unwrap(), (42, 0, vec![]));
        assert_eq!(
            resolve_user(r, "nobody").unwrap_err(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert_eq!(resolve_owner(r, "app").unwrap(), (1000, 1000));
        assert_eq!(resolve_owner(r, "app:extra").unwrap(), (1000, 2000));
        assert!(resolve_owner(r, "ghost").is_err());
    }
}

/// A writable throwaway view of `src` under `dir` for an rw bind mount: an overlay over a
/// directory (kept in `views` until the RUN ends), a copy of anything else.
fn throwaway_view(
    src: &Path,
    dir: &Path,
    views: &mut Vec<image::snapshot::Mount>,
) -> Result<PathBuf> {
    if src.is_dir() {
        if let Ok(view) = image::snapshot::writable_view(src, dir) {
            let path = view.path().to_path_buf();
            views.push(view);
            return Ok(path);
        }
    }
    std::fs::create_dir_all(dir).map_err(BuildError::internal)?;
    let copy = dir.join("copy");
    let md = std::fs::symlink_metadata(src).map_err(BuildError::internal)?;
    let owner = Owner {
        uid: std::os::unix::fs::MetadataExt::uid(&md),
        gid: std::os::unix::fs::MetadataExt::gid(&md),
        chmod: None,
    };
    copy_tree(src, &copy, &owner, &Matcher::parse(""), Path::new(""), None)
        .map_err(|e| BuildError::internal(format!("copy {} for an rw bind: {e}", src.display())))?;
    Ok(copy)
}
