//! Container verbs (`run`, `create`, `start`, `stop`, `ps`, `logs`, `exec`, … and
//! `container …`): docker's flags, output and exit codes over the daemon's Engine API.

mod manage;
mod opts;
mod run;
mod show;

use crate::client::{Client, Fail, Result};
pub use crate::commands::{out, short_id};
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum Verb {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateArgs),
    /// Start one or more stopped containers
    Start(run::StartArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(run::AttachArgs),
    /// Execute a command in a running container
    Exec(run::ExecArgs),
    /// List containers
    #[command(alias = "ls", alias = "list")]
    Ps(show::PsArgs),
    /// Fetch the logs of a container
    Logs(show::LogsArgs),
    /// Return low-level information on containers or images
    Inspect(show::InspectArgs),
    /// Display the running processes of a container
    Top(show::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(show::StatsArgs),
    /// Stop one or more running containers
    Stop(manage::StopArgs),
    /// Kill one or more running containers
    Kill(manage::KillArgs),
    /// Restart one or more containers
    Restart(manage::StopArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(manage::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(manage::Names),
    /// Pause all processes within one or more containers
    Pause(manage::Names),
    /// Unpause all processes within one or more containers
    Unpause(manage::Names),
    /// Rename a container
    Rename(manage::RenameArgs),
    /// Update configuration of one or more containers
    Update(manage::UpdateArgs),
    /// Remove all stopped containers
    #[command(hide = true)]
    Prune(crate::commands::system::ContainerPruneArgs),
}

#[derive(Args)]
pub struct ContainerCli {
    #[command(subcommand)]
    verb: Verb,
}

/// `tug container <verb>`.
pub fn container(host: Option<&str>, a: ContainerCli) -> i32 {
    dispatch(host, a.verb, true)
}

/// A top-level container verb.
pub fn main(host: Option<&str>, v: Verb) -> i32 {
    dispatch(host, v, false)
}

fn dispatch(host: Option<&str>, v: Verb, grouped: bool) -> i32 {
    match v {
        Verb::Run(a) => run::run_main(host, a),
        Verb::Create(a) => run::create_main(host, a),
        Verb::Start(a) => go(host, |c| run::start(c, a)),
        Verb::Attach(a) => go(host, |c| run::attach(c, a)),
        Verb::Exec(a) => go(host, |c| run::exec(c, a)),
        Verb::Ps(a) => go(host, |c| show::ps(c, a).map(|_| 0)),
        Verb::Logs(a) => go(host, |c| show::logs(c, a).map(|_| 0)),
        Verb::Inspect(a) => go(host, |c| show::inspect(c, a, grouped).map(|_| 0)),
        Verb::Top(a) => go(host, |c| show::top(c, a).map(|_| 0)),
        Verb::Stats(a) => go(host, |c| show::stats(c, a).map(|_| 0)),
        Verb::Stop(a) => go(host, |c| manage::stop(c, a, "stop")),
        Verb::Restart(a) => go(host, |c| manage::stop(c, a, "restart")),
        Verb::Kill(a) => go(host, |c| manage::kill(c, a)),
        Verb::Rm(a) => go(host, |c| manage::rm(c, a)),
        Verb::Wait(a) => go(host, |c| manage::wait(c, a)),
        Verb::Pause(a) => go(host, |c| manage::each(c, a, "pause")),
        Verb::Unpause(a) => go(host, |c| manage::each(c, a, "unpause")),
        Verb::Rename(a) => go(host, |c| manage::rename(c, a)),
        Verb::Update(a) => go(host, |c| manage::update(c, a)),
        Verb::Prune(a) => crate::commands::system::container_prune_main(host, a),
    }
}

/// Run one verb: its exit code, or its failure printed and 1.
pub fn go(host: Option<&str>, f: impl FnOnce(&Client) -> Result<i32>) -> i32 {
    use std::io::Write;
    let r = Client::from_host(host).and_then(|c| f(&c));
    let _ = std::io::stdout().flush();
    match r {
        Ok(code) => code,
        Err(Fail(m)) if m.is_empty() => 1,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// The daemon could not be reached: such errors stop a multi-container verb at once.
pub fn fatal(e: &Fail) -> bool {
    e.0.starts_with("Cannot connect") || e.0.starts_with("error during connect")
}

/// A path segment naming a container (percent-encoded).
pub fn seg(name: &str) -> String {
    crate::client::enc(name)
}

/// A command-line error: the daemon-side commands keep clap's exit; the client verbs print
/// docker's wording and exit as docker does (125 for a bad flag, 1 for missing arguments).
pub fn usage_exit(e: clap::Error, args: &[String]) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let mut words = Vec::new();
    let mut i = 1;
    while i < args.len() && words.len() < 2 {
        let a = args[i].as_str();
        if a == "-H" || a == "--host" {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            words.push(a);
            if !matches!(a, "container" | "image" | "volume" | "network") {
                break;
            }
        }
        i += 1;
    }
    let first = words.first().copied().unwrap_or("");
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) || matches!(first, "runtime" | "daemon" | "shim" | "registry" | "")
    {
        e.exit()
    }
    let cmd = words.join(" ");
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(s)) => s.split('=').next().unwrap_or(s).to_string(),
                _ => String::new(),
            };
            let what = if arg.starts_with("--") || !arg.starts_with('-') {
                format!("unknown flag: {arg}")
            } else {
                format!(
                    "unknown shorthand flag: '{}' in {arg}",
                    arg.trim_start_matches('-')
                )
            };
            eprintln!("{what}\nSee 'tug {cmd} --help'.");
            std::process::exit(125)
        }
        ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues => {
            eprintln!(
                "tug: 'tug {cmd}' requires at least 1 argument\n\nSee 'tug {cmd} --help' for more information"
            );
            std::process::exit(1)
        }
        _ => {
            let _ = e.print();
            std::process::exit(125)
        }
    }
}
