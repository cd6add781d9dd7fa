//! The `tug` binary: argument parsing and output only; the work is in the library crates.

mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tug", version, about = "tug: containers in one binary")]
struct Cli {
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
    /// The OCI distribution registry server
    Registry(commands::registry::RegistryCli),
}

/// Verbs after which the runtime touches a container's namespaces: those re-execute from a
/// sealed copy of the binary first (see runtime::selfexe).
fn needs_sealed_exe(args: &[String]) -> bool {
    args.iter()
        .skip(1)
        .take(8)
        .any(|a| matches!(a.as_str(), "create" | "run" | "exec"))
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
        commands::runtime::main(commands::runtime::RuntimeCli::parse())
    } else {
        match Cli::parse().command {
            Command::Runtime(r) => commands::runtime::main(r),
            Command::Daemon(d) => commands::daemon::main(d),
            Command::Shim(s) => commands::shim::main(s),
            Command::Registry(r) => commands::registry::main(r),
        }
    };
    std::process::exit(code);
}
