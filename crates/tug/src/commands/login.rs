//! `tug login` / `tug logout`, and the registry credentials `pull`/`push` send: the daemon
//! checks the credentials (`POST /auth`), the CLI keeps them in docker's `config.json`
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`) and sends them back with each
//! pull and push as `X-Registry-Auth`, as the docker CLI does.

use crate::client::{fail, Fail, Result};
use clap::Args;
use image::registry::auth::{server_host, AuthConfig, CredentialStore, DOCKER_HUB_AUTH_KEY};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

#[derive(Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// Registry server (default: Docker Hub)
    server: Option<String>,
}

#[derive(Args)]
pub struct LogoutArgs {
    /// Registry server (default: Docker Hub)
    server: Option<String>,
}

fn isatty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// The config.json key for a server as given on the command line: Docker Hub's URL for
/// Docker Hub, else the bare host[:port].
fn server_key(server: Option<&str>) -> (String, String) {
    let host = server_host(server.unwrap_or(""));
    let key = if host == "docker.io" {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        host.clone()
    };
    (host, key)
}

fn read_line_from_tty(prompt: &str, echo: bool) -> Result<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let saved = (!echo)
        .then(|| nix::sys::termios::tcgetattr(std::io::stdin()).ok())
        .flatten();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ECHO);
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &quiet,
        );
    }
    let mut line = String::new();
    let res = std::io::stdin().lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ =
            nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, t);
        eprintln!();
    }
    res.map_err(|e| Fail(format!("Error: read from terminal: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn login(host: Option<&str>, a: LoginArgs) -> Result<()> {
    if a.password.is_some() && a.password_stdin {
        return fail("--password and --password-stdin are mutually exclusive");
    }
    if a.password_stdin && a.username.is_none() {
        return fail("Must provide --username with --password-stdin");
    }
    let (server, key) = server_key(a.server.as_deref());
    let store = CredentialStore::docker_default();
    let mut password = a.password.clone();
    if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if a.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Fail(format!("Error: read password from stdin: {e}")))?;
        password = Some(s.trim_end_matches(['\r', '\n']).to_string());
    }
    let stored = store
        .get_auth(&server)
        .map_err(|e| Fail(format!("Error: {e}")))?;
    let mut auth = match (&a.username, &password, stored) {
        // No flags and saved credentials: try those first, as docker does.
        (None, None, Some(saved)) => {
            eprintln!("Authenticating with existing credentials...");
            saved
        }
        _ => {
            let interactive = isatty(0);
            let username = match a.username.clone() {
                Some(u) => u,
                None if interactive => read_line_from_tty("Username: ", true)?,
                None => {
                    return fail("Error: Cannot perform an interactive login from a non TTY device")
                }
            };
            let password = match password {
                Some(p) => p,
                None if interactive => read_line_from_tty("Password: ", false)?,
                None => {
                    return fail("Error: Cannot perform an interactive login from a non TTY device")
                }
            };
            if username.trim().is_empty() {
                return fail("Error: Non-null Username Required");
            }
            if password.is_empty() {
                return fail("Error: Password Required");
            }
            AuthConfig {
                username: username.trim().to_string(),
                password,
                ..Default::default()
            }
        }
    };
    auth.server_address = key.clone();
    let body = serde_json::to_vec(&auth).expect("auth config serialises");
    let resp = request(host, "POST", "/auth", &[], Some(&body))?;
    let v: Value = serde_json::from_slice(&read_all(resp)?)
        .map_err(|e| Fail(format!("error decoding response: {e}")))?;
    if let Some(t) = v["IdentityToken"].as_str().filter(|t| !t.is_empty()) {
        auth.identity_token = t.to_string();
    }
    store
        .set_auth(&server, &auth)
        .map_err(|e| Fail(format!("Error saving credentials: {e}")))?;
    eprintln!(
        "WARNING! Your credentials are stored unencrypted in '{}'.",
        store.path().display()
    );
    eprintln!();
    println!("{}", v["Status"].as_str().unwrap_or("Login Succeeded"));
    Ok(())
}

pub fn logout(a: LogoutArgs) -> Result<()> {
    let (server, key) = server_key(a.server.as_deref());
    let store = CredentialStore::docker_default();
    let had = store
        .remove(&server)
        .map_err(|e| Fail(format!("Error: {e}")))?;
    if had {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}

/// The `X-Registry-Auth` value for an image's registry from the saved credentials, if any.
pub fn auth_header_for(image: &str) -> Result<Option<String>> {
    let Ok(r) = image::Reference::parse(image) else {
        return Ok(None);
    };
    let store = CredentialStore::docker_default();
    let auth = store
        .get_auth(r.domain())
        .map_err(|e| Fail(format!("Error: {e}")))?;
    Ok(auth.map(|a| a.to_header()))
}

/// The daemon socket as `tug`'s client finds it: `-H`, else `DOCKER_HOST`, else the default.
fn socket(host: Option<&str>) -> Result<(String, std::path::PathBuf)> {
    let env = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
    let h = host
        .map(String::from)
        .or(env)
        .unwrap_or_else(|| crate::client::DEFAULT_HOST.to_string());
    match h.strip_prefix("unix://") {
        Some(p) if !p.is_empty() => Ok((h.clone(), p.into())),
        _ => fail(format!(
            "invalid host {h:?}: only unix:// sockets are supported"
        )),
    }
}

/// A request with extra headers (the shared client sends none). HTTP/1.0, so the daemon
/// ends every body by closing the connection: the body is read to EOF, no transfer coding.
pub fn request(
    host: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
) -> Result<BufReader<UnixStream>> {
    let (shown, sock) = socket(host)?;
    let mut s = UnixStream::connect(&sock).or_else(|_| {
        fail(format!(
            "Cannot connect to the tug daemon at {shown}. Is the tug daemon running?"
        ))
    })?;
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: tug-cli/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let io = |e: std::io::Error| Fail(format!("error during connect: {e}"));
    s.write_all(head.as_bytes()).map_err(io)?;
    s.write_all(body).map_err(io)?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).map_err(io)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Fail(format!("error during connect: bad response {line:?}")))?;
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(io)? == 0 || line.trim_end().is_empty() {
            break;
        }
    }
    if status >= 400 {
        let text = String::from_utf8_lossy(&read_all(r)?).to_string();
        let msg = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_else(|| text.trim().to_string());
        return Err(Fail(format!("Error response from daemon: {msg}")));
    }
    Ok(r)
}

fn read_all(mut r: BufReader<UnixStream>) -> Result<Vec<u8>> {
    let mut b = Vec::new();
    r.read_to_end(&mut b)
        .map_err(|e| Fail(format!("error reading response: {e}")))?;
    Ok(b)
}

/// Each newline-separated JSON message of a streamed body.
pub fn messages(r: BufReader<UnixStream>) -> impl Iterator<Item = Result<Value>> {
    r.lines().filter_map(|l| match l {
        Ok(l) if l.trim().is_empty() => None,
        Ok(l) => Some(
            serde_json::from_str(l.trim())
                .map_err(|e| Fail(format!("error decoding response: {e}"))),
        ),
        Err(e) => Some(Err(Fail(format!("error reading response: {e}")))),
    })
}

/// Run a verb that needs no client object; print its failure and return the exit code.
pub fn run(f: impl FnOnce() -> Result<()>) -> i32 {
    let r = f();
    let _ = std::io::stdout().flush();
    match r {
        Ok(()) => 0,
        Err(Fail(m)) if m.is_empty() => 1,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
