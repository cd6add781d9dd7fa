//! Whole Dockerfiles through the parser and validator (errors with their positions, the
//! instructions they become), and builds without RUN straight on an image store: FROM
//! scratch, COPY semantics, metadata, the cache and reproducible digests.

use build::instructions::{load, Instruction};
use build::{BuildOptions, Builder, Event};
use std::path::Path;

fn err(text: &str) -> String {
    load("Dockerfile", text).unwrap_err().to_string()
}

#[test]
fn parse_errors_point_at_the_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "FROM scratch\n\n\n   BOGUS x\n",
            "Dockerfile:4:4: unknown instruction: BOGUS",
        ),
        (
            "# escape=`\nFROM scratch\nCOPY --chown=1 `\n  --nope a b\n",
            "Dockerfile:3:18: unknown flag: nope",
        ),
        (
            "FROM scratch\nRUN <<EOT\nno end\n",
            "Dockerfile:2:1: unterminated heredoc EOT",
        ),
        (
            "  # c\nCMD x\n",
            "Dockerfile:2:1: no build stage in current context",
        ),
        (
            "FROM scratch AS a\nFROM scratch AS A\n",
            "Dockerfile:2:1: duplicate stage name \"a\"",
        ),
        (
            "FROM scratch\nSTOPSIGNAL\n",
            "Dockerfile:2:1: STOPSIGNAL requires exactly one argument",
        ),
        (
            "FROM scratch\nUSER a b\n",
            "Dockerfile:2:1: USER requires exactly one argument",
        ),
        (
            "FROM scratch\nLABEL\n",
            "Dockerfile:2:1: LABEL requires at least one argument",
        ),
        (
            "FROM scratch\nARG =x\n",
            "Dockerfile:2:1: ARG names can not be blank",
        ),
        (
            "FROM scratch\nVOLUME [\"\"]\n",
            "Dockerfile:2:1: VOLUME specified can not be an empty string",
        ),
        (
            "FROM scratch\nHEALTHCHECK NONE x\n",
            "Dockerfile:2:1: HEALTHCHECK NONE takes no arguments",
        ),
        (
            "FROM scratch\nHEALTHCHECK --retries=-1 CMD x\n",
            "Dockerfile:2:1: --retries must be a non-negative integer, got \"-1\"",
        ),
        (
            "FROM scratch\nRUN\n",
            "Dockerfile:2:1: RUN requires at least one argument",
        ),
        (
            "FROM scratch\nONBUILD\n",
            "Dockerfile:2:1: ONBUILD requires at least one argument",
        ),
        (
            "FROM scratch\nONBUILD BOGUS x\n",
            "Dockerfile:2:1: unknown instruction: BOGUS",
        ),
        (
            "# escape=\\\n# escape=\\\nFROM scratch\n",
            "Dockerfile:2:1: only one escape parser directive can be used",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&err(text), want, "{text:?}");
    }
}

#[test]
fn instruction_forms() {
    let p = load(
        "Dockerfile",
        r#"ARG BASE=scratch
FROM ${BASE}
RUN ["echo", "exec"]
RUN echo shell \
  continued
CMD ["a", "b"]
ENTRYPOINT top -b
SHELL ["/bin/bash", "-c"]
EXPOSE 80/tcp 53/udp
VOLUME ["/a", "/b"]
VOLUME /c /d
HEALTHCHECK --interval=5s CMD curl -f http://localhost/ || exit 1
HEALTHCHECK NONE
ONBUILD COPY . /src
COPY --link --chown=1:2 a b c/
ADD --checksum=sha256:abc x.tar /x/
MAINTAINER someone
"#,
    )
    .unwrap();
    let steps: Vec<&Instruction> = p.stages[0].steps.iter().map(|s| &s.instruction).collect();
    use build::instructions::Command::*;
    assert!(
        matches!(steps[0], Instruction::Run { command: Exec(v), .. } if v == &["echo", "exec"])
    );
    assert!(
        matches!(steps[1], Instruction::Run { command: Shell(s), .. } if s == "echo shell   continued")
    );
    assert!(matches!(steps[2], Instruction::Cmd(Exec(v)) if v == &["a", "b"]));
    assert!(matches!(steps[3], Instruction::Entrypoint(Shell(s)) if s == "top -b"));
    assert!(matches!(steps[4], Instruction::Shell(v) if v == &["/bin/bash", "-c"]));
    assert!(matches!(steps[5], Instruction::Expose(v) if v == &["80/tcp", "53/udp"]));
    assert!(matches!(steps[6], Instruction::Volume(v) if v == &["/a", "/b"]));
    assert!(matches!(steps[7], Instruction::Volume(v) if v == &["/c", "/d"]));
    match steps[8] {
        Instruction::Healthcheck(h) => {
            assert_eq!(
                h.test,
                vec!["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
            );
            assert_eq!(h.interval.as_deref(), Some("5s"));
        }
        o => panic!("{o:?}"),
    }
    assert!(matches!(steps[9], Instruction::Healthcheck(h) if h.test == ["NONE"]));
    assert!(matches!(steps[10], Instruction::Onbuild(t) if t == "COPY . /src"));
    match steps[11] {
        Instruction::Copy(c) => {
            assert!(c.link);
            assert_eq!(c.chown.as_deref(), Some("1:2"));
            assert_eq!(c.sources, vec!["a", "b"]);
            assert_eq!(c.dest, "c/");
        }
        o => panic!("{o:?}"),
    }
    assert!(
        matches!(steps[12], Instruction::Add(c) if c.checksum.as_deref() == Some("sha256:abc"))
    );
    assert!(matches!(steps[13], Instruction::Maintainer(m) if m == "someone"));
    assert_eq!(
        p.meta_args,
        vec![("BASE".to_string(), Some("scratch".to_string()))]
    );
}

/// A store and builder in a temp dir; builds here never RUN (no runtime needed).
struct Env {
    dir: tempfile::TempDir,
    b: Builder,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("tug-build-test-")
            .tempdir()
            .unwrap();
        let images =
            image::ImageService::open(&dir.path().join("image"), Default::default()).unwrap();
        let b = Builder {
            images,
            runtime: "/nonexistent/tug".into(),
            runtime_root: dir.path().join("rt"),
            state: dir.path().join("build"),
            cgroup_parent: None,
            puller: None,
        };
        Env { dir, b }
    }

    fn build(
        &self,
        ctx: &Path,
        opts: BuildOptions,
    ) -> Result<(build::builder::Built, String), String> {
        let log = std::sync::Mutex::new(String::new());
        let out = |e: Event| {
            if let Event::Line(l) = e {
                log.lock().unwrap().push_str(l);
            }
        };
        let r = self.b.build(ctx, &opts, &out).map_err(|e| e.to_string())?;
        Ok((r, log.into_inner().unwrap()))
    }

    fn config(&self, name: &str) -> serde_json::Value {
        let info = self.b.images.inspect(name).unwrap();
        serde_json::from_slice(&self.b.images.content().read(&info.record.config).unwrap()).unwrap()
    }

    /// Read a file of an image through an overlay mount of its layers.
    fn read(&self, name: &str, path: &str) -> Option<String> {
        let m = tempfile::tempdir_in(self.dir.path()).unwrap();
        let mount = self.b.images.mount(name, m.path()).unwrap();
        let r = std::fs::read_to_string(mount.path().join(path.trim_start_matches('/'))).ok();
        mount.unmount().unwrap();
        r
    }
}

fn ctx(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for (p, d) in files {
        let f = t.path().join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, d).unwrap();
    }
    t
}

fn opts(tag: &str) -> BuildOptions {
    BuildOptions {
        tags: vec![tag.to_string()],
        ignore: true,
        ..Default::default()
    }
}

#[test]
fn scratch_copy_build_config_and_cache() {
    let e = Env::new();
    let c = ctx(&[
        ("Dockerfile", "FROM scratch\nARG V=1\nENV P=/opt D=${V:+set}\nLABEL v=$V\nCOPY a.txt $P/\nCOPY dir/ /d/\nCOPY <<EOF /note\nv=$V\nEOF\nWORKDIR $P/w\nCMD [\"run\"]\n"),
        ("a.txt", "A"),
        ("dir/x", "X"),
        ("dir/sub/y", "Y"),
        ("dir/skip.tmp", "no"),
        (".dockerignore", "**/*.tmp\n"),
    ]);
    let (r, log) = e.build(c.path(), opts("t:1")).unwrap();
    assert!(log.contains("Step 1/9 : FROM scratch"), "{log}");
    assert!(log.contains("Successfully tagged t:1"), "{log}");
    assert_eq!(r.executed, 4, "{log}");
    let cfg = e.config("t:1");
    assert_eq!(
        cfg["config"]["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "P=/opt",
            "D=set"
        ])
    );
    assert_eq!(cfg["config"]["Labels"]["v"], "1");
    assert_eq!(cfg["config"]["WorkingDir"], "/opt/w");
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["run"]));
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 4);
    assert_eq!(e.read("t:1", "/opt/a.txt").as_deref(), Some("A"));
    assert_eq!(e.read("t:1", "/d/sub/y").as_deref(), Some("Y"));
    assert_eq!(e.read("t:1", "/d/skip.tmp"), None);
    assert_eq!(e.read("t:1", "/note").as_deref(), Some("v=1\n"));
    // Same inputs: everything cached, the same image.
    let (r2, log2) = e.build(c.path(), opts("t:2")).unwrap();
    assert_eq!((r2.cached, r2.executed), (4, 0), "{log2}");
    assert_eq!(r2.id, r.id);
    // A build arg changes what the COPY's destination and the heredoc hold.
    let mut o = opts("t:3");
    o.build_args.insert("V".into(), "2".into());
    let (r3, _) = e.build(c.path(), o).unwrap();
    assert_ne!(r3.id, r.id);
    assert_eq!(e.read("t:3", "/note").as_deref(), Some("v=2\n"));
}

#[test]
fn copy_errors_and_stage_sources() {
    let e = Env::new();
    let c = ctx(&[
        ("Dockerfile", "FROM scratch AS one\nCOPY a.txt /from-one\nFROM scratch\nCOPY --from=one /from-one /got\nCOPY --from=0 /from-one /got0\n"),
        ("a.txt", "A"),
    ]);
    e.build(c.path(), opts("s:1")).unwrap();
    assert_eq!(e.read("s:1", "/got").as_deref(), Some("A"));
    assert_eq!(e.read("s:1", "/got0").as_deref(), Some("A"));
    let bad: &[(&str, &str)] = &[
        (
            "FROM scratch\nCOPY nothing* /\n",
            "COPY failed: no source files were specified",
        ),
        ("FROM scratch\nCOPY --from=one /x /\n", "no such image"),
        (
            "FROM scratch\nCOPY a.txt ${NOPE:?required} \n",
            "NOPE: required",
        ),
        (
            "FROM scratch\nCOPY --chown=nobody a.txt /\n",
            "can't find uid for user nobody",
        ),
        (
            "FROM scratch\nEXPOSE 99999\n",
            "invalid containerPort: 99999",
        ),
    ];
    for (df, want) in bad {
        std::fs::write(c.path().join("Dockerfile"), df).unwrap();
        let m = e.build(c.path(), opts("bad:1")).unwrap_err();
        assert!(m.contains(want), "{df}: {m}");
    }
    assert!(
        e.b.images.inspect("bad:1").is_err(),
        "a failed build names nothing"
    );
}

#[test]
fn source_date_epoch_makes_builds_reproducible() {
    let mk = || {
        let e = Env::new();
        let c = ctx(&[
            ("Dockerfile", "FROM scratch\nCOPY f /f\nLABEL a=b\n"),
            ("f", "same"),
        ]);
        let mut o = opts("r:1");
        o.build_args
            .insert("SOURCE_DATE_EPOCH".into(), "1000".into());
        let (r, _) = e.build(c.path(), o).unwrap();
        (r.id, e.config("r:1"))
    };
    let (a, cfg) = mk();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (b, _) = mk();
    assert_eq!(
        a, b,
        "two stores, two contexts written at different times: one digest"
    );
    assert_eq!(cfg["created"], "1970-01-01T00:16:40Z");
}

#[test]
fn env_values_see_the_variables_from_before_the_instruction() {
    let e = Env::new();
    let c = ctx(&[(
        "Dockerfile",
        "FROM scratch\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\nARG A=arg\nENV A=env\nLABEL l=$A\n",
    )]);
    e.build(c.path(), opts("env:1")).unwrap();
    let cfg = e.config("env:1");
    let env: Vec<&str> = cfg["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"abc=bye") && env.contains(&"def=hello") && env.contains(&"ghi=bye"),
        "{env:?}"
    );
    assert_eq!(cfg["config"]["Labels"]["l"], "env", "ENV wins over ARG");
}

#[test]
fn substitution_happens_where_docker_does_it() {
    let e = Env::new();
    let c = ctx(&[(
        "Dockerfile",
        "FROM scratch\nENV A=one S=SIGINT P=8080 V=/vol U=app W=/w\nCMD echo $A\nENTRYPOINT [\"run-$A\"]\nUSER $U\nWORKDIR $W\nSTOPSIGNAL $S\nEXPOSE $P\nVOLUME $V /other\nVOLUME [\"/json-$A\"]\nLABEL \"k-$A\"=\"v $A\" 'q'='$A'\nONBUILD RUN echo $A\nHEALTHCHECK CMD echo $A\n",
    )]);
    e.build(c.path(), opts("sub:1")).unwrap();
    let cfg = &e.config("sub:1")["config"];
    assert_eq!(cfg["Cmd"], serde_json::json!(["/bin/sh", "-c", "echo $A"]));
    assert_eq!(
        cfg["Entrypoint"],
        serde_json::json!(["run-$A"]),
        "exec form is never expanded"
    );
    assert_eq!(cfg["User"], "app");
    assert_eq!(cfg["WorkingDir"], "/w");
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(cfg["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(
        cfg["Volumes"],
        serde_json::json!({"/vol": {}, "/other": {}, "/json-one": {}})
    );
    assert_eq!(
        cfg["Labels"],
        serde_json::json!({"k-one": "v one", "q": "$A"})
    );
    assert_eq!(cfg["OnBuild"], serde_json::json!(["RUN echo $A"]));
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "echo $A"])
    );
}
