//! `tug build` and `DOCKER_BUILDKIT=0 docker build` against a private `tug daemon`: real RUN
//! steps in containers, COPY/ADD, multi-stage, cache hits and misses, heredocs, cache mounts,
//! secrets, reproducible digests, and the errors users see. The base image is a busybox
//! rootfs made here and imported with `tug import`.

mod common;
mod daemon;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct D(daemon::Daemon);

impl std::ops::Deref for D {
    type Target = daemon::Daemon;
    fn deref(&self) -> &daemon::Daemon {
        &self.0
    }
}

fn hdr() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

/// A busybox root filesystem tar: every applet, root and an `app` user.
fn busybox_rootfs() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str| {
        let mut h = hdr();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, p, std::io::empty()).unwrap();
    };
    for d in [
        "bin", "etc", "tmp", "root", "proc", "sys", "dev", "var", "home/app",
    ] {
        dir(&mut b, d);
    }
    let data = std::fs::read(BUSYBOX).unwrap();
    let mut h = hdr();
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, "bin/busybox", data.as_slice())
        .unwrap();
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet == "busybox" {
            continue;
        }
        let mut h = hdr();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    for (p, c) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        ),
        ("etc/group", "root:x:0:\napp:x:1000:\n"),
    ] {
        let mut h = hdr();
        h.set_mode(0o644);
        h.set_size(c.len() as u64);
        b.append_data(&mut h, p, c.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

impl D {
    fn start() -> D {
        D::start_with_env(&[])
    }

    fn start_with_env(env: &[(&str, &str)]) -> D {
        let d = D(daemon::Daemon::start_with_env(env));
        let o = d.tug_in(&["import", "-", "busybox:latest"], None, &busybox_rootfs());
        assert!(o.status.success(), "import: {}", stderr(&o));
        d
    }

    fn host(&self) -> String {
        format!("unix://{}", self.sock().display())
    }

    fn tug_in(&self, args: &[&str], dir: Option<&Path>, input: &[u8]) -> Output {
        let mut c = Command::new(TUG);
        c.env_remove("DOCKER_HOST")
            .env_remove("SOURCE_DATE_EPOCH")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(d) = dir {
            c.current_dir(d);
        }
        let mut ch = c.spawn().unwrap();
        let _ = ch.stdin.take().unwrap().write_all(input);
        ch.wait_with_output().unwrap()
    }

    /// `tug build ARGS CONTEXT` from the context's directory.
    fn build(&self, ctx: &Path, args: &[&str]) -> Output {
        let mut a: Vec<&str> = vec!["build"];
        a.extend_from_slice(args);
        a.push(".");
        self.tug_in(&a, Some(ctx), b"")
    }

    fn build_ok(&self, ctx: &Path, args: &[&str]) -> String {
        let o = self.build(ctx, args);
        assert!(
            o.status.success(),
            "tug build {args:?} failed: {}{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    fn run(&self, image: &str, cmd: &[&str]) -> String {
        let mut a = vec!["run", "--rm", image];
        a.extend_from_slice(cmd);
        self.ok(&a)
    }

    fn inspect(&self, image: &str, fmt: &str) -> String {
        self.ok(&["image", "inspect", "-f", fmt, image])
            .trim()
            .to_string()
    }
}

/// A build context in a temp dir.
struct Ctx(tempfile::TempDir);

impl Ctx {
    fn new(files: &[(&str, &str)]) -> Ctx {
        let t = tempfile::Builder::new()
            .prefix("tug-ctx-")
            .tempdir()
            .unwrap();
        let c = Ctx(t);
        for (p, data) in files {
            c.write(p, data);
        }
        c
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn write(&self, p: &str, data: &str) {
        let f = self.path().join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    }
    fn file(&self, p: &str) -> PathBuf {
        self.path().join(p)
    }
}

#[test]
fn build_runs_copies_and_sets_config() {
    let d = D::start();
    let c = Ctx::new(&[
        ("hello.txt", "hello from the context\n"),
        ("dir/a", "A\n"),
        ("dir/sub/b", "B\n"),
        ("skip.log", "nope\n"),
        (".dockerignore", "*.log\n"),
        (
            "Dockerfile",
            r#"# syntax=docker/dockerfile:1
FROM busybox AS base
ARG WHO=world
ENV GREETING="hi there" \
    EMPTY=
RUN echo "building for $WHO" && mkdir -p /app && echo built > /app/built && rm /bin/vi
COPY hello.txt /app/
COPY --chown=app:app --chmod=750 dir /app/dir/
COPY *.txt /app/glob/
WORKDIR /app
WORKDIR sub
USER app
LABEL org.example.who="$WHO" two=2
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --retries=3 CMD ["true"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/hello.txt"]
"#,
        ),
    ]);
    let out = d.build_ok(c.path(), &["-t", "demo:1", "--build-arg", "WHO=tests"]);
    assert!(out.contains("Step 1/17 : FROM busybox AS base"), "{out}");
    assert!(out.contains("building for tests"), "{out}");
    assert!(out.contains("Successfully tagged demo:1"), "{out}");
    assert_eq!(d.run("demo:1", &[]), "hello from the context\n");
    let inside = d.run(
        "demo:1",
        &["cat /app/built; ls /bin/vi 2>&1; stat -c '%U:%G %a' /app/dir/a /app/dir/sub/b; cat /app/dir/sub/b; ls /app/glob; ls /app; id -u; pwd; echo \"$GREETING\""],
    );
    assert_eq!(
        inside,
        "built\nls: /bin/vi: No such file or directory\napp:app 750\napp:app 750\nB\nhello.txt\nbuilt\ndir\nglob\nhello.txt\nsub\n1000\n/app/sub\nhi there\n"
    );
    assert_eq!(
        d.inspect("demo:1", "{{json .Config.Cmd}}"),
        r#"["cat /app/hello.txt"]"#
    );
    assert_eq!(
        d.inspect("demo:1", "{{json .Config.Entrypoint}}"),
        r#"["/bin/sh","-c"]"#
    );
    assert_eq!(
        d.inspect(
            "demo:1",
            "{{.Config.WorkingDir}} {{.Config.User}} {{.Config.StopSignal}}"
        ),
        "/app/sub app SIGTERM"
    );
    assert_eq!(
        d.inspect("demo:1", "{{json .Config.Labels}}"),
        r#"{"org.example.who":"tests","two":"2"}"#
    );
    assert_eq!(
        d.inspect("demo:1", "{{json .Config.ExposedPorts}}"),
        r#"{"53/udp":{},"8080/tcp":{}}"#
    );
    assert_eq!(
        d.inspect("demo:1", "{{json .Config.Volumes}}"),
        r#"{"/data":{}}"#
    );
    assert!(d
        .inspect("demo:1", "{{json .Config.Env}}")
        .contains(r#""GREETING=hi there","EMPTY=""#));
    let hist = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "demo:1",
    ]);
    assert!(
        hist.contains("|1 WHO=tests /bin/sh -c echo \"building for $WHO\""),
        "{hist}"
    );
    assert!(
        hist.contains("/bin/sh -c #(nop)  EXPOSE 8080/tcp 53/udp"),
        "{hist}"
    );
    // The layers: RUN, three COPYs and the new WORKDIR on top of the base's one (WORKDIR
    // /app existed already: no layer).
    assert_eq!(d.inspect("demo:1", "{{len .RootFS.Layers}}"), "6");
}

#[test]
fn cache_follows_content_not_mtime() {
    let d = D::start();
    let c = Ctx::new(&[
        ("f.txt", "one\n"),
        (
            "Dockerfile",
            "FROM busybox\nRUN echo run > /r\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g\n",
        ),
    ]);
    let first = d.build_ok(c.path(), &["-t", "c:1"]);
    assert!(!first.contains("Using cache"), "{first}");
    let id1 = d.inspect("c:1", "{{.Id}}");
    let again = d.build_ok(c.path(), &["-t", "c:1"]);
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
    assert_eq!(
        d.inspect("c:1", "{{.Id}}"),
        id1,
        "a fully cached build gives the same image"
    );
    // Only the mtime changes: still cached.
    let f = std::fs::File::options()
        .write(true)
        .open(c.file("f.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    drop(f);
    let touched = d.build_ok(c.path(), &["-t", "c:1"]);
    assert_eq!(touched.matches("Using cache").count(), 3, "{touched}");
    // The content changes: the COPY and what follows run again.
    c.write("f.txt", "two\n");
    let changed = d.build_ok(c.path(), &["-t", "c:1"]);
    assert_eq!(changed.matches("Using cache").count(), 1, "{changed}");
    assert_eq!(d.run("c:1", &["cat", "/g"]), "two\n");
    let nocache = d.build_ok(c.path(), &["-t", "c:1", "--no-cache"]);
    assert!(!nocache.contains("Using cache"), "{nocache}");
}

#[test]
fn multi_stage_target_and_heredocs() {
    let d = D::start();
    let c = Ctx::new(&[(
        "Dockerfile",
        r#"FROM busybox AS one
RUN <<EOF
echo first > /one
echo more >> /one
EOF

FROM busybox AS two
RUN echo second > /two

FROM busybox AS unused
RUN exit 3

FROM busybox
ENV WHERE=here
COPY --from=one /one /got/one
COPY --from=two /two /got/
COPY <<EOF /got/here
line $WHERE
EOF
COPY <<'EOF' /got/raw
line $WHERE
EOF
RUN cat <<A > /got/a && cat <<-B > /got/b
a
A
	b
	B
RUN <<EOF
#!/bin/sh -e
echo "script $0" > /got/script
EOF
"#,
    )]);
    let out = d.build_ok(c.path(), &["-t", "ms:1"]);
    assert!(!out.contains("exit 3"), "unused stages are skipped: {out}");
    assert_eq!(
        d.run(
            "ms:1",
            &[
                "sh",
                "-c",
                "cat /got/one /got/two /got/here /got/raw /got/a /got/b /got/script; ls -a /dev | grep -c heredoc || true"
            ]
        ),
        "first\nmore\nsecond\nline here\nline $WHERE\na\nb\nscript /dev/.tug-heredoc-script\n0\n"
    );
    // --target builds only what that stage needs.
    let out = d.build_ok(c.path(), &["-t", "ms:two", "--target", "two"]);
    assert!(!out.contains("first"), "{out}");
    assert_eq!(d.run("ms:two", &["cat", "/two"]), "second\n");
    let o = d.build(c.path(), &["--target", "nope"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("target stage \"nope\" could not be found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn cache_mounts_persist_and_secrets_stay_out_of_layers() {
    let d = D::start();
    let c = Ctx::new(&[
        ("secret.txt", "s3cr3t-value\n"),
        (
            "Dockerfile",
            "FROM busybox\nARG N\nRUN --mount=type=cache,target=/cache echo $N >> /cache/log && cat /cache/log > /seen\nRUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null && test ! -e /run/secrets/none && echo ok > /used\nRUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /listed\n",
        ),
    ]);
    std::fs::write(c.file(".dockerignore"), "secret.txt\n").unwrap();
    let secret = format!("id=tok,src={}", c.file("secret.txt").display());
    d.build_ok(
        c.path(),
        &["-t", "m:1", "--build-arg", "N=1", "--secret", &secret],
    );
    d.build_ok(
        c.path(),
        &["-t", "m:2", "--build-arg", "N=2", "--secret", &secret],
    );
    assert_eq!(d.run("m:2", &["cat", "/seen"]), "1\n2\n");
    assert_eq!(
        d.run(
            "m:2",
            &[
                "sh",
                "-c",
                "cat /used /listed; ls /run/secrets /scratch 2>&1 | wc -l"
            ]
        ),
        "ok\nx\n2\n"
    );
    // No layer of the image holds the secret.
    let t = tempfile::tempdir().unwrap();
    let tarball = t.path().join("m.tar");
    d.ok(&["save", "-o", tarball.to_str().unwrap(), "m:2"]);
    let bytes = std::fs::read(&tarball).unwrap();
    assert!(
        !bytes.windows(12).any(|w| w == b"s3cr3t-value"),
        "the secret leaked into the image"
    );
    // A required secret that is not given fails the build.
    let c2 = Ctx::new(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=x,required=true true\n",
    )]);
    let o = d.build(c2.path(), &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("secret x not found"), "{}", stderr(&o));

    // An rw bind of the context (a directory, and a file) takes writes that no later step
    // sees: the context stays as sent.
    let c3 = Ctx::new(&[
        ("data/a.txt", "a\n"),
        ("one.txt", "one\n"),
        (
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=bind,rw,source=data,target=/d echo scribble > /d/new.txt && rm /d/a.txt && ls /d > /inside\nRUN --mount=type=bind,rw,source=one.txt,target=/one.txt echo changed > /one.txt && cat /one.txt > /inside1\nRUN --mount=type=bind,source=data,target=/d ls /d > /after\nCOPY . /ctx\n",
        ),
    ]);
    d.build_ok(c3.path(), &["-t", "m:rw"]);
    assert_eq!(
        d.run(
            "m:rw",
            &[
                "sh",
                "-c",
                "cat /inside /inside1 /after; ls /ctx/data; cat /ctx/one.txt"
            ]
        ),
        "new.txt\nchanged\na.txt\na.txt\none\n"
    );
}

#[test]
fn source_date_epoch_gives_the_same_digest() {
    let d = D::start();
    let c = Ctx::new(&[
        ("a", "content\n"),
        (
            "Dockerfile",
            "FROM busybox\nCOPY a /a\nRUN echo x > /x && touch /y\nCMD [\"sh\"]\n",
        ),
    ]);
    let args = ["--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1700000000"];
    let mut a = vec!["-t", "r:1"];
    a.extend_from_slice(&args);
    d.build_ok(c.path(), &a);
    let id1 = d.inspect("r:1", "{{.Id}}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut b = vec!["-t", "r:2"];
    b.extend_from_slice(&args);
    d.build_ok(c.path(), &b);
    assert_eq!(d.inspect("r:2", "{{.Id}}"), id1);
    assert_eq!(d.inspect("r:2", "{{.Created}}"), "2023-11-14T22:13:20Z");
    // Without it, times differ and so do the digests.
    d.build_ok(c.path(), &["-t", "r:3", "--no-cache"]);
    assert_ne!(d.inspect("r:3", "{{.Id}}"), id1);
}

#[test]
fn docker_cli_legacy_builder_works_against_tug() {
    let d = D::start();
    let c = Ctx::new(&[
        ("x.txt", "from docker\n"),
        (
            "Dockerfile",
            "FROM busybox\nCOPY x.txt /x.txt\nRUN echo ran\nCMD [\"cat\", \"/x.txt\"]\n",
        ),
    ]);
    let o = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-t", "viadocker:1", "--label", "k=v", "."])
        .current_dir(c.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Step 3/4 : RUN echo ran") && out.contains("\nran\n"),
        "{out}"
    );
    assert!(out.contains("Successfully tagged viadocker:1"), "{out}");
    assert_eq!(d.run("viadocker:1", &[]), "from docker\n");
    assert_eq!(d.inspect("viadocker:1", "{{.Config.Labels.k}}"), "v");
    // -q prints only the ID.
    let o = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "--label", "k=v", "."])
        .current_dir(c.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), d.inspect("viadocker:1", "{{.Id}}"));
    // A failing RUN: Docker's message, non-zero exit.
    c.write("Dockerfile", "FROM busybox\nRUN echo bad; exit 7\n");
    let o = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "."])
        .current_dir(c.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("The command '/bin/sh -c echo bad; exit 7' returned a non-zero code: 7"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn errors_name_the_cause() {
    let d = D::start();
    let cases: &[(&str, &str)] = &[
        ("FROM busybox\nRUNN x\n", "Dockerfile:2:1: unknown instruction: RUNN"),
        ("FROM busybox\nCOPY missing.txt /\n", "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist"),
        ("FROM busybox\nCOPY ignored.txt /\n", "COPY failed: file not found in build context or excluded by .dockerignore: stat ignored.txt: file does not exist"),
        ("FROM nosuchimage\n", "base image nosuchimage: no such image locally, and pulling it failed"),
        ("FROM busybox\nUSER ghost\nRUN true\n", "unable to find user ghost: no matching entries in passwd file"),
        ("FROM --platform=linux/s390x busybox\n", "Dockerfile:1:1: platform linux/s390x is not supported: tug builds for the host platform"),
        ("FROM busybox\nRUN --security=insecure true\n", "RUN --security=insecure is not allowed"),
        ("FROM busybox\nRUN --network=bridge true\n", "network mode \"bridge\" is not supported for RUN"),
        ("FROM busybox\nENV x=\"${y:?must be set}\"\n", "Dockerfile:2:1: y: must be set"),
        ("FROM busybox\nCOPY a b /notdir\n", "When using COPY with more than one source file, the destination must be a directory and end with a /"),
    ];
    for (df, want) in cases {
        let c = Ctx::new(&[
            ("Dockerfile", df),
            ("ignored.txt", "x"),
            ("a", "a"),
            ("b", "b"),
            (".dockerignore", "ignored.txt\n"),
        ]);
        let o = d.build(c.path(), &[]);
        assert!(!o.status.success(), "{df}");
        assert!(stderr(&o).contains(want), "{df}: {}", stderr(&o));
    }
    // Nothing half-made: no image without a name appeared.
    assert_eq!(
        d.ok(&["images", "-q", "--filter", "dangling=true"]).trim(),
        ""
    );
}

#[test]
fn check_validates_without_building() {
    let c = Ctx::new(&[("Dockerfile", "FROM busybox as Build\nCMD echo hi\n")]);
    let o = Command::new(TUG)
        .args(["build", "--check", "."])
        .current_dir(c.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(
            "WARNING: StageNameCasing - Dockerfile:1:1: Stage name 'Build' should be lowercase"
        ),
        "{out}"
    );
    assert!(out.contains("WARNING: FromAsCasing"), "{out}");
    assert!(
        out.contains("WARNING: JSONArgsRecommended - Dockerfile:2:1"),
        "{out}"
    );
    c.write("Dockerfile", "FROM busybox\n\n  COPY --nope=1 a b\n");
    let o = Command::new(TUG)
        .args(["build", "--check", "."])
        .current_dir(c.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Dockerfile:3:8: unknown flag: nope"),
        "{}",
        stderr(&o)
    );
    c.write("Dockerfile", "FROM busybox\nCMD [\"sh\"]\n");
    let o = Command::new(TUG)
        .args(["build", "--check", "."])
        .current_dir(c.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn output_writes_an_archive_and_add_extracts_tars() {
    let d = D::start();
    let c = Ctx::new(&[
        (
            "Dockerfile",
            "FROM busybox\nADD bundle.tar /opt/\nADD plain.txt /opt/plain.txt\n",
        ),
        ("plain.txt", "p\n"),
    ]);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = hdr();
    h.set_mode(0o644);
    h.set_size(3);
    b.append_data(&mut h, "inner/file", &b"in\n"[..]).unwrap();
    std::fs::write(c.file("bundle.tar"), b.into_inner().unwrap()).unwrap();
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("out.tar");
    let o = format!("type=docker,dest={}", dest.display());
    d.build_ok(c.path(), &["-t", "o:1", "--output", &o]);
    assert_eq!(
        d.run("o:1", &["cat", "/opt/inner/file", "/opt/plain.txt"]),
        "in\np\n"
    );
    // The archive loads back.
    d.ok(&["rmi", "o:1"]);
    let out = d.ok(&["load", "-i", dest.to_str().unwrap()]);
    assert!(out.contains("o:1") || out.contains("sha256:"), "{out}");
}

#[test]
fn independent_stages_run_in_parallel() {
    let d = D::start();
    let c = Ctx::new(&[(
        "Dockerfile",
        "FROM busybox AS a\nRUN sleep 1 && echo a > /a\nFROM busybox AS b\nRUN sleep 1 && echo b > /b\nFROM busybox AS c\nRUN sleep 1 && echo c > /c\nFROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCOPY --from=c /c /c\n",
    )]);
    let t0 = std::time::Instant::now();
    d.build_ok(c.path(), &["-t", "par:1"]);
    let took = t0.elapsed();
    assert!(
        took < std::time::Duration::from_millis(2500),
        "three 1 s stages took {took:?}: not in parallel"
    );
    assert_eq!(d.run("par:1", &["cat", "/a", "/b", "/c"]), "a\nb\nc\n");
}

#[test]
fn onbuild_shell_network_exclude_and_parents() {
    let d = D::start();
    let base = Ctx::new(&[(
        "Dockerfile",
        "FROM busybox\nONBUILD RUN echo triggered > /onbuild\nSHELL [\"/bin/sh\", \"-ec\"]\n",
    )]);
    d.build_ok(base.path(), &["-t", "withtrigger:1"]);
    let c = Ctx::new(&[
        ("src/a.txt", "a\n"),
        ("src/b.md", "b\n"),
        ("src/deep/c.txt", "c\n"),
        (
            "Dockerfile",
            "FROM withtrigger:1\nRUN --network=none cat /proc/net/dev | grep -c : > /ifaces\nRUN echo $0 $- > /shell\nCOPY --exclude=*.md src /ex/\nCOPY --parents src/deep/c.txt /par/\n",
        ),
    ]);
    d.build_ok(c.path(), &["-t", "more:1"]);
    assert_eq!(
        d.run(
            "more:1",
            &[
                "sh",
                "-c",
                "cat /onbuild /ifaces /shell; ls /ex; cat /par/src/deep/c.txt"
            ]
        ),
        "triggered\n1\n/bin/sh ce\na.txt\ndeep\nc\n"
    );
    let c = Ctx::new(&[("Dockerfile", "FROM busybox\nADD https://127.0.0.1:1/x /x\n")]);
    let o = d.build(c.path(), &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("ADD https://127.0.0.1:1/x") && stderr(&o).contains("refused"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_base_images_are_pulled() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = daemon::busybox_in_registry(&reg, t.path());
    let d = D::start();
    let c = Ctx::new(&[(
        "Dockerfile",
        &format!("FROM {image}\nRUN echo pulled > /p\n"),
    )]);
    let out = d.build_ok(c.path(), &["-t", "frompull:1"]);
    assert!(out.contains(&format!(" ---> Pulling {image}")), "{out}");
    assert_eq!(d.run("frompull:1", &["cat", "/p"]), "pulled\n");
    // Present now: no pull unless --pull.
    let out = d.build_ok(c.path(), &["-t", "frompull:1"]);
    assert!(!out.contains("Pulling"), "{out}");
    let out = d.build_ok(c.path(), &["-t", "frompull:1", "--pull"]);
    assert!(out.contains("Pulling"), "{out}");
}

/// `python3 -m http.server` on a loopback port, killed (by PID) on drop.
struct Http(std::process::Child, u16);

impl Http {
    fn serve(dir: &Path) -> Http {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Http(child, port)
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn add_fetches_http_urls_with_checksums() {
    let d = D::start();
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("remote.txt"), "over http\n").unwrap();
    let srv = Http::serve(files.path());
    let url = format!("http://127.0.0.1:{}/remote.txt", srv.1);
    // sha256 of "over http\n"
    let sum = {
        let o = Command::new("sha256sum")
            .arg(files.path().join("remote.txt"))
            .output()
            .unwrap();
        stdout(&o).split_whitespace().next().unwrap().to_string()
    };
    let c = Ctx::new(&[(
        "Dockerfile",
        &format!("FROM busybox\nADD --checksum=sha256:{sum} {url} /dl/\n"),
    )]);
    d.build_ok(c.path(), &["-t", "dl:1"]);
    assert_eq!(
        d.run(
            "dl:1",
            &["sh", "-c", "cat /dl/remote.txt; stat -c %a /dl/remote.txt"]
        ),
        "over http\n600\n"
    );
    c.write(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD --checksum=sha256:{} {url} /dl/\n",
            "0".repeat(64)
        ),
    );
    let o = d.build(c.path(), &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
}

#[test]
fn docker_py_builds_through_the_api() {
    let d = D::start();
    let c = Ctx::new(&[
        ("f", "py\n"),
        (
            "Dockerfile",
            "FROM busybox\nARG X\nCOPY f /f\nRUN echo $X > /x\n",
        ),
    ]);
    let script = r#"
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
img, logs = c.images.build(path=sys.argv[2], tag="py:1", buildargs={"X": "from-py"}, rm=True)
print("".join(l.get("stream", "") for l in logs if "stream" in l))
print("ID", img.id)
try:
    c.images.build(path=sys.argv[2], dockerfile="Missing.Dockerfile")
except docker.errors.BuildError as e:
    print("ERR", e.msg)
"#;
    let o = Command::new("python3")
        .args(["-c", script, &d.host(), c.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("ID {}", d.inspect("py:1", "{{.Id}}"))),
        "{out}"
    );
    assert!(
        out.contains("ERR Cannot locate specified Dockerfile: Missing.Dockerfile"),
        "{out}"
    );
    assert_eq!(d.run("py:1", &["cat", "/f", "/x"]), "py\nfrom-py\n");
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl in `dir`:
/// (ca.pem, server cert, server key).
fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=tug test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "srv.pem",
    ]);
    (dir.join("ca.pem"), dir.join("srv.pem"), dir.join("srv.key"))
}

#[test]
fn add_fetches_https_urls_trusting_the_system_and_ssl_cert_file() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(pki.path());
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("remote.txt"), "over https\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = r#"
import http.server, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;
    let child = Command::new("python3")
        .args(["-c", server, &port.to_string()])
        .arg(&cert)
        .arg(&key)
        .current_dir(files.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let srv = Http(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", srv.1)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let d = D::start_with_env(&[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    let url = format!("https://127.0.0.1:{}/remote.txt", srv.1);
    let c = Ctx::new(&[("Dockerfile", &format!("FROM busybox\nADD {url} /dl/\n"))]);
    d.build_ok(c.path(), &["-t", "dls:1"]);
    assert_eq!(d.run("dls:1", &["cat", "/dl/remote.txt"]), "over https\n");
    // The certificate names 127.0.0.1 only: another name for the same server is refused.
    c.write(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD https://localhost:{}/remote.txt /dl/\n",
            srv.1
        ),
    );
    let o = d.build(c.path(), &["--no-cache"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("ADD https://localhost") && err.contains("certificate"),
        "{err}"
    );
}

#[test]
fn run_writes_beside_mount_points_the_image_lacked() {
    let d = D::start();
    // A base with no /etc at all: the RUN's mount points (/etc/hosts, /etc/resolv.conf) are
    // made for the run and removed, but what the RUN wrote into /etc stays.
    let mut b = tar::Builder::new(Vec::new());
    let data = std::fs::read(BUSYBOX).unwrap();
    let mut h = hdr();
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, "bin/busybox", data.as_slice())
        .unwrap();
    let mut h = hdr();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    b.append_link(&mut h, "bin/sh", "busybox").unwrap();
    let o = d.tug_in(&["import", "-", "noetc:1"], None, &b.into_inner().unwrap());
    assert!(o.status.success(), "{}", stderr(&o));
    let c = Ctx::new(&[(
        "Dockerfile",
        "FROM noetc:1\nRUN echo kept > /etc/motd\nRUN mkdir -p /x/y && echo deep > /x/y/z\n",
    )]);
    d.build_ok(c.path(), &["-t", "noetc:2"]);
    let out = d.run(
        "noetc:2",
        &[
            "sh",
            "-c",
            "cat /etc/motd /x/y/z; ls -a /etc | tr '\\n' ' '",
        ],
    );
    // /etc/hosts etc. inside the run container now come from the engine's own mounts.
    assert!(out.starts_with("kept\ndeep\n"), "{out}");
    let saved = d.tug_in(&["save", "noetc:2"], None, b"");
    assert!(saved.status.success());
    let mut names = Vec::new();
    let mut outer = tar::Archive::new(saved.stdout.as_slice());
    for e in outer.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().to_string();
        if p.ends_with(".tar") || p.contains("blobs/sha256/") {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            if let Ok(entries) = tar::Archive::new(data.as_slice()).entries() {
                for f in entries.flatten() {
                    names.push(f.path().unwrap().to_string_lossy().to_string());
                }
            }
        }
    }
    assert!(names.iter().any(|n| n == "etc/motd"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("hosts") || n.contains("resolv.conf")),
        "{names:?}"
    );
}
