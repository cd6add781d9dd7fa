//! `tug shim`: the per-container monitor the daemon starts (not for people to run).

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ShimCli {
    #[arg(long)]
    id: String,
    #[arg(long)]
    bundle: PathBuf,
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = "/run/tug/runtime")]
    runtime_root: PathBuf,
    #[arg(long)]
    log: PathBuf,
    #[arg(long, default_value_t = 0)]
    log_max_size: u64,
    #[arg(long, default_value_t = 1)]
    log_max_files: u32,
    #[arg(long)]
    tty: bool,
    #[arg(long)]
    stdin: bool,
    #[arg(long, default_value_t = 0)]
    wait_attach: u32,
    /// An external OCI runtime binary (default: tug's own runtime, in-process)
    #[arg(long)]
    runtime_path: Option<PathBuf>,
    /// An argument the external runtime always gets; may be repeated
    #[arg(long, allow_hyphen_values = true)]
    runtime_arg: Vec<String>,
}

/// Descriptor 3 is the ready pipe the daemon passed.
pub fn main(a: ShimCli) -> i32 {
    let cfg = engine::shim::ShimConfig {
        id: a.id,
        bundle: a.bundle,
        dir: a.dir,
        runtime_root: a.runtime_root,
        log: a.log,
        log_max_size: a.log_max_size,
        log_max_files: a.log_max_files,
        tty: a.tty,
        stdin: a.stdin,
        wait_attach: a.wait_attach,
        external: a.runtime_path.map(|path| engine::runtimes::External {
            path,
            args: a.runtime_arg,
        }),
    };
    // SAFETY: the daemon hands the shim its ready pipe as descriptor 3 and nothing else owns it.
    let ready = unsafe { engine::shim::owned(3) };
    engine::shim::run(cfg, ready)
}
