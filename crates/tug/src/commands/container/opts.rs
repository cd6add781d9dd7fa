//! `run`/`create` flags and their translation into a Docker create body, as the docker CLI
//! does it (`-v` → Binds or Volumes, `-p` → PortBindings + ExposedPorts, `--restart` →
//! RestartPolicy, `--health-*` → Healthcheck, sizes in binary units, durations in ns).

use crate::client::{fail, Fail, Result};
use clap::{ArgAction, Args};
use serde_json::{json, Map, Value};

#[derive(Args, Clone, Default)]
#[command(disable_help_flag = true)]
pub struct CreateOpts {
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Add an annotation to the container (passed through to the OCI runtime)
    #[arg(long)]
    pub annotation: Vec<String>,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long)]
    pub attach: Vec<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Optional parent cgroup for the container
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long)]
    pub device_cgroup_rule: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long)]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Add additional groups to join
    #[arg(long)]
    pub group_add: Vec<String>,
    /// Command to run to check health
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long)]
    pub health_retries: Option<i64>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long)]
    pub health_start_interval: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub init: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub interactive: bool,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long)]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long)]
    pub label_file: Vec<String>,
    /// Logging driver for the container
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long)]
    pub log_opt: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Connect a container to a network
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long, alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub no_healthcheck: bool,
    /// Disable OOM Killer
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long, allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Give extended privileges to this container
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub privileged: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub publish_all: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub quiet: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub rm: bool,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Security Options
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long, allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Storage driver options for the container
    #[arg(long)]
    pub storage_opt: Vec<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub tty: bool,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// User namespace to use
    #[arg(long)]
    pub userns: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long)]
    pub volume: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long)]
    pub volumes_from: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// The image, then the command and its arguments
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        trailing_var_arg = true,
        required = true
    )]
    pub args: Vec<String>,
}

/// docker's `RAMInBytes`: `512m`, `1g`, `100k`, `1024`, `1.5g` (binary units).
pub fn ram_bytes(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|x| !x.is_empty()).unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('p') => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    match num.parse::<f64>() {
        Ok(n) if n >= 0.0 => Ok((n * mul as f64) as i64),
        _ => Err(format!("invalid size: '{s}'")),
    }
}

/// Like `ram_bytes`, with `-1` meaning unlimited (`--memory-swap`).
pub fn swap_bytes(s: &str) -> std::result::Result<i64, String> {
    if s.trim() == "-1" {
        Ok(-1)
    } else {
        ram_bytes(s)
    }
}

/// Go's `time.ParseDuration` → nanoseconds (`1m30s`, `500ms`, `2h`, `1.5s`).
pub fn duration_ns(s: &str) -> std::result::Result<i64, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    image::archive::rootfs::duration_ns(s).ok_or_else(bad)
}

/// `KEY=VALUE`, or `KEY` taken from our environment (sent bare when unset), as docker does.
fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_string())
    } else {
        Some(std::env::var(e).map_or_else(|_| e.to_string(), |v| format!("{e}={v}")))
    }
}

/// docker's capability names: upper case with the `CAP_` prefix (`ALL` stays).
fn cap_names(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|c| {
            let c = c.trim().to_ascii_uppercase();
            if c == "ALL" || c.starts_with("CAP_") {
                c
            } else {
                format!("CAP_{c}")
            }
        })
        .collect()
}

/// Lines of an env or label file: comments and blank lines skipped.
pub fn read_kv_file(path: &str) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Fail(format!("open {path}: {}", io_text(&e))))?;
    Ok(text
        .lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// Go's wording for common I/O errors.
pub fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

pub fn env_list(env: &[String], files: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        out.extend(read_kv_file(f)?.iter().filter_map(|l| env_entry(l)));
    }
    out.extend(env.iter().filter_map(|e| env_entry(e)));
    Ok(out)
}

/// `-p [ip:][hostPort:]containerPort[/proto]` (ranges allowed) → (port/proto, ip, host port).
pub fn parse_publish(spec: &str) -> Result<Vec<(String, String, String)>> {
    let bad = || Fail(format!("invalid port format for --publish: {spec}"));
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Fail(format!("invalid proto: {proto}")));
    }
    // An IPv6 address comes in brackets.
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r.split_once(']').ok_or_else(bad)?;
        (ip.to_string(), after.trim_start_matches(':'))
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (String::new(), rest),
            3 => (parts[0].to_string(), &rest[parts[0].len() + 1..]),
            _ => return Err(bad()),
        }
    };
    let (host, ctr) = match rest.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest),
    };
    let range = |s: &str| -> Result<(u32, u32)> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u32 = a
            .parse()
            .map_err(|_| Fail(format!("invalid containerPort: {s}")))?;
        let b: u32 = b
            .parse()
            .map_err(|_| Fail(format!("invalid containerPort: {s}")))?;
        if a == 0 || b < a || b > 65535 {
            return Err(Fail(format!("invalid containerPort: {s}")));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(ctr)?;
    let hosts: Vec<String> = if host.is_empty() {
        vec![String::new(); (c1 - c0 + 1) as usize]
    } else {
        let (h0, h1) = range(host).map_err(|_| Fail(format!("invalid hostPort: {host}")))?;
        if h1 - h0 == c1 - c0 {
            (h0..=h1).map(|p| p.to_string()).collect()
        } else if c0 == c1 {
            // A host range for one container port: the daemon picks one of them.
            vec![host.to_string()]
        } else {
            return Err(Fail(format!(
                "invalid ranges specified for container and host Ports: {ctr} and {host}"
            )));
        }
    };
    let mut out = Vec::new();
    for (i, p) in (c0..=c1).enumerate() {
        let h = hosts.get(i).cloned().unwrap_or_default();
        out.push((format!("{p}/{proto}"), ip.clone(), h));
    }
    Ok(out)
}

/// `--mount type=bind,source=/a,target=/b,readonly` → a HostConfig.Mounts entry.
pub fn parse_mount(spec: &str) -> Result<Value> {
    let mut m = Map::new();
    let mut kind = "volume".to_string();
    let mut bind = Map::new();
    let mut vol = Map::new();
    let mut tmpfs = Map::new();
    let mut labels = Map::new();
    let mut opts = Map::new();
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let truthy = |v: &Option<String>| -> Result<bool> {
            match v.as_deref() {
                None | Some("1") | Some("true") => Ok(true),
                Some("0") | Some("false") => Ok(false),
                Some(o) => fail(format!(
                    "invalid argument \"{spec}\" for \"--mount\" flag: invalid value for {k}: {o}"
                )),
            }
        };
        match k.as_str() {
            "type" => kind = v.clone().unwrap_or_default(),
            "source" | "src" => {
                m.insert("Source".into(), json!(v.clone().unwrap_or_default()));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(v.clone().unwrap_or_default()));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(truthy(&v)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(v.clone().unwrap_or_default()));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(v.clone().unwrap_or_default()));
            }
            "bind-nonrecursive" | "bind-recursive" => {
                bind.insert("NonRecursive".into(), json!(k == "bind-nonrecursive"));
            }
            "bind-create-src" => {
                bind.insert("CreateMountpoint".into(), json!(truthy(&v)?));
            }
            "volume-nocopy" | "volume-no-copy" => {
                vol.insert("NoCopy".into(), json!(truthy(&v)?));
            }
            "volume-subpath" => {
                vol.insert("Subpath".into(), json!(v.clone().unwrap_or_default()));
            }
            "volume-label" => {
                let (lk, lv) = v
                    .as_deref()
                    .unwrap_or_default()
                    .split_once('=')
                    .unwrap_or((v.as_deref().unwrap_or_default(), ""));
                labels.insert(lk.into(), json!(lv));
            }
            "volume-driver" => {
                vol.insert(
                    "DriverConfig".into(),
                    json!({"Name": v.clone().unwrap_or_default()}),
                );
            }
            "volume-opt" => {
                let s = v.clone().unwrap_or_default();
                let (ok, ov) = s.split_once('=').unwrap_or((&s, ""));
                opts.insert(ok.into(), json!(ov));
            }
            "tmpfs-size" => {
                let n = ram_bytes(v.as_deref().unwrap_or_default()).map_err(Fail)?;
                tmpfs.insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let n = u32::from_str_radix(v.as_deref().unwrap_or_default(), 8)
                    .map_err(|_| Fail(format!("invalid value for tmpfs-mode: {spec}")))?;
                tmpfs.insert("Mode".into(), json!(n));
            }
            _ => {
                return fail(format!(
                    "invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{k}' in '{field}'"
                ))
            }
        }
    }
    if !matches!(
        kind.as_str(),
        "bind" | "volume" | "tmpfs" | "npipe" | "cluster" | "image"
    ) {
        return fail(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: invalid mount type: {kind}"
        ));
    }
    if !m.contains_key("Target") {
        return fail(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: target is required"
        ));
    }
    m.insert("Type".into(), json!(kind));
    if !labels.is_empty() {
        vol.insert("Labels".into(), Value::Object(labels));
    }
    if !opts.is_empty() {
        let d = vol
            .entry("DriverConfig")
            .or_insert(json!({"Name": "local"}));
        d["Options"] = Value::Object(opts);
    }
    if !bind.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if !vol.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(vol));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    Ok(Value::Object(m))
}

/// `--device /dev/a[:/dev/b][:rwm]`.
fn parse_device(spec: &str) -> Result<Value> {
    let parts: Vec<&str> = spec.split(':').collect();
    let perms = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (src, dst, mode) = match parts.as_slice() {
        [s] => (*s, *s, "rwm"),
        [s, p] if perms(p) => (*s, *s, *p),
        [s, d] => (*s, *d, "rwm"),
        [s, d, p] if perms(p) => (*s, *d, *p),
        _ => return fail(format!("invalid device specification: {spec}")),
    };
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": mode}))
}

/// `--ulimit nofile=1024[:2048]`.
fn parse_ulimit(spec: &str) -> Result<Value> {
    let bad = || Fail(format!("invalid argument \"{spec}\" for \"--ulimit\" flag"));
    let (name, vals) = spec.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let soft: i64 = soft.parse().map_err(|_| bad())?;
    let hard: i64 = hard.parse().map_err(|_| bad())?;
    if soft > hard && hard != -1 {
        return fail(format!(
            "invalid argument \"{spec}\" for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

fn kv_map(list: &[String], flag: &str) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for s in list {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                m.insert(k.to_string(), json!(v));
            }
            _ => {
                return fail(format!(
                    "invalid argument \"{s}\" for \"{flag}\" flag: must be key=value"
                ))
            }
        }
    }
    Ok(m)
}

/// The create request of `run`/`create`.
pub struct Request {
    pub body: Value,
}

impl CreateOpts {
    pub fn image(&self) -> &str {
        &self.args[0]
    }

    /// Attach flags as docker derives them: `-a` given, or stdout+stderr (and stdin with -i)
    /// unless detached.
    pub fn attach_streams(&self, detach: bool) -> Result<(bool, bool, bool)> {
        if !self.attach.is_empty() {
            if detach {
                return fail("Conflicting options: -a and -d");
            }
            let mut s = (false, false, false);
            for a in &self.attach {
                match a.to_ascii_lowercase().as_str() {
                    "stdin" => s.0 = true,
                    "stdout" => s.1 = true,
                    "stderr" => s.2 = true,
                    _ => {
                        return fail(format!(
                            "invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                        ))
                    }
                }
            }
            return Ok(s);
        }
        if detach {
            return Ok((false, false, false));
        }
        Ok((self.interactive, true, true))
    }

    /// The Docker create body for these flags.
    pub fn request(&self, detach: bool) -> Result<Request> {
        let image = self.image().to_string();
        let cmd: Vec<String> = self.args[1..].to_vec();
        let (a_in, a_out, a_err) = self.attach_streams(detach)?;
        if self.rm && self.restart.as_deref().is_some_and(|r| r != "no") {
            return fail("conflicting options: cannot specify both --restart and --rm");
        }
        let mut config = Map::new();
        let mut hc = Map::new();
        let set = |m: &mut Map<String, Value>, k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        set(&mut config, "Image", json!(image));
        set(
            &mut config,
            "Hostname",
            json!(self.hostname.clone().unwrap_or_default()),
        );
        set(
            &mut config,
            "Domainname",
            json!(self.domainname.clone().unwrap_or_default()),
        );
        set(
            &mut config,
            "User",
            json!(self.user.clone().unwrap_or_default()),
        );
        set(&mut config, "AttachStdin", json!(a_in));
        set(&mut config, "AttachStdout", json!(a_out));
        set(&mut config, "AttachStderr", json!(a_err));
        set(&mut config, "Tty", json!(self.tty));
        set(&mut config, "OpenStdin", json!(self.interactive));
        // docker: stdin closes with the first client when attached with -i (not detached).
        set(&mut config, "StdinOnce", json!(self.interactive && a_in));
        set(
            &mut config,
            "Env",
            json!(env_list(&self.env, &self.env_file)?),
        );
        if !cmd.is_empty() {
            set(&mut config, "Cmd", json!(cmd));
        } else {
            set(&mut config, "Cmd", Value::Null);
        }
        if let Some(ep) = &self.entrypoint {
            // docker: an empty --entrypoint resets it; otherwise one word (not split).
            if ep.is_empty() {
                set(&mut config, "Entrypoint", json!([""]));
            } else {
                set(&mut config, "Entrypoint", json!([ep]));
            }
        }
        set(
            &mut config,
            "WorkingDir",
            json!(self.workdir.clone().unwrap_or_default()),
        );
        let mut labels = Map::new();
        for f in &self.label_file {
            for l in read_kv_file(f)? {
                let (k, v) = l.split_once('=').unwrap_or((&l, ""));
                labels.insert(k.into(), json!(v));
            }
        }
        for l in &self.label {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            labels.insert(k.into(), json!(v));
        }
        set(&mut config, "Labels", Value::Object(labels));
        if let Some(s) = &self.stop_signal {
            set(&mut config, "StopSignal", json!(s));
        }
        if let Some(t) = self.stop_timeout {
            set(&mut config, "StopTimeout", json!(t));
        }
        // Healthcheck.
        let health_flags = self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_start_period.is_some()
            || self.health_start_interval.is_some()
            || self.health_retries.is_some();
        if self.no_healthcheck {
            if health_flags {
                return fail("--no-healthcheck conflicts with --health-* options");
            }
            set(&mut config, "Healthcheck", json!({"Test": ["NONE"]}));
        } else if health_flags {
            let mut h = Map::new();
            if let Some(c) = &self.health_cmd {
                h.insert("Test".into(), json!(["CMD-SHELL", c]));
            }
            let dur = |v: &Option<String>, name: &str| -> Result<i64> {
                let Some(v) = v else { return Ok(0) };
                let n = duration_ns(v).map_err(|e| {
                    Fail(format!(
                        "invalid argument \"{v}\" for \"--{name}\" flag: {e}"
                    ))
                })?;
                if n < 0 {
                    return fail(format!("--{name} cannot be negative"));
                }
                Ok(n)
            };
            h.insert(
                "Interval".into(),
                json!(dur(&self.health_interval, "health-interval")?),
            );
            h.insert(
                "Timeout".into(),
                json!(dur(&self.health_timeout, "health-timeout")?),
            );
            h.insert(
                "StartPeriod".into(),
                json!(dur(&self.health_start_period, "health-start-period")?),
            );
            h.insert(
                "StartInterval".into(),
                json!(dur(&self.health_start_interval, "health-start-interval")?),
            );
            let retries = self.health_retries.unwrap_or(0);
            if retries < 0 {
                return fail("--health-retries cannot be negative");
            }
            h.insert("Retries".into(), json!(retries));
            set(&mut config, "Healthcheck", Value::Object(h));
        }
        // Ports.
        let mut exposed = Map::new();
        let mut bindings: Map<String, Value> = Map::new();
        for p in &self.publish {
            for (port, ip, host) in parse_publish(p)? {
                exposed.insert(port.clone(), json!({}));
                let e = bindings.entry(port).or_insert(json!([]));
                if let Some(a) = e.as_array_mut() {
                    a.push(json!({"HostIp": ip, "HostPort": host}));
                }
            }
        }
        for e in &self.expose {
            let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
            let (a, b): (u32, u32) = match (a.parse(), b.parse()) {
                (Ok(a), Ok(b)) if a > 0 && a <= b && b <= 65535 => (a, b),
                _ => return fail(format!("invalid range format for --expose: {e}")),
            };
            for p in a..=b {
                exposed.insert(format!("{p}/{proto}"), json!({}));
            }
        }
        if !exposed.is_empty() {
            set(&mut config, "ExposedPorts", Value::Object(exposed));
        }
        // Volumes: a lone container path is an anonymous volume; the rest are binds.
        let mut volumes = Map::new();
        let mut binds = Vec::new();
        for v in &self.volume {
            if v.is_empty() {
                return fail("invalid empty volume spec");
            }
            let parts: Vec<&str> = v.split(':').collect();
            if parts.len() == 1 {
                volumes.insert(v.clone(), json!({}));
            } else if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
                return fail(format!("invalid volume specification: '{v}'"));
            } else {
                binds.push(v.clone());
            }
        }
        if !volumes.is_empty() {
            set(&mut config, "Volumes", Value::Object(volumes));
        }
        // HostConfig.
        set(&mut hc, "Binds", opt_list(&binds));
        set(
            &mut hc,
            "ContainerIDFile",
            json!(self.cidfile.clone().unwrap_or_default()),
        );
        let mut log_cfg = kv_map(&self.log_opt, "--log-opt")?;
        if let Some(d) = &self.log_driver {
            if d == "none" && !log_cfg.is_empty() {
                return fail("invalid argument: log-opts are not supported by the none driver");
            }
        }
        set(
            &mut hc,
            "LogConfig",
            json!({"Type": self.log_driver.clone().unwrap_or_default(), "Config": Value::Object(std::mem::take(&mut log_cfg))}),
        );
        set(
            &mut hc,
            "NetworkMode",
            json!(self.network.clone().unwrap_or_else(|| "default".into())),
        );
        set(&mut hc, "PortBindings", Value::Object(bindings));
        let (rp_name, rp_max) = match self.restart.as_deref() {
            None | Some("") | Some("no") => ("no".to_string(), 0),
            Some(r) => {
                let (n, m) = r.split_once(':').unwrap_or((r, ""));
                match n {
                    "always" | "unless-stopped" if m.is_empty() => (n.to_string(), 0),
                    "always" | "unless-stopped" => {
                        return fail(format!(
                            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                        ))
                    }
                    "on-failure" => {
                        let c: i64 = if m.is_empty() {
                            0
                        } else {
                            m.parse().map_err(|_| {
                                Fail(format!(
                                    "invalid restart policy format: maximum retry count must be an integer"
                                ))
                            })?
                        };
                        (n.to_string(), c)
                    }
                    _ => return fail(format!("invalid restart policy format: {r}")),
                }
            }
        };
        set(
            &mut hc,
            "RestartPolicy",
            json!({"Name": rp_name, "MaximumRetryCount": rp_max}),
        );
        set(&mut hc, "AutoRemove", json!(self.rm));
        set(&mut hc, "VolumesFrom", opt_list(&self.volumes_from));
        let console = if self.tty {
            crate::client::term::size(1).unwrap_or((0, 0))
        } else {
            (0, 0)
        };
        set(&mut hc, "ConsoleSize", json!([console.0, console.1]));
        set(&mut hc, "CapAdd", opt_list(&cap_names(&self.cap_add)));
        set(&mut hc, "CapDrop", opt_list(&cap_names(&self.cap_drop)));
        set(
            &mut hc,
            "CgroupnsMode",
            json!(self.cgroupns.clone().unwrap_or_default()),
        );
        set(&mut hc, "Dns", json!(self.dns));
        set(&mut hc, "DnsOptions", json!(self.dns_option));
        set(&mut hc, "DnsSearch", json!(self.dns_search));
        let mut hosts = Vec::new();
        for h in &self.add_host {
            // `host=ip` is accepted and sent as `host:ip`, as docker does.
            let (name, ip) = match h.split_once('=') {
                Some(p) => p,
                None => h.split_once(':').ok_or_else(|| {
                    Fail(format!(
                        "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
                    ))
                })?,
            };
            if name.is_empty() || ip.is_empty() {
                return fail(format!(
                    "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
                ));
            }
            hosts.push(format!("{name}:{ip}"));
        }
        set(&mut hc, "ExtraHosts", opt_list(&hosts));
        set(&mut hc, "GroupAdd", opt_list(&self.group_add));
        set(
            &mut hc,
            "IpcMode",
            json!(self.ipc.clone().unwrap_or_default()),
        );
        set(
            &mut hc,
            "PidMode",
            json!(self.pid.clone().unwrap_or_default()),
        );
        set(&mut hc, "Privileged", json!(self.privileged));
        set(&mut hc, "PublishAllPorts", json!(self.publish_all));
        set(&mut hc, "ReadonlyRootfs", json!(self.read_only));
        let mut secopts = Vec::new();
        for s in &self.security_opt {
            // docker reads a seccomp profile file and sends its contents.
            match s.split_once(['=', ':']) {
                Some(("seccomp", v)) if v != "unconfined" && !v.is_empty() => {
                    let text = std::fs::read_to_string(v).map_err(|e| {
                        Fail(format!(
                            "opening seccomp profile ({v}) failed: open {v}: {}",
                            io_text(&e)
                        ))
                    })?;
                    let compact = serde_json::from_str::<Value>(&text)
                        .map(|j| j.to_string())
                        .unwrap_or(text);
                    secopts.push(format!("seccomp={compact}"));
                }
                _ => secopts.push(s.clone()),
            }
        }
        set(&mut hc, "SecurityOpt", opt_list(&secopts));
        if !self.storage_opt.is_empty() {
            set(
                &mut hc,
                "StorageOpt",
                Value::Object(kv_map(&self.storage_opt, "--storage-opt")?),
            );
        }
        let mut tmpfs = Map::new();
        for t in &self.tmpfs {
            let (p, o) = t.split_once(':').unwrap_or((t, ""));
            tmpfs.insert(p.into(), json!(o));
        }
        if !tmpfs.is_empty() {
            set(&mut hc, "Tmpfs", Value::Object(tmpfs));
        }
        set(
            &mut hc,
            "UTSMode",
            json!(self.uts.clone().unwrap_or_default()),
        );
        set(
            &mut hc,
            "UsernsMode",
            json!(self.userns.clone().unwrap_or_default()),
        );
        let shm = match &self.shm_size {
            Some(s) => ram_bytes(s).map_err(|e| {
                Fail(format!(
                    "invalid argument \"{s}\" for \"--shm-size\" flag: {e}"
                ))
            })?,
            None => 0,
        };
        set(&mut hc, "ShmSize", json!(shm));
        if !self.sysctl.is_empty() {
            set(
                &mut hc,
                "Sysctls",
                Value::Object(kv_map(&self.sysctl, "--sysctl")?),
            );
        }
        if let Some(r) = &self.runtime {
            set(&mut hc, "Runtime", json!(r));
        }
        if !self.annotation.is_empty() {
            set(
                &mut hc,
                "Annotations",
                Value::Object(kv_map(&self.annotation, "--annotation")?),
            );
        }
        // Resources.
        let size_flag = |v: &Option<String>, flag: &str, swap: bool| -> Result<i64> {
            let Some(v) = v else { return Ok(0) };
            let r = if swap { swap_bytes(v) } else { ram_bytes(v) };
            r.map_err(|e| Fail(format!("invalid argument \"{v}\" for \"{flag}\" flag: {e}")))
        };
        set(
            &mut hc,
            "Memory",
            json!(size_flag(&self.memory, "-m, --memory", false)?),
        );
        set(
            &mut hc,
            "MemoryReservation",
            json!(size_flag(
                &self.memory_reservation,
                "--memory-reservation",
                false
            )?),
        );
        set(
            &mut hc,
            "MemorySwap",
            json!(size_flag(&self.memory_swap, "--memory-swap", true)?),
        );
        set(
            &mut hc,
            "MemorySwappiness",
            json!(self.memory_swappiness.unwrap_or(-1)),
        );
        set(&mut hc, "NanoCpus", json!(nano_cpus(self.cpus.as_deref())?));
        set(&mut hc, "CpuShares", json!(self.cpu_shares.unwrap_or(0)));
        set(&mut hc, "CpuPeriod", json!(self.cpu_period.unwrap_or(0)));
        set(&mut hc, "CpuQuota", json!(self.cpu_quota.unwrap_or(0)));
        set(
            &mut hc,
            "CpusetCpus",
            json!(self.cpuset_cpus.clone().unwrap_or_default()),
        );
        set(
            &mut hc,
            "CpusetMems",
            json!(self.cpuset_mems.clone().unwrap_or_default()),
        );
        set(
            &mut hc,
            "BlkioWeight",
            json!(self.blkio_weight.unwrap_or(0)),
        );
        set(
            &mut hc,
            "CgroupParent",
            json!(self.cgroup_parent.clone().unwrap_or_default()),
        );
        let devices = self
            .device
            .iter()
            .map(|d| parse_device(d))
            .collect::<Result<Vec<_>>>()?;
        set(&mut hc, "Devices", json!(devices));
        set(
            &mut hc,
            "DeviceCgroupRules",
            opt_list(&self.device_cgroup_rule),
        );
        set(&mut hc, "PidsLimit", json!(self.pids_limit.unwrap_or(0)));
        let ulimits = self
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<Vec<_>>>()?;
        set(&mut hc, "Ulimits", json!(ulimits));
        set(&mut hc, "OomKillDisable", json!(self.oom_kill_disable));
        set(
            &mut hc,
            "OomScoreAdj",
            json!(self.oom_score_adj.unwrap_or(0)),
        );
        // The rest of docker's zero values, sent as docker sends them.
        for k in ["DeviceRequests", "Links", "MaskedPaths", "ReadonlyPaths"] {
            set(&mut hc, k, Value::Null);
        }
        for k in ["Cgroup", "VolumeDriver", "Isolation"] {
            set(&mut hc, k, json!(""));
        }
        for k in [
            "CpuRealtimePeriod",
            "CpuRealtimeRuntime",
            "CpuCount",
            "CpuPercent",
            "IOMaximumBandwidth",
            "IOMaximumIOps",
        ] {
            set(&mut hc, k, json!(0));
        }
        for k in [
            "BlkioWeightDevice",
            "BlkioDeviceReadBps",
            "BlkioDeviceWriteBps",
            "BlkioDeviceReadIOps",
            "BlkioDeviceWriteIOps",
        ] {
            set(&mut hc, k, json!([]));
        }
        let mounts = self
            .mount
            .iter()
            .map(|m| parse_mount(m))
            .collect::<Result<Vec<_>>>()?;
        set(
            &mut hc,
            "Mounts",
            if mounts.is_empty() {
                Value::Null
            } else {
                json!(mounts)
            },
        );
        if self.init {
            set(&mut hc, "Init", json!(true));
        }
        let mut body = Value::Object(config);
        body["HostConfig"] = Value::Object(hc);
        let net = self.network.clone().unwrap_or_else(|| "default".into());
        let own_stack = matches!(net.as_str(), "none" | "host") || net.starts_with("container:");
        if !self.network_alias.is_empty()
            && (own_stack || matches!(net.as_str(), "default" | "bridge"))
        {
            return fail("network-scoped aliases are only supported for user-defined networks");
        }
        // As docker: one endpoint for the network joined, none for host/none/container modes.
        let endpoints = if own_stack {
            json!({})
        } else {
            let aliases = opt_list(&self.network_alias);
            json!({ net: {
                "IPAMConfig": null, "Links": null, "Aliases": aliases, "MacAddress": "",
                "DriverOpts": null, "GwPriority": 0, "NetworkID": "", "EndpointID": "",
                "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null,
            }})
        };
        body["NetworkingConfig"] = json!({ "EndpointsConfig": endpoints });
        Ok(Request { body })
    }
}

/// A list flag as docker sends it: `null` when not given.
fn opt_list(v: &[String]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

/// `--cpus 1.5` → NanoCpus.
pub fn nano_cpus(v: Option<&str>) -> Result<i64> {
    let Some(v) = v else { return Ok(0) };
    match v.parse::<f64>() {
        Ok(n) if n >= 0.0 => Ok((n * 1e9).round() as i64),
        _ => fail(format!(
            "invalid argument \"{v}\" for \"--cpus\" flag: failed to parse {v} as a rational number"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        o: CreateOpts,
    }

    fn body(args: &[&str]) -> Value {
        use clap::Parser;
        let mut argv = vec!["create"];
        argv.extend_from_slice(args);
        Wrap::try_parse_from(argv)
            .unwrap()
            .o
            .request(false)
            .unwrap()
            .body
    }

    #[test]
    fn network_endpoints_as_docker_sends_them() {
        let b = body(&["img"]);
        assert_eq!(b["HostConfig"]["NetworkMode"], "default");
        assert!(b["NetworkingConfig"]["EndpointsConfig"]["default"].is_object());
        let b = body(&["--network", "none", "img"]);
        assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {}}));
        let b = body(&["--network", "app", "--network-alias", "db", "img"]);
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["app"]["Aliases"],
            json!(["db"])
        );
        use clap::Parser;
        let o = Wrap::try_parse_from(["c", "--network-alias", "x", "img"])
            .unwrap()
            .o;
        assert!(o.request(false).is_err());
    }

    #[test]
    fn run_flags_map_to_the_create_body() {
        let b = body(&[
            "-p",
            "8080:80",
            "-v",
            "/data",
            "-v",
            "/h:/c:ro",
            "--restart",
            "on-failure:2",
            "--health-cmd",
            "true",
            "--health-interval",
            "2s",
            "--cap-add",
            "sys_admin",
            "-it",
            "--rm=false",
            "img",
            "sh",
            "-c",
            "x",
        ]);
        let c = &b;
        let hc = &b["HostConfig"];
        assert_eq!(c["Cmd"], json!(["sh", "-c", "x"]));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(hc["Binds"], json!(["/h:/c:ro"]));
        assert_eq!(
            hc["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 2})
        );
        assert_eq!(c["Healthcheck"]["Test"], json!(["CMD-SHELL", "true"]));
        assert_eq!(c["Healthcheck"]["Interval"], 2_000_000_000i64);
        assert_eq!(hc["CapAdd"], json!(["CAP_SYS_ADMIN"]));
        assert_eq!(
            (
                &c["Tty"],
                &c["OpenStdin"],
                &c["AttachStdin"],
                &hc["AutoRemove"]
            ),
            (&json!(true), &json!(true), &json!(true), &json!(false))
        );
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(ram_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(ram_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_bytes("1.5k").unwrap(), 1536);
        assert_eq!(ram_bytes("100").unwrap(), 100);
        assert_eq!(ram_bytes("64MiB").unwrap(), 64 << 20);
        assert!(ram_bytes("lots").is_err());
        assert_eq!(swap_bytes("-1").unwrap(), -1);
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert!(duration_ns("5").is_err());
        assert_eq!(nano_cpus(Some("1.5")).unwrap(), 1_500_000_000);
    }

    #[test]
    fn publish_specs() {
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![("80/tcp".into(), "".into(), "8080".into())]
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp").unwrap(),
            vec![("80/udp".into(), "127.0.0.1".into(), "8080".into())]
        );
        assert_eq!(parse_publish("80").unwrap()[0].2, "");
        assert_eq!(parse_publish("8000-8001:80-81").unwrap().len(), 2);
        assert!(parse_publish("x:80").is_err());
        assert!(parse_publish("80/xyz").is_err());
    }

    #[test]
    fn mounts_devices_ulimits() {
        let m = parse_mount("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            m,
            json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true})
        );
        let m = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m").unwrap();
        assert_eq!(m["TmpfsOptions"]["SizeBytes"], 1 << 20);
        assert!(parse_mount("type=bind,source=/a").is_err());
        assert!(parse_mount("type=nope,target=/a").is_err());
        assert_eq!(
            parse_device("/dev/fuse:r").unwrap()["CgroupPermissions"],
            "r"
        );
        assert_eq!(
            parse_ulimit("nofile=10:20").unwrap(),
            json!({"Name": "nofile", "Soft": 10, "Hard": 20})
        );
        assert!(parse_ulimit("nofile=20:10").is_err());
    }
}
