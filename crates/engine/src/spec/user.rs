//! `User` ("name|uid[:group|gid]") and `GroupAdd` resolved against the container's own
//! /etc/passwd and /etc/group, as runc's user lookup does.
//!
//! The files are opened with `openat2(RESOLVE_IN_ROOT)`, so a symlink in the image (even an
//! absolute one, or `..`) can never lead to the host's files.

use super::SpecError;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Who the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the user's memberships (when no group was given) and `GroupAdd`.
    pub additional_gids: Vec<u32>,
    /// The home directory from passwd ("/" without an entry), for `HOME`.
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

const MAX_ID: u64 = i32::MAX as u64;

/// Resolve `user` (empty = root) and `group_add` inside `rootfs`.
pub fn resolve(rootfs: &Path, user: &str, group_add: &[String]) -> Result<ExecUser, SpecError> {
    let (user_arg, group_arg) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = parse_passwd(&read_in_root(rootfs, "etc/passwd")?);
    let groups = parse_group(&read_in_root(rootfs, "etc/group")?);
    let user_arg = if user_arg.is_empty() { "0" } else { user_arg };
    let numeric = parse_id(user_arg, "user")?;
    let entry = passwd
        .iter()
        .find(|p| p.name == user_arg || Some(p.uid) == numeric);
    let mut out = ExecUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".to_string(),
    };
    match (entry, numeric) {
        (Some(p), _) => {
            out.uid = p.uid;
            out.gid = p.gid;
            out.home = p.home.clone();
        }
        (None, Some(uid)) => out.uid = uid,
        (None, None) => return Err(SpecError::UnknownUser(user_arg.to_string())),
    }
    match group_arg {
        Some(g) if !g.is_empty() => out.gid = lookup_group(&groups, g)?,
        _ => {
            if let Some(p) = entry {
                out.additional_gids = groups
                    .iter()
                    .filter(|g| g.members.contains(&p.name))
                    .map(|g| g.gid)
                    .collect();
            }
        }
    }
    for g in group_add {
        let gid = lookup_group(&groups, g)?;
        out.additional_gids.push(gid);
    }
    Ok(out)
}

fn lookup_group(groups: &[GroupEntry], arg: &str) -> Result<u32, SpecError> {
    if let Some(g) = groups.iter().find(|g| g.name == arg) {
        return Ok(g.gid);
    }
    match parse_id(arg, "group")? {
        Some(gid) => Ok(gid),
        None => Err(SpecError::UnknownGroup(arg.to_string())),
    }
}

/// `Some(id)` for a number in range, `None` for a name, an error for a number out of range.
fn parse_id(s: &str, what: &'static str) -> Result<Option<u32>, SpecError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_ID => Ok(Some(n as u32)),
        _ => Err(SpecError::invalid(
            what,
            s,
            format!("uids and gids must be in range 0-{MAX_ID}"),
        )),
    }
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).copied().unwrap_or("/").to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The text of `rel` inside `rootfs`, resolved as if `rootfs` were `/`; empty if missing.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<String, SpecError> {
    use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
    let io = |path: PathBuf, e: std::io::Error| SpecError::Io { path, err: e };
    let root = std::fs::File::open(rootfs).map_err(|e| io(rootfs.to_path_buf(), e))?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let path = rootfs.join(rel);
    match openat2(root.as_fd(), rel, how) {
        Ok(fd) => {
            let mut text = String::new();
            std::fs::File::from(fd)
                .read_to_string(&mut text)
                .map_err(|e| io(path, e))?;
            Ok(text)
        }
        Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => Ok(String::new()),
        Err(e) => Err(io(path, e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nappgrp:x:1001:\nwheel:x:10:app,root\naudio:x:29:app\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn empty_user_is_root_with_root_s_home() {
        let r = resolve(rootfs().path(), "", &[]).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        assert_eq!(r.additional_gids, [10]);
    }

    #[test]
    fn names_resolve_with_supplementary_groups() {
        let r = resolve(rootfs().path(), "app", &[]).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (1000, 1001, "/home/app"));
        assert_eq!(r.additional_gids, [10, 29]);
    }

    #[test]
    fn explicit_group_replaces_memberships() {
        let r = resolve(rootfs().path(), "app:wheel", &[]).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 10));
        assert!(r.additional_gids.is_empty());
        let r = resolve(rootfs().path(), "1000:1000", &[]).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 1000));
    }

    #[test]
    fn numeric_ids_without_entries_are_used_as_given() {
        let r = resolve(rootfs().path(), "4242", &[]).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (4242, 0, "/"));
        let r = resolve(rootfs().path(), "4242:77", &[]).unwrap();
        assert_eq!((r.uid, r.gid), (4242, 77));
    }

    #[test]
    fn unknown_names_give_docker_s_errors() {
        let e = resolve(rootfs().path(), "nobody", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert_eq!(e.kind(), super::super::ErrorKind::NotFound);
        let e = resolve(rootfs().path(), "app:nogroup", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert!(resolve(rootfs().path(), "99999999999", &[]).is_err());
    }

    #[test]
    fn group_add_appends_names_and_numbers() {
        let r = resolve(
            rootfs().path(),
            "app:appgrp",
            &["audio".into(), "555".into()],
        )
        .unwrap();
        assert_eq!(r.additional_gids, [29, 555]);
        assert!(resolve(rootfs().path(), "", &["nosuch".into()]).is_err());
    }

    #[test]
    fn missing_files_still_allow_numeric_users() {
        let dir = tempfile::tempdir().unwrap();
        let r = resolve(dir.path(), "1:2", &[]).unwrap();
        assert_eq!((r.uid, r.gid), (1, 2));
        assert!(matches!(
            resolve(dir.path(), "app", &[]),
            Err(SpecError::UnknownUser(_))
        ));
    }

    #[test]
    fn symlinks_resolve_inside_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("real")).unwrap();
        std::fs::write(
            dir.path().join("real/passwd"),
            "inside:x:7:7::/in:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("grp"), "ingroup:x:9:\n").unwrap();
        // Absolute and `..`-laden links: on the host they would reach the host's files.
        std::os::unix::fs::symlink("/real/passwd", dir.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("../../../../../../grp", dir.path().join("etc/group")).unwrap();
        let r = resolve(dir.path(), "inside:ingroup", &[]).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (7, 9, "/in"));
        // The host's root entry and root group are not visible.
        assert!(matches!(
            resolve(dir.path(), "root", &[]),
            Err(SpecError::UnknownUser(_))
        ));
        assert!(matches!(
            resolve(dir.path(), "0:root", &[]),
            Err(SpecError::UnknownGroup(_))
        ));
    }
}
