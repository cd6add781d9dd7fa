//! `tug registry serve|gc`: the OCI distribution server over the registry crate.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use registry::Config;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct RegistryCli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Serve the OCI distribution API
    Serve(ServeArgs),
    /// Delete unreferenced blobs, expired uploads and what the retention rules allow
    Gc(GcArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed)
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: String,
    /// Storage directory
    #[arg(long, default_value = "/var/lib/tug/registry")]
    root: PathBuf,
    /// Configuration file (JSON: storage, auth, access, gc, retention)
    #[arg(long)]
    config: Option<PathBuf>,
    /// TLS certificate chain (PEM)
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Args)]
struct GcArgs {
    /// Storage directory
    #[arg(long, default_value = "/var/lib/tug/registry")]
    root: PathBuf,
    /// Configuration file (its gc and retention sections apply)
    #[arg(long)]
    config: Option<PathBuf>,
    /// Only report what would be deleted
    #[arg(long)]
    dry_run: bool,
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::default()),
    }
}

fn serve(a: ServeArgs) -> Result<()> {
    let opts = registry::Options {
        root: a.root.clone(),
        config: load_config(a.config.as_deref())?,
        tls: a.tls_cert.zip(a.tls_key),
    };
    registry::run(&a.addr, opts, |addr| {
        println!("tug registry listening on {addr}");
        let _ = std::io::stdout().flush();
    })
    .with_context(|| format!("registry serve {}", a.root.display()))
}

fn gc(a: GcArgs) -> Result<()> {
    if !a.root.join("blobs").is_dir() {
        bail!(
            "registry gc {}: not a registry root (no blobs/)",
            a.root.display()
        );
    }
    let config = load_config(a.config.as_deref())?;
    let store = registry::storage::Store::open(&a.root, config.storage.fsync)?;
    let report = registry::gc::collect(&store, &config, a.dry_run)
        .with_context(|| format!("registry gc {}", a.root.display()))?;
    let verb = if a.dry_run { "would delete" } else { "deleted" };
    for (what, items) in [
        ("tag", &report.tags),
        ("manifest", &report.manifests),
        ("blob link", &report.blob_links),
        ("blob", &report.blobs),
        ("upload", &report.uploads),
    ] {
        for i in items {
            println!("{verb} {what} {i}");
        }
    }
    println!(
        "{verb} {} blobs, {} bytes",
        report.blobs.len(),
        report.bytes
    );
    Ok(())
}

pub fn main(cli: RegistryCli) -> i32 {
    let r = match cli.verb {
        Verb::Serve(a) => serve(a),
        Verb::Gc(a) => gc(a),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tug: {e:#}");
            1
        }
    }
}
