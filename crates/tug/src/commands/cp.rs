//! `tug export` and `tug diff`: a container's root filesystem as a tar, and what it changed
//! against its image, over the Engine API.

use crate::client::{enc, Client, Fail, Result};
use clap::Args;
use std::io::Write;

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    container: String,
}

#[derive(Args)]
pub struct DiffArgs {
    container: String,
}

pub fn export(c: &Client, a: ExportArgs) -> Result<()> {
    let mut r = c.request(
        "GET",
        &format!("/containers/{}/export", enc(&a.container)),
        None,
    )?;
    let io = |e: std::io::Error| Fail(format!("export {}: {e}", a.container));
    match &a.output {
        Some(p) => {
            let tmp = p.with_extension("tmp-export");
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            std::io::copy(&mut r, &mut f).map_err(io)?;
            std::fs::rename(&tmp, p).map_err(io)
        }
        None => {
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut r, &mut out).map_err(io)?;
            out.flush().map_err(io)
        }
    }
}

pub fn diff(c: &Client, a: DiffArgs) -> Result<()> {
    let list = c.get_json(&format!("/containers/{}/changes", enc(&a.container)))?;
    let mut s = String::new();
    for ch in list.as_array().into_iter().flatten() {
        let kind = match ch["Kind"].as_u64() {
            Some(0) => 'C',
            Some(1) => 'A',
            _ => 'D',
        };
        s.push_str(&format!("{kind} {}\n", ch["Path"].as_str().unwrap_or("")));
    }
    std::io::stdout()
        .write_all(s.as_bytes())
        .map_err(|e| Fail(format!("write output: {e}")))
}
