//! A small Docker Engine API client: HTTP/1.1 over the daemon's unix socket, by hand.
//!
//! Blocking and dependency-free: one connection per request (`Connection: close`), request
//! bodies sent chunked, responses read as chunked, sized or until EOF.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

pub mod hijack;
pub mod term;

pub const DEFAULT_HOST: &str = "unix:///run/tug/tug.sock";

/// A failure already worded for the user (printed as is, exit 1).
#[derive(Debug)]
pub struct Fail(pub String);

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, Fail>;

pub fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(Fail(msg.into()))
}

#[derive(Clone)]
pub struct Client {
    shown: String,
    sock: PathBuf,
}

impl Client {
    /// `-H/--host`, else `DOCKER_HOST`, else the default socket; only `unix://`.
    pub fn from_host(host: Option<&str>) -> Result<Client> {
        let env = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let h = host.map(String::from).or(env);
        let h = h.as_deref().unwrap_or(DEFAULT_HOST);
        match h.strip_prefix("unix://") {
            Some(p) if !p.is_empty() => Ok(Client {
                shown: h.to_string(),
                sock: PathBuf::from(p),
            }),
            _ => fail(format!(
                "invalid host {h:?}: only unix:// sockets are supported"
            )),
        }
    }

    fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(&self.sock).or_else(|_| {
            fail(format!(
                "Cannot connect to the tug daemon at {}. Is the tug daemon running?",
                self.shown
            ))
        })
    }

    /// Send a request; with `body`, it is streamed chunked. Errors (status >= 400) become
    /// `Error response from daemon: <message>`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&mut dyn Read>,
    ) -> Result<Response> {
        let mut s = self.connect()?;
        let mut head = self.head(method, path);
        if body.is_some() {
            head.push_str("Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n");
        } else if method == "POST" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).map_err(io_fail)?;
        if let Some(b) = body {
            // A daemon that refuses early closes its side: stop sending, read the answer.
            let _ = send_chunked(&mut s, b);
        }
        read_response(s, method == "HEAD")
    }

    fn head(&self, method: &str, path: &str) -> String {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: tug-cli/{}\r\nConnection: close\r\n",
            env!("CARGO_PKG_VERSION")
        )
    }

    /// Send a request with a JSON body.
    pub fn request_json(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Response> {
        let mut s = self.connect()?;
        let data = body.to_string();
        let mut head = self.head(method, path);
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            data.len()
        ));
        head.push_str(&data);
        s.write_all(head.as_bytes()).map_err(io_fail)?;
        read_response(s, false)
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value> {
        let r = self.request_json("POST", path, body)?;
        let mut b = Vec::new();
        let mut r = r;
        r.read_to_end(&mut b)
            .map_err(|e| Fail(format!("error reading response: {e}")))?;
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&b).map_err(|e| Fail(format!("error decoding response: {e}")))
    }

    /// Send a request whose answer may have no body worth reading (204/304).
    pub fn post(&self, path: &str) -> Result<()> {
        let mut r = self.request("POST", path, None)?;
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        Ok(())
    }

    /// Upgrade a request to a raw bidirectional stream (attach, exec start): the socket once
    /// the daemon answered `101 UPGRADED` (or `200`, as older daemons do).
    pub fn hijack(&self, path: &str, body: Option<&serde_json::Value>) -> Result<UnixStream> {
        let mut s = self.connect()?;
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: tug-cli/{}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n",
            env!("CARGO_PKG_VERSION")
        );
        let data = body.map(|b| b.to_string()).unwrap_or_default();
        if body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        } else {
            head.push_str("Content-Type: text/plain\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n{data}", data.len()));
        s.write_all(head.as_bytes()).map_err(io_fail)?;
        // Read the head byte by byte: what follows it is the stream, not to be buffered away.
        let mut raw = Vec::new();
        let mut b = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            match s.read(&mut b).map_err(io_fail)? {
                0 => break,
                _ => raw.push(b[0]),
            }
        }
        let text = String::from_utf8_lossy(&raw).to_string();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Fail(format!("error during connect: bad response {text:?}")))?;
        if status >= 400 {
            let len = text
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            let _ = s.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body);
            return Err(Fail(format!(
                "Error response from daemon: {}",
                error_message(&body)
            )));
        }
        Ok(s)
    }
}

fn io_fail(e: std::io::Error) -> Fail {
    Fail(format!("error during connect: {e}"))
}

fn error_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| text.trim().to_string())
}

fn read_response(s: UnixStream, head_only: bool) -> Result<Response> {
    {
        let io = io_fail;
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).map_err(io)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Fail(format!("error during connect: bad response {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if r.read_line(&mut line).map_err(io)? == 0 {
                break;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let hdr = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let mode = if head_only {
            Mode::Length(0)
        } else if hdr("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            Mode::Chunked(0, false)
        } else if let Some(n) = hdr("content-length").and_then(|v| v.parse().ok()) {
            Mode::Length(n)
        } else {
            Mode::Eof
        };
        let mut resp = Response { r, mode, headers };
        if status >= 400 && head_only {
            // No body to carry the daemon's message.
            return Err(Fail(format!("Error response from daemon: HTTP {status}")));
        }
        if status >= 400 {
            let mut text = String::new();
            let _ = resp.read_to_string(&mut text);
            let msg = error_message(&text);
            return Err(Fail(format!("Error response from daemon: {msg}")));
        }
        Ok(resp)
    }
}

impl Client {
    pub fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        self.request("GET", path, None)?.json()
    }
}

fn send_chunked(s: &mut UnixStream, b: &mut dyn Read) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = b.read(&mut buf)?;
        if n == 0 {
            break;
        }
        s.write_all(format!("{n:x}\r\n").as_bytes())?;
        s.write_all(&buf[..n])?;
        s.write_all(b"\r\n")?;
    }
    s.write_all(b"0\r\n\r\n")
}

enum Mode {
    /// Bytes left in the current chunk; whether the last chunk was seen.
    Chunked(usize, bool),
    Length(usize),
    Eof,
}

/// A response whose body is read through `Read` (transfer coding removed).
pub struct Response {
    r: BufReader<UnixStream>,
    mode: Mode,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
}

impl Response {
    /// A response header's value (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(mut self) -> Result<serde_json::Value> {
        let mut b = Vec::new();
        self.read_to_end(&mut b)
            .map_err(|e| Fail(format!("error reading response: {e}")))?;
        serde_json::from_slice(&b).map_err(|e| Fail(format!("error decoding response: {e}")))
    }

    /// Each newline-separated JSON message of a streamed body, as it arrives.
    pub fn messages(self) -> Messages {
        Messages {
            r: BufReader::new(self),
        }
    }
}

pub struct Messages {
    r: BufReader<Response>,
}

impl Iterator for Messages {
    type Item = Result<serde_json::Value>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut line = String::new();
        loop {
            line.clear();
            match self.r.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) if line.trim().is_empty() => continue,
                Ok(_) => {
                    return Some(
                        serde_json::from_str(line.trim())
                            .map_err(|e| Fail(format!("error decoding response: {e}"))),
                    )
                }
                Err(e) => return Some(fail(format!("error reading response: {e}"))),
            }
        }
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.mode {
            Mode::Eof => self.r.read(buf),
            Mode::Length(0) => Ok(0),
            Mode::Length(left) => {
                let max = buf.len().min(*left);
                let n = self.r.read(&mut buf[..max])?;
                *left -= n;
                Ok(n)
            }
            Mode::Chunked(_, true) => Ok(0),
            Mode::Chunked(left, done) => {
                if *left == 0 {
                    let mut line = String::new();
                    self.r.read_line(&mut line)?;
                    if line.trim().is_empty() {
                        // The CRLF that ends the previous chunk.
                        line.clear();
                        self.r.read_line(&mut line)?;
                    }
                    let size = line.trim().split(';').next().unwrap_or("");
                    let size = usize::from_str_radix(size, 16).map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("bad chunk size {line:?}"),
                        )
                    })?;
                    if size == 0 {
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let max = buf.len().min(*left);
                let n = self.r.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n;
                Ok(n)
            }
        }
    }
}

/// Percent-encode a query component.
pub fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}
