//! `run`, `create`, `start`, `attach` and `exec`: creating containers (pulling a missing
//! image as docker does), and the attached session — hijacked stdio, raw terminal, resize on
//! SIGWINCH, signal proxying, detach keys, and the container's exit code as ours.

use super::opts::{io_text, CreateOpts};
use super::{fatal, out, seg};
use crate::client::hijack::{self, End, StreamOpts};
use crate::client::term::{self, RawMode};
use crate::client::{enc, fail, Client, Fail, Result};
use clap::{ArgAction, Args};
use serde_json::{json, Value};
use std::io::Write;

const DEFAULT_DETACH: &str = "ctrl-p,ctrl-q";

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    detach: bool,
    /// Proxy received signals to the process
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    sig_proxy: bool,
    #[command(flatten)]
    opts: CreateOpts,
}

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    opts: CreateOpts,
}

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    sig_proxy: bool,
    container: String,
}

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// The container, then the command and its arguments
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        trailing_var_arg = true,
        required = true,
        num_args = 2..
    )]
    args: Vec<String>,
}

/// docker's failure exit codes for `run`: 125 for the daemon or flags, 126 when the command
/// cannot be invoked, 127 when it is not found.
fn run_failure(verb: &str, e: &Fail) -> i32 {
    let m = &e.0;
    let code = if m.contains("executable file not found") || m.contains("no such file or directory")
    {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    };
    if !m.is_empty() {
        eprintln!("tug: {m}\n\nRun 'tug {verb} --help' for more information");
    }
    code
}

pub fn run_main(host: Option<&str>, a: RunArgs) -> i32 {
    let r = Client::from_host(host)
        .map_err(RunError::Usage)
        .and_then(|c| run(&c, a));
    let _ = std::io::stdout().flush();
    match r {
        Ok(code) => code,
        Err(RunError::Usage(e)) => run_failure("run", &e),
        Err(RunError::Plain(e)) => {
            if !e.0.is_empty() {
                eprintln!("{e}");
            }
            1
        }
    }
}

pub fn create_main(host: Option<&str>, a: CreateArgs) -> i32 {
    let r = Client::from_host(host).and_then(|c| {
        let req = a.opts.request(false)?;
        let id = create_container(&c, &a.opts, &req.body)?;
        out(&format!("{id}\n"))
    });
    let _ = std::io::stdout().flush();
    match r {
        Ok(()) => 0,
        Err(e) => run_failure("create", &e),
    }
}

/// `run` fails either as docker's `run` does (125/126/127 with a usage hint) or plainly (1).
enum RunError {
    Usage(Fail),
    Plain(Fail),
}

impl From<Fail> for RunError {
    fn from(e: Fail) -> Self {
        RunError::Usage(e)
    }
}

/// The familiar reference docker prints: `busybox` → `busybox:latest`.
fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Pull `image`, progress lines to stderr as `docker run` shows them.
fn pull(c: &Client, image: &str, platform: Option<&str>, quiet: bool) -> Result<()> {
    let (name, tag) = match image.split_once('@') {
        Some((n, d)) => (n.to_string(), d.to_string()),
        None => {
            let last = image.rsplit('/').next().unwrap_or(image);
            match last.rsplit_once(':') {
                Some((_, t)) => (
                    image[..image.len() - t.len() - 1].to_string(),
                    t.to_string(),
                ),
                None => (image.to_string(), "latest".to_string()),
            }
        }
    };
    let mut path = format!("/images/create?fromImage={}&tag={}", enc(&name), enc(&tag));
    if let Some(p) = platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    let r = c.request("POST", &path, None)?;
    let mut err = std::io::stderr();
    for m in r.messages() {
        let m = m?;
        if let Some(e) = m["errorDetail"]["message"].as_str().or(m["error"].as_str()) {
            return fail(e.to_string());
        }
        if quiet
            || m.get("progressDetail")
                .is_some_and(|d| !d.as_object().is_some_and(|o| o.is_empty()))
        {
            continue;
        }
        let status = m["status"].as_str().unwrap_or("");
        if status.is_empty() {
            continue;
        }
        let line = match m["id"].as_str() {
            Some(id) if !id.is_empty() => format!("{id}: {status}\n"),
            _ => format!("{status}\n"),
        };
        let _ = err.write_all(line.as_bytes());
    }
    Ok(())
}

/// Create the container (pulling its image when missing, per `--pull`); its ID.
fn create_container(c: &Client, o: &CreateOpts, body: &Value) -> Result<String> {
    let image = o.image();
    if let Some(f) = &o.cidfile {
        if std::path::Path::new(f).exists() {
            return fail(format!(
                "Container ID file found, make sure the other container isn't running or delete {f}"
            ));
        }
    }
    match o.pull.as_str() {
        "missing" | "never" => {}
        "always" => pull(c, image, o.platform.as_deref(), o.quiet)?,
        p => {
            return fail(format!(
                "invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\""
            ))
        }
    }
    let mut path = String::from("/containers/create");
    let mut q = Vec::new();
    if let Some(n) = &o.name {
        q.push(format!("name={}", enc(n)));
    }
    if let Some(p) = &o.platform {
        q.push(format!("platform={}", enc(p)));
    }
    if !q.is_empty() {
        path = format!("{path}?{}", q.join("&"));
    }
    let created = match c.post_json(&path, body) {
        Err(e) if e.0.contains("No such image") && o.pull == "missing" => {
            eprintln!("Unable to find image '{}' locally", with_tag(image));
            pull(c, image, o.platform.as_deref(), o.quiet)?;
            c.post_json(&path, body)?
        }
        r => r?,
    };
    for w in created["Warnings"].as_array().into_iter().flatten() {
        if let Some(w) = w.as_str() {
            eprintln!("WARNING: {w}");
        }
    }
    let id = created["Id"].as_str().unwrap_or_default().to_string();
    if let Some(f) = &o.cidfile {
        std::fs::write(f, &id).map_err(|e| {
            Fail(format!(
                "failed to write the container ID to the file: open {f}: {}",
                io_text(&e)
            ))
        })?;
    }
    Ok(id)
}

/// Signals the client forwards to the container (without a tty), and SIGWINCH for resize.
const PROXIED: [nix::sys::signal::Signal; 6] = {
    use nix::sys::signal::Signal::*;
    [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]
};

/// Block the signals we handle in this (and every later) thread, and serve them from one:
/// SIGWINCH resizes `resize_path`'s terminal, the others are sent to the container.
fn signal_thread(c: &Client, resize_path: Option<String>, kill_path: Option<String>) {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let mut set = SigSet::empty();
    if resize_path.is_some() {
        set.add(Signal::SIGWINCH);
    }
    if kill_path.is_some() {
        for s in PROXIED {
            set.add(s);
        }
    }
    if set == SigSet::empty() {
        return;
    }
    if nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).is_err() {
        return;
    }
    let c = c.clone();
    std::thread::spawn(move || loop {
        let Ok(sig) = set.wait() else { return };
        if sig == Signal::SIGWINCH {
            if let Some(p) = &resize_path {
                resize(&c, p);
            }
        } else if let Some(p) = &kill_path {
            let _ = c.post(&format!("{p}?signal={}", sig as i32));
        }
    });
}

/// Tell the daemon our terminal's size (`…/resize?h=&w=`).
fn resize(c: &Client, path: &str) {
    if let Some((h, w)) = term::size(1).or_else(|| term::size(0)) {
        let _ = c.post(&format!("{path}?h={h}&w={w}"));
    }
}

fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>> {
    let spec = spec
        .map(String::from)
        .or_else(|| {
            std::env::var("TUG_DETACH_KEYS")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_DETACH.into());
    term::detach_keys(&spec)
        .map_err(|e| Fail(format!("Invalid detach keys ({spec}) provided: {e}")))
}

/// Read a wait response: the container's exit code.
fn wait_code(r: crate::client::Response) -> Result<i32> {
    let v = r.json()?;
    if let Some(m) = v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
        return fail(m.to_string());
    }
    Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32)
}

fn run(c: &Client, a: RunArgs) -> std::result::Result<i32, RunError> {
    let o = &a.opts;
    let req = o.request(a.detach)?;
    let (a_in, a_out, a_err) = o.attach_streams(a.detach)?;
    if o.tty && a_in && !term::isatty(0) {
        return Err(RunError::Plain(Fail(
            "the input device is not a TTY".into(),
        )));
    }
    let keys = detach_keys(o.detach_keys.as_deref())?;
    let id = create_container(c, o, &req.body)?;
    let cpath = format!("/containers/{id}");
    if a.detach {
        c.post(&format!("{cpath}/start"))?;
        out(&format!("{id}\n")).map_err(RunError::Plain)?;
        return Ok(0);
    }
    let attaching = a_in || a_out || a_err;
    let sock = if attaching {
        let mut q = format!(
            "{cpath}/attach?stream=1&stdin={}&stdout={}&stderr={}",
            a_in as u8, a_out as u8, a_err as u8
        );
        if let Some(k) = &o.detach_keys {
            q.push_str(&format!("&detachKeys={}", enc(k)));
        }
        Some(c.hijack(&q, None)?)
    } else {
        None
    };
    // Signals are blocked before any other thread exists, so only the signal thread gets them.
    signal_thread(
        c,
        o.tty.then(|| format!("{cpath}/resize")),
        (!o.tty && a.sig_proxy).then(|| format!("{cpath}/kill")),
    );
    let cond = if o.rm { "removed" } else { "next-exit" };
    let waiter = c.request("POST", &format!("{cpath}/wait?condition={cond}"), None)?;
    let waiter = std::thread::spawn(move || wait_code(waiter));
    let raw = if o.tty && a_in {
        RawMode::enable(0)
    } else {
        None
    };
    if let Err(e) = c.post(&format!("{cpath}/start")) {
        drop(raw);
        return Err(RunError::Usage(e));
    }
    if o.tty {
        resize(c, &format!("{cpath}/resize"));
    }
    let end = match sock {
        Some(s) => hijack::stream(
            s,
            &StreamOpts {
                tty: o.tty,
                stdin: a_in,
                detach_keys: keys,
                stdout: a_out,
                stderr: a_err,
            },
        ),
        None => Ok(End::Closed),
    };
    drop(raw);
    match end {
        Ok(End::Detached) => return Ok(0),
        Ok(End::Closed) => {}
        Err(e) => return Err(RunError::Plain(Fail(format!("error reading output: {e}")))),
    }
    let code = waiter
        .join()
        .map_err(|_| RunError::Plain(Fail("wait failed".into())))?
        .map_err(RunError::Plain)?;
    Ok(code)
}

/// Attach to a started or starting container and stream until it ends: its exit code.
#[allow(clippy::too_many_arguments)]
fn session(
    c: &Client,
    id: &str,
    tty: bool,
    stdin: bool,
    keys: Vec<u8>,
    keys_spec: Option<&str>,
    sig_proxy: bool,
    start: bool,
) -> Result<i32> {
    let cpath = format!("/containers/{id}");
    if tty && stdin && !term::isatty(0) {
        return fail("the input device is not a TTY");
    }
    let mut q = format!(
        "{cpath}/attach?stream=1&stdin={}&stdout=1&stderr=1",
        stdin as u8
    );
    if let Some(k) = keys_spec {
        q.push_str(&format!("&detachKeys={}", enc(k)));
    }
    let sock = c.hijack(&q, None)?;
    signal_thread(
        c,
        tty.then(|| format!("{cpath}/resize")),
        (!tty && sig_proxy).then(|| format!("{cpath}/kill")),
    );
    let raw = if tty && stdin {
        RawMode::enable(0)
    } else {
        None
    };
    if start {
        if let Err(e) = c.post(&format!("{cpath}/start")) {
            drop(raw);
            return Err(e);
        }
    }
    if tty {
        resize(c, &format!("{cpath}/resize"));
    }
    let end = hijack::stream(
        sock,
        &StreamOpts {
            tty,
            stdin,
            detach_keys: keys,
            stdout: true,
            stderr: true,
        },
    );
    drop(raw);
    match end {
        // As docker's attach: leaving with the detach keys is reported (exit 1).
        Ok(End::Detached) if !start => fail("read escape sequence"),
        Ok(End::Detached) => Ok(0),
        Ok(End::Closed) => {
            let r = c.request("POST", &format!("{cpath}/wait"), None)?;
            wait_code(r)
        }
        Err(e) => fail(format!("error reading output: {e}")),
    }
}

pub fn start(c: &Client, a: StartArgs) -> Result<i32> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return fail("you cannot start and attach multiple containers at once");
        }
        let name = &a.containers[0];
        let info = c.get_json(&format!("/containers/{}/json", seg(name)))?;
        let id = info["Id"].as_str().unwrap_or(name).to_string();
        let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let stdin = a.interactive && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
        let keys = detach_keys(a.detach_keys.as_deref())?;
        return session(
            c,
            &id,
            tty,
            stdin,
            keys,
            a.detach_keys.as_deref(),
            true,
            true,
        );
    }
    let mut failed = Vec::new();
    for n in &a.containers {
        match c.post(&format!("/containers/{}/start", seg(n))) {
            Ok(()) => out(&format!("{n}\n"))?,
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                eprintln!("{e}");
                failed.push(n.clone());
            }
        }
    }
    if !failed.is_empty() {
        return fail(format!(
            "Error: failed to start containers: {}",
            failed.join(", ")
        ));
    }
    Ok(0)
}

pub fn attach(c: &Client, a: AttachArgs) -> Result<i32> {
    let info = c.get_json(&format!("/containers/{}/json", seg(&a.container)))?;
    let st = &info["State"];
    if st["Paused"].as_bool() == Some(true) {
        return fail("You cannot attach to a paused container, unpause it first");
    }
    if st["Running"].as_bool() != Some(true) {
        return fail("You cannot attach to a stopped container, start it first");
    }
    let id = info["Id"].as_str().unwrap_or(&a.container).to_string();
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !a.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let keys = detach_keys(a.detach_keys.as_deref())?;
    session(
        c,
        &id,
        tty,
        stdin,
        keys,
        a.detach_keys.as_deref(),
        a.sig_proxy,
        false,
    )
}

pub fn exec(c: &Client, a: ExecArgs) -> Result<i32> {
    let name = &a.args[0];
    let cmd = &a.args[1..];
    let info = c.get_json(&format!("/containers/{}/json", seg(name)))?;
    let id = info["Id"].as_str().unwrap_or(name).to_string();
    if a.tty && a.interactive && !a.detach && !term::isatty(0) {
        return fail("the input device is not a TTY");
    }
    let keys = detach_keys(a.detach_keys.as_deref())?;
    let env = super::opts::env_list(&a.env, &a.env_file)?;
    let size = if a.tty { term::size(1) } else { None };
    let mut body = json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": a.tty,
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Detach": a.detach,
        "DetachKeys": a.detach_keys.clone().unwrap_or_default(),
        "Env": env,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": cmd,
    });
    if let Some((h, w)) = size {
        body["ConsoleSize"] = json!([h, w]);
    }
    let created = c.post_json(&format!("/containers/{}/exec", seg(&id)), &body)?;
    let eid = created["Id"].as_str().unwrap_or_default().to_string();
    let epath = format!("/exec/{eid}");
    if a.detach {
        c.request_json(
            "POST",
            &format!("{epath}/start"),
            &json!({"Detach": true, "Tty": a.tty}),
        )?;
        return Ok(0);
    }
    let mut start = json!({"Detach": false, "Tty": a.tty});
    if let Some((h, w)) = size {
        start["ConsoleSize"] = json!([h, w]);
    }
    let sock = c.hijack(&format!("{epath}/start"), Some(&start))?;
    signal_thread(c, a.tty.then(|| format!("{epath}/resize")), None);
    let raw = if a.tty && a.interactive {
        RawMode::enable(0)
    } else {
        None
    };
    if a.tty {
        resize(c, &format!("{epath}/resize"));
    }
    let end = hijack::stream(
        sock,
        &StreamOpts {
            tty: a.tty,
            stdin: a.interactive,
            detach_keys: keys,
            stdout: true,
            stderr: true,
        },
    );
    drop(raw);
    match end {
        Ok(End::Detached) => return Ok(0),
        Ok(End::Closed) => {}
        Err(e) => return fail(format!("error reading output: {e}")),
    }
    // The exit code, once the daemon has recorded it.
    for _ in 0..200 {
        let v = c.get_json(&format!("{epath}/json"))?;
        if v["Running"].as_bool() != Some(true) {
            return Ok(v["ExitCode"].as_i64().unwrap_or(0) as i32);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(0)
}
