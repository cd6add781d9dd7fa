//! `tug runtime <verb>` (and `tug-runc <verb>`): runc's command line over the runtime crate.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use oci_spec::runtime::{LinuxResources, Process};
use runtime::container::{self, CreateOpts, ExecOpts};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "tug-runc",
    version,
    about = "tug's OCI runtime (runc-compatible)"
)]
pub struct RuntimeCli {
    /// Directory for container state
    #[arg(long, global = true, default_value = "/run/tug/runtime")]
    root: PathBuf,
    /// Also write errors (and debug messages) to this file
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of the log file: text or json
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    /// Read cgroupsPath as systemd's "slice:prefix:name"
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Log debug messages
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for compatibility (auto, true or false)
    #[arg(long = "rootless", id = "global_rootless")]
    global_rootless: Option<String>,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// File to write the container's init pid to
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is true
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Pass N extra file descriptors (from 3) into the container
    #[arg(long, default_value_t = 0)]
    preserve_fds: usize,
    /// Use move + chroot instead of pivot_root
    #[arg(long)]
    no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long)]
    no_new_keyring: bool,
    id: String,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Create a container from a bundle; it waits for `start`
    Create(CreateArgs),
    /// Run the user process of a created container
    Start { id: String },
    /// Create and start a container (foreground unless --detach)
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Do not wait for the container to exit
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
    },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal (default SIGTERM) to a container
    Kill {
        /// Signal every process in the container
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container
    Delete {
        /// Kill the container first if it still runs
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List containers
    #[command(alias = "ls")]
    List {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Print only the ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a new process inside a container
    Exec(ExecArgs),
    /// List the processes of a container
    Ps {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Arguments for ps(1) (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Print resource usage (and OOM events) as JSON
    Events {
        /// Print the stats once and exit
        #[arg(long)]
        stats: bool,
        /// Interval between stats, e.g. 5s or 500ms
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Change a running container's resources
    Update(UpdateArgs),
    /// Write a default config.json
    Spec {
        /// A spec for a rootless container (user namespace, no network namespace)
        #[arg(long)]
        rootless: bool,
        /// Directory to write config.json in
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Print what this runtime supports as JSON
    Features,
}

#[derive(Args, Debug)]
struct ExecArgs {
    /// A process.json describing the process (instead of the command line)
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Do not wait for the process to exit
    #[arg(short, long)]
    detach: bool,
    /// Set an environment variable (KEY=value)
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory in the container
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// Add a capability (to bounding, effective, permitted and ambient sets)
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privileges
    #[arg(long)]
    no_new_privs: bool,
    /// AppArmor profile for the process
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux label (accepted; SELinux is not supported)
    #[arg(long)]
    process_label: Option<String>,
    #[arg(long)]
    console_socket: Option<PathBuf>,
    #[arg(long)]
    pid_file: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    preserve_fds: usize,
    /// Allow exec into a paused container
    #[arg(long)]
    ignore_paused: bool,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
struct UpdateArgs {
    /// A LinuxResources JSON file, or - for stdin
    #[arg(short, long)]
    resources: Option<String>,
    #[arg(long)]
    memory: Option<String>,
    #[arg(long)]
    memory_reservation: Option<String>,
    #[arg(long)]
    memory_swap: Option<String>,
    #[arg(long)]
    cpu_shares: Option<u64>,
    #[arg(long)]
    cpu_quota: Option<i64>,
    #[arg(long)]
    cpu_period: Option<u64>,
    #[arg(long)]
    cpuset_cpus: Option<String>,
    #[arg(long)]
    cpuset_mems: Option<String>,
    #[arg(long)]
    pids_limit: Option<i64>,
    #[arg(long)]
    blkio_weight: Option<u16>,
    id: String,
}

/// Parse a runtime command line (the program name first). The verbs that container managers
/// call on every container are read by hand, so each of those short-lived processes skips
/// building clap's command tree; help, `--version`, the other verbs and anything malformed
/// go to clap, which prints what it prints.
pub fn parse(args: Vec<String>) -> RuntimeCli {
    fast::parse(&args).unwrap_or_else(|| RuntimeCli::parse_from(args))
}

/// The hand-written half of `parse`: runc's grammar for the hot verbs, as clap reads it
/// (`--flag value` and `--flag=value`, short flags alone, global flags before or after the
/// verb). None whenever clap would answer differently.
mod fast {
    use super::{CreateArgs, ExecArgs, RuntimeCli, Verb};
    use std::path::PathBuf;

    struct Tokens<'a> {
        args: &'a [String],
        next: usize,
    }

    impl<'a> Tokens<'a> {
        fn peek(&self) -> Option<&'a str> {
            self.args.get(self.next).map(String::as_str)
        }
        fn take(&mut self) -> Option<&'a str> {
            let t = self.peek()?;
            self.next += 1;
            Some(t)
        }
        /// The value of a flag given as `--name value` or `--name=value`.
        fn value(&mut self, inline: Option<&'a str>) -> Option<&'a str> {
            match inline {
                Some(v) => Some(v),
                None => self.take().filter(|v| !v.starts_with('-') || *v == "-"),
            }
        }
    }

    /// `--name=value` → ("--name", Some("value")).
    fn split(tok: &str) -> (&str, Option<&str>) {
        match tok.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (tok, None),
        }
    }

    /// A global flag (also accepted after the verb); false if `name` is not one.
    fn global<'a>(
        cli: &mut RuntimeCli,
        t: &mut Tokens<'a>,
        name: &str,
        inline: Option<&'a str>,
    ) -> Option<bool> {
        match name {
            "--root" => cli.root = PathBuf::from(t.value(inline)?),
            "--log" => cli.log = Some(PathBuf::from(t.value(inline)?)),
            "--log-format" => cli.log_format = t.value(inline)?.to_string(),
            "--systemd-cgroup" if inline.is_none() => cli.systemd_cgroup = true,
            "--debug" if inline.is_none() => cli.debug = true,
            _ => return Some(false),
        }
        Some(true)
    }

    fn bool_flag(inline: Option<&str>) -> Option<bool> {
        inline.is_none().then_some(true)
    }

    pub(super) fn parse(args: &[String]) -> Option<RuntimeCli> {
        let mut t = Tokens { args, next: 1 };
        let mut cli = RuntimeCli {
            root: PathBuf::from("/run/tug/runtime"),
            log: None,
            log_format: "text".to_string(),
            systemd_cgroup: false,
            debug: false,
            global_rootless: None,
            verb: Verb::Features,
        };
        let verb = loop {
            let tok = t.take()?;
            let (name, inline) = split(tok);
            if name == "--rootless" {
                cli.global_rootless = Some(t.value(inline)?.to_string());
                continue;
            }
            if !name.starts_with('-') {
                break tok;
            }
            if !global(&mut cli, &mut t, name, inline)? {
                return None;
            }
        };
        // Flags of the verb (`short` letters and long names) and its positionals, in order.
        let mut positional: Vec<&str> = Vec::new();
        let mut create = CreateArgs {
            bundle: PathBuf::from("."),
            pid_file: None,
            console_socket: None,
            preserve_fds: 0,
            no_pivot: false,
            no_new_keyring: false,
            id: String::new(),
        };
        let mut exec = ExecArgs {
            process: None,
            tty: false,
            detach: false,
            env: Vec::new(),
            cwd: None,
            user: None,
            additional_gids: Vec::new(),
            cap: Vec::new(),
            no_new_privs: false,
            apparmor: None,
            process_label: None,
            console_socket: None,
            pid_file: None,
            preserve_fds: 0,
            ignore_paused: false,
            id: String::new(),
            command: Vec::new(),
        };
        let (mut force, mut all, mut detach, mut keep) = (false, false, false, false);
        while let Some(tok) = t.take() {
            if tok == "--" || !tok.starts_with('-') || tok == "-" {
                if tok != "--" {
                    positional.push(tok);
                }
                if verb == "exec" {
                    // The id ends exec's flags; everything after it is the command, as in runc.
                    if tok == "--" {
                        positional.push(t.take()?);
                    }
                    exec.command = t.args[t.next..].to_vec();
                    if exec.command.first().is_some_and(|c| c == "--") {
                        exec.command.remove(0);
                    }
                    break;
                }
                if tok == "--" {
                    positional.extend(t.args[t.next..].iter().map(String::as_str));
                    break;
                }
                continue;
            }
            let (name, inline) = split(tok);
            if global(&mut cli, &mut t, name, inline)? {
                continue;
            }
            match (verb, name) {
                ("create" | "run", "-b" | "--bundle") => create.bundle = t.value(inline)?.into(),
                ("create" | "run", "--pid-file") => create.pid_file = Some(t.value(inline)?.into()),
                ("create" | "run", "--console-socket") => {
                    create.console_socket = Some(t.value(inline)?.into())
                }
                ("create" | "run", "--preserve-fds") => {
                    create.preserve_fds = t.value(inline)?.parse().ok()?
                }
                ("create" | "run", "--no-pivot") => create.no_pivot = bool_flag(inline)?,
                ("create" | "run", "--no-new-keyring") => {
                    create.no_new_keyring = bool_flag(inline)?
                }
                ("run", "-d" | "--detach") => detach = bool_flag(inline)?,
                ("run", "--keep") => keep = bool_flag(inline)?,
                ("delete", "-f" | "--force") => force = bool_flag(inline)?,
                ("kill", "-a" | "--all") => all = bool_flag(inline)?,
                ("exec", "-p" | "--process") => exec.process = Some(t.value(inline)?.into()),
                ("exec", "-t" | "--tty") => exec.tty = bool_flag(inline)?,
                ("exec", "-d" | "--detach") => exec.detach = bool_flag(inline)?,
                ("exec", "-e" | "--env") => exec.env.push(t.value(inline)?.to_string()),
                ("exec", "--cwd") => exec.cwd = Some(t.value(inline)?.into()),
                ("exec", "-u" | "--user") => exec.user = Some(t.value(inline)?.to_string()),
                ("exec", "-g" | "--additional-gids") => {
                    exec.additional_gids.push(t.value(inline)?.parse().ok()?)
                }
                ("exec", "-c" | "--cap") => exec.cap.push(t.value(inline)?.to_string()),
                ("exec", "--no-new-privs") => exec.no_new_privs = bool_flag(inline)?,
                ("exec", "--apparmor") => exec.apparmor = Some(t.value(inline)?.to_string()),
                ("exec", "--process-label") => {
                    exec.process_label = Some(t.value(inline)?.to_string())
                }
                ("exec", "--console-socket") => exec.console_socket = Some(t.value(inline)?.into()),
                ("exec", "--pid-file") => exec.pid_file = Some(t.value(inline)?.into()),
                ("exec", "--preserve-fds") => exec.preserve_fds = t.value(inline)?.parse().ok()?,
                ("exec", "--ignore-paused") => exec.ignore_paused = bool_flag(inline)?,
                _ => return None,
            }
        }
        let id = |p: &[&str]| match p {
            [id] => Some(id.to_string()),
            _ => None,
        };
        cli.verb = match verb {
            "create" => {
                create.id = id(&positional)?;
                Verb::Create(create)
            }
            "run" => {
                create.id = id(&positional)?;
                Verb::Run {
                    create,
                    detach,
                    keep,
                }
            }
            "start" => Verb::Start {
                id: id(&positional)?,
            },
            "state" => Verb::State {
                id: id(&positional)?,
            },
            "pause" => Verb::Pause {
                id: id(&positional)?,
            },
            "resume" => Verb::Resume {
                id: id(&positional)?,
            },
            "delete" => Verb::Delete {
                force,
                id: id(&positional)?,
            },
            "kill" => match positional[..] {
                [id] | [id, _] => Verb::Kill {
                    all,
                    id: id.to_string(),
                    signal: positional.get(1).unwrap_or(&"SIGTERM").to_string(),
                },
                _ => return None,
            },
            "exec" => {
                exec.id = id(&positional)?;
                Verb::Exec(exec)
            }
            _ => return None,
        };
        Some(cli)
    }
}

/// Run a runtime verb; the process exit code.
pub fn main(cli: RuntimeCli) -> i32 {
    let log = Log {
        path: cli.log.clone(),
        json: cli.log_format == "json",
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            log.error(&format!("{e:#}"));
            1
        }
    }
}

struct Log {
    path: Option<PathBuf>,
    json: bool,
}

impl Log {
    fn error(&self, msg: &str) {
        eprintln!("tug-runc: {msg}");
        let Some(path) = &self.path else { return };
        let time = runtime::util::rfc3339_now();
        let line = if self.json {
            serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level=error msg={msg:?}")
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn dispatch(cli: RuntimeCli) -> Result<i32> {
    let root = cli.root.clone();
    match cli.verb {
        Verb::Create(a) => {
            let opts = create_opts(&root, a, cli.systemd_cgroup)?;
            container::create(opts)?;
        }
        Verb::Start { id } => container::start(&root, &id)?,
        Verb::Run {
            create,
            detach,
            keep,
        } => return run(&root, create, detach, keep, cli.systemd_cgroup),
        Verb::State { id } => println!(
            "{}",
            serde_json::to_string_pretty(&container::state(&root, &id)?)?
        ),
        Verb::Kill { all, id, signal } => {
            container::kill(&root, &id, container::parse_signal(&signal)?, all)?
        }
        Verb::Delete { force, id } => container::delete(&root, &id, force)?,
        Verb::List { format, quiet } => list(&root, &format, quiet)?,
        Verb::Exec(a) => return exec(&root, a),
        Verb::Ps {
            format,
            id,
            ps_args,
        } => ps(&root, &id, &format, ps_args)?,
        Verb::Pause { id } => container::pause(&root, &id)?,
        Verb::Resume { id } => container::resume(&root, &id)?,
        Verb::Events {
            stats,
            interval,
            id,
        } => events(&root, &id, stats, &interval)?,
        Verb::Update(a) => update(&root, a)?,
        Verb::Spec { rootless, bundle } => spec(&bundle, rootless)?,
        Verb::Features => println!(
            "{}",
            serde_json::to_string_pretty(&runtime::features::features())?
        ),
    }
    Ok(0)
}

fn create_opts(root: &Path, a: CreateArgs, systemd: bool) -> Result<CreateOpts> {
    let console = a
        .console_socket
        .as_deref()
        .map(runtime::tty::connect_console_socket)
        .transpose()?;
    Ok(CreateOpts {
        root: root.to_path_buf(),
        id: a.id,
        bundle: a.bundle,
        pid_file: a.pid_file,
        console,
        preserve_fds: a.preserve_fds,
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        systemd_cgroup: systemd,
        stdio: None,
    })
}

fn wants_terminal(bundle: &Path) -> bool {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .and_then(|v| v["process"]["terminal"].as_bool())
        .unwrap_or(false)
}

// Each verb's process runs only its own handler: kept out of `dispatch`, whose code every
// runtime process maps.
#[inline(never)]
fn run(root: &Path, a: CreateArgs, detach: bool, keep: bool, systemd: bool) -> Result<i32> {
    let terminal = wants_terminal(&a.bundle);
    let local = terminal && a.console_socket.is_none();
    if local && detach {
        bail!("cannot allocate a tty for a detached container without --console-socket");
    }
    let id = a.id.clone();
    let mut opts = create_opts(root, a, systemd)?;
    let ours = if local {
        let (ours, theirs) = runtime::tty::local_console()?;
        opts.console = Some(theirs);
        Some(ours)
    } else {
        None
    };
    let record = container::create(opts)?;
    let master = ours.as_ref().map(runtime::tty::recv_master).transpose()?;
    if let Err(e) = container::start(root, &id) {
        let _ = container::delete(root, &id, true);
        return Err(e.into());
    }
    if detach {
        return Ok(0);
    }
    let code = runtime::foreground::supervise(record.pid, master)?;
    if !keep {
        container::delete(root, &id, true)?;
    }
    Ok(code)
}

#[inline(never)]
fn exec(root: &Path, a: ExecArgs) -> Result<i32> {
    let c = container::load(root, &a.id)?;
    let base = c.record.spec.process().clone().unwrap_or_default();
    let mut process: Process = match &a.process {
        Some(path) => {
            let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            serde_json::from_slice(&data)
                .with_context(|| format!("parse process {}", path.display()))?
        }
        None => {
            if a.command.is_empty() {
                bail!("exec: no command given (give one, or --process)");
            }
            container::process_from_args(&base, a.command.clone(), &a.env, a.cwd.as_deref())
        }
    };
    apply_exec_flags(&mut process, &a)?;
    let terminal = process.terminal().unwrap_or(false);
    let local = terminal && a.console_socket.is_none();
    if local && a.detach {
        bail!("cannot allocate a tty for a detached process without --console-socket");
    }
    let (ours, console) = if local {
        let (o, t) = runtime::tty::local_console()?;
        (Some(o), Some(t))
    } else {
        (
            None,
            a.console_socket
                .as_deref()
                .map(runtime::tty::connect_console_socket)
                .transpose()?,
        )
    };
    let pid = container::exec(ExecOpts {
        root: root.to_path_buf(),
        id: a.id.clone(),
        process,
        console,
        preserve_fds: a.preserve_fds,
        pid_file: a.pid_file.clone(),
        ignore_paused: a.ignore_paused,
    })?;
    if a.detach {
        return Ok(0);
    }
    let master = ours.as_ref().map(runtime::tty::recv_master).transpose()?;
    Ok(runtime::foreground::supervise(pid, master)?)
}

fn apply_exec_flags(p: &mut Process, a: &ExecArgs) -> Result<()> {
    if a.tty {
        p.set_terminal(Some(true));
    }
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let user = p.user_mut();
        user.set_uid(
            uid.parse()
                .with_context(|| format!("invalid uid in --user {u:?}"))?,
        );
        user.set_gid(
            gid.parse()
                .with_context(|| format!("invalid gid in --user {u:?}"))?,
        );
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::json!(name))
                    .map_err(|_| anyhow::anyhow!("unknown capability {name:?}"))?;
            let add = |s: Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, pm, am, ih) = (
                add(caps.bounding().clone()),
                add(caps.effective().clone()),
                add(caps.permitted().clone()),
                add(caps.ambient().clone()),
                add(caps.inheritable().clone()),
            );
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
            caps.set_ambient(am);
            caps.set_inheritable(ih);
        }
        p.set_capabilities(Some(caps));
    }
    Ok(())
}

#[inline(never)]
fn list(root: &Path, format: &str, quiet: bool) -> Result<()> {
    let all = container::list(root)?;
    if quiet {
        for s in &all {
            println!("{}", s.id);
        }
        return Ok(());
    }
    if format == "json" {
        println!("{}", serde_json::to_string(&all)?);
        return Ok(());
    }
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(String::from)
        .to_vec()];
    for s in all {
        let owner = if s.owner.is_empty() {
            "root".to_string()
        } else {
            s.owner
        };
        rows.push(vec![
            s.id,
            s.pid.to_string(),
            s.status,
            s.bundle.display().to_string(),
            s.created,
            owner,
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, |r| r.len());
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0).max(9) + 3)
        .collect();
    for r in rows {
        let line: String = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", line.trim_end());
    }
}

#[inline(never)]
fn ps(root: &Path, id: &str, format: &str, args: Vec<String>) -> Result<()> {
    let pids = container::ps_pids(root, id)?;
    if format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let args = if args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        args
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("run ps")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}

fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid interval {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => bail!("invalid interval {s:?}: use ms, s or m"),
    };
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[inline(never)]
fn events(root: &Path, id: &str, once: bool, interval: &str) -> Result<()> {
    let stats_event = || -> Result<String> {
        let data = container::stats(root, id)?;
        Ok(serde_json::json!({"type": "stats", "id": id, "data": data}).to_string())
    };
    if once {
        println!("{}", stats_event()?);
        return Ok(());
    }
    let every = parse_duration(interval)?;
    let mut ooms = container::oom_kills(root, id).unwrap_or(0);
    let mut last = std::time::Instant::now() - every;
    loop {
        // OOM first: an OOM kill of init is what stops the container, and must still be told.
        let stopped = container::state(root, id)?.status == "stopped";
        let now = container::oom_kills(root, id).unwrap_or(ooms);
        if now > ooms {
            println!("{}", serde_json::json!({"type": "oom", "id": id}));
            ooms = now;
        }
        if stopped {
            return Ok(());
        }
        if last.elapsed() >= every {
            println!("{}", stats_event()?);
            last = std::time::Instant::now();
        }
        std::io::stdout().flush()?;
        std::thread::sleep(std::time::Duration::from_millis(100).min(every));
    }
}

/// "512m", "1g", "1024" → bytes; "-1" stays -1 (unlimited).
fn parse_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.to_ascii_lowercase();
    let t = lower.trim_end_matches('b');
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().with_context(|| format!("invalid size {s:?}"))?;
    Ok((n * mul as f64) as i64)
}

#[inline(never)]
fn update(root: &Path, a: UpdateArgs) -> Result<()> {
    let mut r: serde_json::Value = match &a.resources {
        Some(src) => {
            let data = if src == "-" {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
                v
            } else {
                std::fs::read(src).with_context(|| format!("read {src}"))?
            };
            serde_json::from_slice(&data).with_context(|| format!("parse resources {src}"))?
        }
        None => serde_json::json!({}),
    };
    let set = |r: &mut serde_json::Value, group: &str, key: &str, v: serde_json::Value| {
        r[group][key] = v;
    };
    if let Some(m) = &a.memory {
        set(&mut r, "memory", "limit", parse_bytes(m)?.into());
    }
    if let Some(m) = &a.memory_reservation {
        set(&mut r, "memory", "reservation", parse_bytes(m)?.into());
    }
    if let Some(m) = &a.memory_swap {
        set(&mut r, "memory", "swap", parse_bytes(m)?.into());
    }
    if let Some(v) = a.cpu_shares {
        set(&mut r, "cpu", "shares", v.into());
    }
    if let Some(v) = a.cpu_quota {
        set(&mut r, "cpu", "quota", v.into());
    }
    if let Some(v) = a.cpu_period {
        set(&mut r, "cpu", "period", v.into());
    }
    if let Some(v) = &a.cpuset_cpus {
        set(&mut r, "cpu", "cpus", v.clone().into());
    }
    if let Some(v) = &a.cpuset_mems {
        set(&mut r, "cpu", "mems", v.clone().into());
    }
    if let Some(v) = a.pids_limit {
        set(&mut r, "pids", "limit", v.into());
    }
    if let Some(v) = a.blkio_weight {
        set(&mut r, "blockIO", "weight", v.into());
    }
    let resources: LinuxResources = serde_json::from_value(r).context("invalid resources")?;
    container::update(root, &a.id, &resources)?;
    Ok(())
}

#[inline(never)]
fn spec(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let data = serde_json::to_string_pretty(&runtime::spec::default_spec(rootless))?;
    std::fs::write(&path, data + "\n").with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        std::iter::once("tug-runc")
            .chain(line.split_whitespace())
            .map(String::from)
            .collect()
    }

    /// The hand-written parser reads these lines exactly as clap does.
    #[test]
    fn fast_parser_agrees_with_clap() {
        for line in [
            "create --bundle /b c1",
            "create -b /b --pid-file /p --console-socket /s --preserve-fds 2 --no-pivot --no-new-keyring c1",
            "--root /r --log /l --log-format json --systemd-cgroup --debug create --bundle=/b c1",
            "--root=/r create c1 --bundle /b",
            "create --root /r2 -b /b c1",
            "start c1",
            "--root /r state c1",
            "delete c1",
            "delete --force c1",
            "delete -f c1 --root /x",
            "kill c1",
            "kill c1 KILL",
            "kill --all c1 9",
            "kill -a c1 SIGUSR1",
            "pause c1",
            "resume c1",
            "run -d --keep -b /b c1",
            "run --detach --bundle /b --pid-file /p c1",
            "--rootless false create -b - c1",
            "exec c1 sh -c true",
            "exec -t -d -e A=1 --env B=2 --cwd /w -u 1:2 -g 5 -g 6 -c CAP_NET_ADMIN --no-new-privs c1 ls -la",
            "exec --process /p.json --console-socket /s --pid-file /p --preserve-fds 1 --ignore-paused c1",
            "exec --apparmor prof --process-label l c1 echo",
        ] {
            let fast = fast::parse(&argv(line)).unwrap_or_else(|| panic!("fast parser refused {line:?}"));
            let clap = RuntimeCli::try_parse_from(argv(line)).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{line}");
        }
    }

    /// runc ends exec's flags at the container id: what follows is the command, dashes and all.
    #[test]
    fn exec_command_after_the_id_keeps_its_flags() {
        let cli = fast::parse(&argv("exec c1 -t sh --help")).unwrap();
        let Verb::Exec(a) = cli.verb else {
            panic!("not exec")
        };
        assert_eq!((a.id.as_str(), a.tty), ("c1", false));
        assert_eq!(a.command, ["-t", "sh", "--help"]);
        let cli = fast::parse(&argv("exec c1 -- ls -l")).unwrap();
        let Verb::Exec(a) = cli.verb else {
            panic!("not exec")
        };
        assert_eq!(a.command, ["ls", "-l"]);
    }

    /// Help, versions, other verbs and malformed lines are left to clap (which explains them).
    #[test]
    fn fast_parser_leaves_the_rest_to_clap() {
        for line in [
            "",
            "--help",
            "--version",
            "create --help",
            "create -h c1",
            "create",
            "create a b",
            "create --bundle",
            "create --bundle --pid-file /p c1",
            "create --preserve-fds x c1",
            "create --frobnicate c1",
            "create --no-pivot=true c1",
            "delete -fa c1",
            "kill c1 KILL extra",
            "kill",
            "start",
            "--root",
            "--what create c1",
            "list",
            "ps c1",
            "spec",
            "features",
            "update --memory 1m c1",
            "events --stats c1",
            "exec -g x c1 ls",
            "exec",
        ] {
            assert!(
                fast::parse(&argv(line)).is_none(),
                "fast parser took {line:?}"
            );
        }
    }
}
