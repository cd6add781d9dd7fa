//! The `tug` image verbs as a Docker API client against a private `tug daemon`: import,
//! list/format/filter, tag, rmi, save/load, history, inspect, push/pull through a local
//! registry, and the error wording. Where docker's CLI is at hand, outputs are compared.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
mod daemon;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The shared private daemon, driven through `tug` itself (and, for comparison, docker).
struct Daemon(daemon::Daemon);

impl std::ops::Deref for Daemon {
    type Target = daemon::Daemon;
    fn deref(&self) -> &daemon::Daemon {
        &self.0
    }
}

impl Daemon {
    fn start() -> Daemon {
        Daemon(daemon::Daemon::start())
    }

    fn host(&self) -> String {
        format!("unix://{}", self.sock().display())
    }

    /// `tug -H unix://… args` (DOCKER_HOST unset, so only -H can point at the daemon).
    fn tug(&self, args: &[&str]) -> Output {
        Command::new(TUG)
            .env_remove("DOCKER_HOST")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn tug_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = Command::new(TUG)
            .env_remove("DOCKER_HOST")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input).unwrap();
        c.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.tug(args);
        assert!(
            o.status.success(),
            "tug {args:?} failed ({:?}): {}{}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// The real docker CLI against the same daemon, if installed.
    fn docker(&self, args: &[&str]) -> Option<String> {
        let o = Command::new("docker")
            .env("DOCKER_HOST", self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        assert!(o.status.success(), "docker {args:?}: {}", stderr(&o));
        Some(stdout(&o))
    }

    /// tug and docker print the same for `args` (retried: "N seconds ago" can tick).
    fn same_as_docker(&self, args: &[&str]) {
        for attempt in 0.. {
            let mine = self.ok(args);
            let Some(theirs) = self.docker(args) else {
                return;
            };
            if mine == theirs {
                return;
            }
            assert!(attempt < 3, "tug {args:?}:\n{mine}\ndocker:\n{theirs}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// A busybox rootfs tar on disk.
fn rootfs_tar(dir: &Path) -> PathBuf {
    let p = dir.join("rootfs.tar");
    std::fs::write(&p, img::busybox_layer()).unwrap();
    p
}

/// `tug import` the busybox rootfs as `name`; returns the image ID it printed.
fn import(d: &Daemon, dir: &Path, name: &str) -> String {
    let tar = rootfs_tar(dir);
    let out = d.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "LABEL tier=base",
        tar.to_str().unwrap(),
        name,
    ]);
    let id = out.trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71 && out.lines().count() == 1,
        "{out}"
    );
    id
}

fn short(id: &str) -> &str {
    &id[7..19]
}

#[test]
fn import_list_format_filter() {
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    let id = import(&d, t.path(), "tug/bb:v1");

    let list = d.ok(&["images"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let header = lines[0];
    assert!(
        header.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED   "),
        "{header:?}"
    );
    assert!(header.ends_with("SIZE"), "{header:?}");
    let row = lines[1];
    assert!(
        row.starts_with(&format!("tug/bb       v1        {}   ", short(&id))),
        "{row:?}"
    );
    // Columns line up with the header, and the size is docker's human form.
    let size = &row[header.find("SIZE").unwrap()..];
    assert!(size.ends_with("MB") || size.ends_with("kB"), "{row:?}");
    assert!(size.contains('.') || size.len() <= 5, "{row:?}");
    let created = &row[header.find("CREATED").unwrap()..header.find("SIZE").unwrap()];
    assert!(created.trim_end().ends_with(" ago"), "{row:?}");
    d.same_as_docker(&["images"]);

    // The same via `image ls` and DOCKER_HOST instead of -H.
    let via_env = Command::new(TUG)
        .env("DOCKER_HOST", d.host())
        .args(["image", "ls"])
        .output()
        .unwrap();
    assert!(via_env.status.success(), "{}", stderr(&via_env));
    assert_eq!(stdout(&via_env).lines().nth(1), Some(row));

    assert_eq!(d.ok(&["images", "-q"]), format!("{}\n", short(&id)));
    assert_eq!(d.ok(&["images", "-q", "--no-trunc"]), format!("{id}\n"));
    assert_eq!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "tug/bb:v1\n"
    );
    assert_eq!(
        d.ok(&["images", "--format", "table {{.ID}}\\t{{.Repository}}"]),
        format!("IMAGE ID       REPOSITORY\n{}   tug/bb\n", short(&id))
    );
    let j: serde_json::Value =
        serde_json::from_str(&d.ok(&["images", "--format", "{{json .}}"])).unwrap();
    assert_eq!(j["ID"], short(&id), "{j}");
    assert_eq!(j["Tag"], "v1", "{j}");
    d.same_as_docker(&["images", "--format", "{{json .}}"]);
    d.same_as_docker(&["images", "--digests"]);

    // tag: a second row for the same ID.
    assert_eq!(d.ok(&["tag", "tug/bb:v1", "other/name:v2"]), "");
    assert_eq!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
            .lines()
            .filter(|l| l.ends_with(short(&id)))
            .count(),
        2
    );
    // Filters.
    assert_eq!(
        d.ok(&[
            "images",
            "--filter",
            "reference=other/*",
            "--format",
            "{{.Repository}}:{{.Tag}}"
        ]),
        "other/name:v2\n"
    );
    assert_eq!(
        d.ok(&["images", "other/name", "--format", "{{.Tag}}"]),
        "v2\n"
    );
    assert_eq!(d.ok(&["images", "-q", "--filter", "dangling=true"]), "");
    assert_eq!(
        d.ok(&["images", "-q", "--filter", "label=tier=base"])
            .lines()
            .count(),
        2
    );
    assert_eq!(d.ok(&["images", "-q", "--filter", "label=tier=other"]), "");
    let bad = d.tug(&["images", "--format", "{{nosuch .ID}}"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("not defined"), "{}", stderr(&bad));

    // rmi: untag one name (the image stays: only the Untagged line), then remove the image.
    let out = d.ok(&["rmi", "other/name:v2"]);
    assert_eq!(out, "Untagged: other/name:v2\n");
    assert_eq!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
        format!("tug/bb:v1 {}\n", short(&id))
    );
    let out = d.ok(&["image", "rm", "tug/bb:v1"]);
    assert_eq!(
        out,
        format!("Untagged: tug/bb:v1\nDeleted: {id}\n"),
        "{out}"
    );
    assert_eq!(d.ok(&["images", "-q"]), "");
    assert_eq!(
        d.ok(&["images"]),
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    );
    d.same_as_docker(&["images"]);
}

#[test]
fn import_from_stdin_untagged_shows_none() {
    let d = Daemon::start();
    let o = d.tug_stdin(&["import", "-"], &img::busybox_layer());
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
        format!("<none>:<none> {}\n", short(&id))
    );
    assert_eq!(
        d.ok(&["images", "-q", "--filter", "dangling=true"]),
        format!("{}\n", short(&id))
    );
    assert_eq!(d.ok(&["images", "-q", "--filter", "dangling=false"]), "");
    d.same_as_docker(&["images"]);
}

#[test]
fn save_load_history_inspect() {
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    let id = import(&d, t.path(), "tug/bb:v1");

    assert_eq!(
        d.ok(&["image", "inspect", "--format", "{{.Id}}", "tug/bb:v1"]),
        format!("{id}\n")
    );
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Cmd}}",
            "tug/bb:v1"
        ]),
        "[\"sh\"]\n"
    );
    let full: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", "tug/bb:v1"])).unwrap();
    assert_eq!(full[0]["Id"], id.as_str(), "{full}");
    assert_eq!(full[0]["RepoTags"][0], "tug/bb:v1", "{full}");
    d.same_as_docker(&["image", "inspect", "tug/bb:v1"]);

    let hist = d.ok(&["history", "tug/bb:v1"]);
    let lines: Vec<&str> = hist.lines().collect();
    assert!(
        lines[0].starts_with("IMAGE          CREATED   ") && lines[0].contains("CREATED BY"),
        "{hist}"
    );
    assert!(lines[0].ends_with("COMMENT"), "{hist}");
    assert!(lines.len() >= 2, "{hist}");
    assert!(hist.contains(short(&id)), "{hist}");
    d.same_as_docker(&["history", "tug/bb:v1"]);
    d.same_as_docker(&["history", "--no-trunc", "tug/bb:v1"]);
    assert_eq!(
        d.ok(&["image", "history", "-q", "tug/bb:v1"])
            .lines()
            .next(),
        Some(short(&id))
    );

    let tar = t.path().join("out.tar");
    assert_eq!(
        d.ok(&["save", "-o", tar.to_str().unwrap(), "tug/bb:v1"]),
        ""
    );
    let listing = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    assert!(
        stdout(&listing).lines().any(|l| l == "manifest.json"),
        "{}",
        stdout(&listing)
    );
    // Without -o to a pipe: the same archive on stdout.
    let piped = d.tug(&["save", "tug/bb:v1"]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(piped.stdout, std::fs::read(&tar).unwrap());

    d.ok(&["rmi", "tug/bb:v1"]);
    assert_eq!(d.ok(&["images", "-q"]), "");
    assert_eq!(
        d.ok(&["load", "-i", tar.to_str().unwrap()]),
        "Loaded image: tug/bb:v1\n"
    );
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "tug/bb:v1"]),
        format!("{id}\n")
    );
    // From stdin as well, via `image load`.
    d.ok(&["rmi", "tug/bb:v1"]);
    let o = d.tug_stdin(&["image", "load"], &std::fs::read(&tar).unwrap());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Loaded image: tug/bb:v1\n");

    // A missing save target leaves no file behind.
    let missing = t.path().join("none.tar");
    let o = d.tug(&["save", "-o", missing.to_str().unwrap(), "nosuch:tag"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("No such image"), "{}", stderr(&o));
    assert!(!missing.exists());
}

#[test]
fn push_and_pull_through_a_registry() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    let id = import(&d, t.path(), "tug/bb:v1");
    let target = format!("{}/tug/pushed:v2", reg.addr);
    d.ok(&["tag", "tug/bb:v1", &target]);

    let out = d.ok(&["push", &target]);
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{}/tug/pushed]\n",
            reg.addr
        )),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "{out:?}");
    assert!(out.lines().any(|l| l.ends_with(": Pushed")), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("v2: digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line: {out}"));
    let digest = line.split_whitespace().nth(2).unwrap().to_string();
    // No progress-bar lines off a terminal.
    assert!(!out.contains("Pushing"), "{out}");

    d.ok(&["rmi", &target]);
    d.ok(&["rmi", "tug/bb:v1"]);
    let pulled = d.ok(&["pull", &target]);
    let lines: Vec<&str> = pulled.lines().collect();
    // As docker's daemon: the repository path, without the registry.
    assert_eq!(lines[0], "v2: Pulling from tug/pushed", "{pulled}");
    // The layer is still in the content store after rmi, so it may already exist.
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(": Pull complete") || l.ends_with(": Already exists")),
        "{pulled}"
    );
    assert!(!pulled.contains("Downloading"), "{pulled}");
    assert!(!pulled.contains('\x1b'), "{pulled:?}");
    assert!(
        lines.contains(&format!("Digest: {digest}").as_str()),
        "{pulled}"
    );
    assert!(
        lines.contains(&format!("Status: Downloaded newer image for {target}").as_str()),
        "{pulled}"
    );
    assert_eq!(lines.last(), Some(&target.as_str()), "{pulled}");
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", &target]),
        format!("{id}\n")
    );

    // On a terminal: per-layer lines redrawn with ANSI cursor moves, same final line.
    d.ok(&["rmi", &target]);
    let o = on_tty(&d, &format!("pull {target}"));
    assert!(o.status.success(), "{}", stdout(&o));
    let shown = stdout(&o);
    assert!(shown.contains("\x1b[1A\x1b[2K\r"), "{shown:?}");
    assert!(shown.contains("Digest: sha256:"), "{shown:?}");
    assert_eq!(
        shown.trim_end().lines().last(),
        Some(target.as_str()),
        "{shown:?}"
    );

    // -q: the reference only; `image pull` is the same verb.
    d.ok(&["rmi", &target]);
    assert_eq!(
        d.ok(&["image", "pull", "-q", &target]),
        format!("{target}\n")
    );

    // Push of a name that is not local, pull of a name that does not exist.
    let o = d.tug(&["push", &format!("{}/tug/nothere:v1", reg.addr)]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o),
        format!(
            "Error response from daemon: An image does not exist locally with the tag: {}/tug/nothere\n",
            reg.addr
        )
    );
    let o = d.tug(&["pull", &format!("{}/tug/nothere:v1", reg.addr)]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(!stderr(&o).is_empty());
}

/// Run `tug -H … <args>` on a pseudo-terminal (util-linux `script`); output is the terminal's.
fn on_tty(d: &Daemon, args: &str) -> Output {
    Command::new("script")
        .args([
            "-qec",
            &format!("{TUG} -H {} {args}", d.host()),
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn errors_are_worded_like_docker() {
    let d = Daemon::start();
    let t = tempfile::tempdir().unwrap();
    import(&d, t.path(), "tug/bb:v1");
    let o = on_tty(&d, "save tug/bb:v1");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o).replace("\r\n", "\n"),
        "cowardly refusing to save to a terminal. Use the -o flag or redirect\n"
    );

    let o = d.tug(&["rmi", "nosuch:tag"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error response from daemon: No such image: nosuch:tag\n"
    );
    let o = d.tug(&["history", "nosuch:tag"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error response from daemon: No such image: nosuch:tag\n"
    );
    let o = d.tug(&["tag", "nosuch:tag", "x:y"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error response from daemon: No such image: nosuch:tag\n"
    );
    let o = d.tug(&["image", "inspect", "nosuch:tag"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "[]\n");
    assert_eq!(stderr(&o), "Error: No such image: nosuch:tag\n");

    // No daemon there.
    let gone = d.dir.path().join("nothing.sock");
    let o = Command::new(TUG)
        .arg("-H")
        .arg(format!("unix://{}", gone.display()))
        .arg("images")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "Cannot connect to the tug daemon at unix://{}. Is the tug daemon running?\n",
            gone.display()
        )
    );
    let o = Command::new(TUG)
        .env("DOCKER_HOST", format!("unix://{}", gone.display()))
        .arg("pull")
        .arg("busybox")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("Cannot connect to the tug daemon at unix://"));
    let o = Command::new(TUG)
        .env("DOCKER_HOST", "tcp://127.0.0.1:2375")
        .arg("images")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("only unix://"), "{}", stderr(&o));
}
