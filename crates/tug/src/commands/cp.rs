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

#[derive(Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH|-
    src: String,
    /// DEST_PATH|- or CONTAINER:DEST_PATH
    dest: String,
}

/// `name:path` names a container path (a local path with ':' must start with '/' or '.').
fn container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':')
}

/// A path in a container as `X-Docker-Container-Path-Stat` describes it.
struct Stat {
    is_dir: bool,
    link_target: String,
}

/// Go's os.ModeDir bit in the stat's `mode`.
const MODE_DIR: u64 = 1 << 31;

fn stat(c: &Client, container: &str, path: &str) -> Result<Option<Stat>> {
    let r = match c.request(
        "HEAD",
        &format!("/containers/{}/archive?path={}", enc(container), enc(path)),
        None,
    ) {
        Ok(r) => r,
        // Missing path (a missing container is also a 404: the PUT that follows names it).
        Err(Fail(m)) if m.ends_with("HTTP 404") => return Ok(None),
        Err(e) => return Err(e),
    };
    use base64::Engine as _;
    let Some(raw) = r.header("x-docker-container-path-stat") else {
        return Ok(None);
    };
    let data = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|e| Fail(format!("bad path stat from the daemon: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&data)
        .map_err(|e| Fail(format!("bad path stat from the daemon: {e}")))?;
    Ok(Some(Stat {
        is_dir: v["mode"].as_u64().unwrap_or(0) & MODE_DIR != 0,
        link_target: v["linkTarget"].as_str().unwrap_or("").to_string(),
    }))
}

pub fn cp(c: &Client, a: CpArgs) -> Result<()> {
    match (container_path(&a.src), container_path(&a.dest)) {
        (Some(_), Some(_)) => Err(Fail("copying between containers is not supported".into())),
        (None, None) => Err(Fail("must specify at least one container source".into())),
        (Some((ctr, path)), None) => copy_from(c, &a, ctr, path),
        (None, Some((ctr, path))) => copy_to(c, &a, ctr, path),
    }
}

fn copy_from(c: &Client, a: &CpArgs, ctr: &str, path: &str) -> Result<()> {
    let mut src = path.to_string();
    if a.follow_link {
        if let Some(st) = stat(c, ctr, &src)? {
            if !st.link_target.is_empty() {
                src = st.link_target;
            }
        }
    }
    let mut r = c.request(
        "GET",
        &format!("/containers/{}/archive?path={}", enc(ctr), enc(&src)),
        None,
    )?;
    if a.dest == "-" {
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut r, &mut out).map_err(|e| Fail(format!("copy: {e}")))?;
        return out.flush().map_err(|e| Fail(format!("copy: {e}")));
    }
    let dest = std::path::PathBuf::from(&a.dest);
    let contents_only = src.ends_with("/.");
    let dest_dir = std::fs::metadata(&dest).map(|m| m.is_dir()).ok();
    if a.dest.ends_with('/') && dest_dir.is_none() {
        return Err(Fail(format!(
            "invalid output path: directory {:?} does not exist",
            a.dest
        )));
    }
    // Unpack beside the destination, then move into place as docker cp names things.
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let tmp = tempdir_in(if dest_dir == Some(true) {
        &dest
    } else {
        &parent
    })?;
    let io = |e: std::io::Error| Fail(format!("copy to {}: {e}", a.dest));
    let mut ar = tar::Archive::new(&mut r);
    ar.set_preserve_ownerships(a.archive);
    ar.set_preserve_permissions(true);
    ar.set_overwrite(true);
    let unpacked = ar.unpack(tmp.path()).map_err(io);
    let result = unpacked.and_then(|_| {
        if contents_only {
            // `SRC/.`: the archive holds the directory's contents, without the directory.
            return match dest_dir {
                Some(false) => Err(Fail(format!(
                    "cannot copy a directory to a file: {}",
                    a.dest
                ))),
                Some(true) => move_contents(tmp.path(), &dest).map_err(io),
                None => std::fs::create_dir(&dest)
                    .and_then(|_| move_contents(tmp.path(), &dest))
                    .map_err(io),
            };
        }
        let top = std::fs::read_dir(tmp.path())
            .map_err(io)?
            .flatten()
            .next()
            .ok_or_else(|| Fail(format!("copy from {ctr}:{path}: empty archive")))?
            .path();
        let top_is_dir = std::fs::symlink_metadata(&top).map_err(io)?.is_dir();
        match dest_dir {
            Some(true) => {
                let target = dest.join(top.file_name().unwrap_or_default());
                replace(&top, &target).map_err(io)
            }
            Some(false) if top_is_dir => Err(Fail(format!(
                "cannot copy a directory to a file: {}",
                a.dest
            ))),
            _ => replace(&top, &dest).map_err(io),
        }
    });
    drop(tmp);
    result
}

/// Move `from` to `to`, replacing a file (or an empty directory) there.
fn replace(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(to) {
        Ok(m) if m.is_dir() && std::fs::symlink_metadata(from)?.is_dir() => move_contents(from, to),
        Ok(m) if m.is_dir() => Err(std::io::Error::other(format!(
            "cannot overwrite directory {} with a non-directory",
            to.display()
        ))),
        _ => std::fs::rename(from, to),
    }
}

fn move_contents(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        replace(&e.path(), &to.join(e.file_name()))?;
    }
    Ok(())
}

/// A scratch directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir_in(dir: &std::path::Path) -> Result<TempDir> {
    for i in 0..100u32 {
        let p = dir.join(format!(".tug-cp-{}-{i}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(TempDir(p)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Fail(format!("copy: create {}: {e}", p.display()))),
        }
    }
    Err(Fail("copy: no scratch directory".into()))
}

fn copy_to(c: &Client, a: &CpArgs, ctr: &str, path: &str) -> Result<()> {
    let put = |dir: &str, body: &mut dyn std::io::Read| -> Result<()> {
        c.request(
            "PUT",
            &format!(
                "/containers/{}/archive?path={}&noOverwriteDirNonDir=true",
                enc(ctr),
                enc(dir)
            ),
            Some(body),
        )
        .map(|_| ())
    };
    if a.src == "-" {
        return put(path, &mut std::io::stdin().lock());
    }
    let src = std::path::Path::new(&a.src);
    let meta = std::fs::symlink_metadata(src).map_err(|e| Fail(format!("lstat {}: {e}", a.src)))?;
    let (src, meta) = if a.follow_link && meta.file_type().is_symlink() {
        let m = std::fs::metadata(src).map_err(|e| Fail(format!("stat {}: {e}", a.src)))?;
        (src.to_path_buf(), m)
    } else {
        (src.to_path_buf(), meta)
    };
    let contents_only = a.src.ends_with("/.");
    // Where it goes: into an existing directory under its own name, else as `path` itself.
    let dest = stat(c, ctr, path)?;
    let (dir, name) = match &dest {
        Some(st) if st.is_dir => (path.to_string(), None),
        Some(_) if meta.is_dir() => {
            return Err(Fail(format!(
                "cannot copy a directory to a file: {ctr}:{path}"
            )))
        }
        _ => {
            if path.ends_with('/') && !meta.is_dir() {
                return Err(Fail(format!(
                    "destination directory {ctr}:{path} does not exist"
                )));
            }
            let p = std::path::Path::new(path.trim_end_matches('/'));
            let dir = p
                .parent()
                .map(|d| d.to_string_lossy().into_owned())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "/".into());
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (dir, name)
        }
    };
    let base = name.unwrap_or_else(|| {
        src.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into())
    });
    // The archive is built in a pipe by a thread while the request streams it.
    let (mut reader, writer) = std::io::pipe().map_err(|e| Fail(format!("copy: {e}")))?;
    let archive = a.archive;
    let src2 = src.clone();
    let builder = std::thread::spawn(move || -> std::io::Result<()> {
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(false);
        if !archive {
            b.mode(tar::HeaderMode::Deterministic);
        }
        if meta.is_dir() {
            if contents_only && dest.as_ref().is_some_and(|d| d.is_dir) {
                b.append_dir_all(".", &src2)?;
            } else {
                b.append_dir_all(&base, &src2)?;
            }
        } else {
            b.append_path_with_name(&src2, &base)?;
        }
        b.finish()
    });
    let sent = put(&dir, &mut reader);
    let built = builder
        .join()
        .map_err(|_| Fail("copy: archive thread failed".into()))?;
    sent?;
    built.map_err(|e| Fail(format!("copy {}: {e}", a.src)))
}
