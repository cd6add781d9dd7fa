//! The `tug` binary: argument parsing and output only; the work is in the library crates.

mod client;
mod commands;
mod format;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tug", version, about = "tug: containers in one binary")]
struct Cli {
    /// Daemon socket to connect to (unix://PATH; default DOCKER_HOST, else unix:///run/tug/tug.sock)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    host: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The OCI runtime (runc-compatible; also available as `tug-runc`)
    Runtime(commands::runtime::RuntimeCli),
    /// The Docker Engine API daemon
    Daemon(commands::daemon::DaemonCli),
    /// The per-container monitor started by the daemon
    #[command(hide = true)]
    Shim(commands::shim::ShimCli),
    /// A minimal init for PID 1 of a container: reaps orphans, forwards signals (run --init)
    Init(commands::init::InitCli),
    /// The OCI distribution registry server
    Registry(commands::registry::RegistryCli),
    /// List images
    Images(commands::images::ImagesArgs),
    /// Manage images
    Image(commands::images::ImageCli),
    /// Download an image from a registry
    Pull(commands::images::PullArgs),
    /// Upload an image to a registry
    Push(commands::images::PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::images::TagArgs),
    /// Remove one or more images
    Rmi(commands::images::RmiArgs),
    /// Show the history of an image
    History(commands::images::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::images::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::images::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::images::ImportArgs),
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Manage containers
    Container(commands::container::ContainerCli),
    #[command(flatten)]
    Containers(commands::container::Verb),
    /// Manage volumes
    Volume(commands::volume::VolumeCli),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::cp::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::cp::DiffArgs),
    /// Manage networks
    Network(commands::network::NetworkCli),
    /// List port mappings or a specific mapping for the container
    Port(commands::network::PortArgs),
    /// Log in to a registry
    Login(commands::login::LoginArgs),
    /// Log out from a registry
    Logout(commands::login::LogoutArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// Manage tug
    System(commands::system::SystemCli),
}

/// Verbs after which the runtime touches a container's namespaces: those re-execute from a
/// sealed copy of the binary first (see runtime::selfexe).
/// Only the runtime (`tug runtime …`, or the binary as `tug-runc`) and `tug shim` qualify:
/// the client verbs `tug run/create/exec` talk to the daemon and stay fast.
fn needs_sealed_exe(args: &[String]) -> bool {
    let argv0 = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("");
    let runtime_verb = |rest: &[String]| {
        rest.iter()
            .take(8)
            .any(|a| matches!(a.as_str(), "create" | "run" | "exec"))
    };
    if argv0 == "tug-runc" {
        return runtime_verb(args.get(1..).unwrap_or(&[]));
    }
    match command_word(args) {
        // `shim` creates the daemon's containers in-process (their init is its fork).
        Some(i) if args[i] == "shim" => true,
        Some(i) if args[i] == "runtime" => runtime_verb(&args[i + 1..]),
        _ => false,
    }
}

/// The index of the command: the first word that is not an option (nor `-H`'s value).
fn command_word(args: &[String]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "-H" || a == "--host" {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        return Some(i);
    }
    None
}

/// Parsers of one command alone: the runtime, the shim and init skip building the whole
/// CLI (hundreds of client flags), which short-lived and resident processes both feel.
#[derive(Parser)]
#[command(name = "tug shim")]
struct ShimOnly {
    #[command(flatten)]
    shim: commands::shim::ShimCli,
}

#[derive(Parser)]
#[command(name = "tug init")]
struct InitOnly {
    #[command(flatten)]
    init: commands::init::InitCli,
}

/// Run `runtime`, `shim` or `init` without the rest of the CLI; None for other commands.
fn fast_path(args: &[String]) -> Option<i32> {
    let i = command_word(args)?;
    let rest = || std::iter::once(format!("tug {}", args[i])).chain(args[i + 1..].iter().cloned());
    match args[i].as_str() {
        "runtime" => Some(commands::runtime::main(commands::runtime::parse(
            rest().collect(),
        ))),
        "shim" => Some(commands::shim::main(ShimOnly::parse_from(rest()).shim)),
        "init" => Some(commands::init::main(InitOnly::parse_from(rest()).init)),
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if needs_sealed_exe(&args) {
        if !runtime::selfexe::is_sealed() {
            if let Some(pid) = runtime::warmup::start() {
                std::env::set_var("TUG_WARMUP_PID", pid.to_string());
            }
        }
        if let Err(e) = runtime::selfexe::reexec_sealed() {
            eprintln!("tug: cannot protect the runtime binary (sealed re-exec): {e}");
            std::process::exit(1);
        }
    }
    let argv0 = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("tug");
    let code = if argv0 == "tug-runc" {
        commands::runtime::main(commands::runtime::parse(args.clone()))
    } else if let Some(code) = fast_path(&args) {
        code
    } else {
        let cli = Cli::try_parse().unwrap_or_else(|e| commands::container::usage_exit(e, &args));
        let host = cli.host.as_deref();
        match cli.command {
            Command::Runtime(r) => commands::runtime::main(r),
            Command::Daemon(d) => commands::daemon::main(d),
            Command::Shim(s) => commands::shim::main(s),
            Command::Init(a) => commands::init::main(a),
            Command::Registry(r) => commands::registry::main(r),
            Command::Images(a) => commands::images::run(host, |c| commands::images::images(c, a)),
            Command::Image(a) => commands::images::image(host, a),
            Command::Pull(a) => commands::images::run(host, |c| commands::images::pull(c, host, a)),
            Command::Push(a) => commands::images::run(host, |c| commands::images::push(c, host, a)),
            Command::Login(a) => commands::login::run(|| commands::login::login(host, a)),
            Command::Logout(a) => commands::login::run(|| commands::login::logout(a)),
            Command::Tag(a) => commands::images::run(host, |c| commands::images::tag(c, a)),
            Command::Rmi(a) => commands::images::run(host, |c| commands::images::rmi(c, a)),
            Command::History(a) => commands::images::run(host, |c| commands::images::history(c, a)),
            Command::Save(a) => commands::images::run(host, |c| commands::images::save(c, a)),
            Command::Load(a) => commands::images::run(host, |c| commands::images::load(c, a)),
            Command::Import(a) => commands::images::run(host, |c| commands::images::import(c, a)),
            Command::Build(a) => commands::build::main(host, a),
            Command::Container(a) => commands::container::container(host, a),
            Command::Containers(v) => commands::container::main(host, v),
            Command::Volume(a) => commands::volume::main(host, a),
            Command::Cp(a) => commands::images::run(host, |c| commands::cp::cp(c, a)),
            Command::Export(a) => commands::images::run(host, |c| commands::cp::export(c, a)),
            Command::Diff(a) => commands::images::run(host, |c| commands::cp::diff(c, a)),
            Command::Network(a) => commands::network::main(host, a),
            Command::Port(a) => commands::network::port(host, a),
            Command::Commit(a) => commands::images::run(host, |c| commands::commit::commit(c, a)),
            Command::System(a) => commands::system::main(host, a),
        }
    };
    std::process::exit(code);
}
