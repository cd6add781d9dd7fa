//! A hijacked attach/exec connection: the terminal's stdin goes in (with detach keys on a tty,
//! half-closed at EOF), the container's output comes out — raw with a tty, else demultiplexed
//! from docker's 8-byte frames to stdout and stderr.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct StreamOpts {
    /// The container (or exec) has a tty: output is raw.
    pub tty: bool,
    /// Forward our stdin; otherwise our side is half-closed at once.
    pub stdin: bool,
    /// The detach sequence, honoured on a tty.
    pub detach_keys: Vec<u8>,
    /// Which of the container's streams to print (stdout, stderr).
    pub stdout: bool,
    pub stderr: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The container's output ended.
    Closed,
    /// The user typed the detach keys.
    Detached,
}

/// Pump the connection until the output ends or the user detaches.
pub fn stream(sock: UnixStream, o: &StreamOpts) -> std::io::Result<End> {
    let detached = Arc::new(AtomicBool::new(false));
    if o.stdin {
        let w = sock.try_clone()?;
        let keys = if o.tty {
            o.detach_keys.clone()
        } else {
            Vec::new()
        };
        let flag = detached.clone();
        std::thread::spawn(move || forward_stdin(w, &keys, &flag));
    } else {
        let _ = sock.shutdown(Shutdown::Write);
    }
    let r = if o.tty {
        copy_raw(&sock, o.stdout)
    } else {
        demux(&sock, o.stdout, o.stderr)
    };
    if detached.load(Ordering::SeqCst) {
        return Ok(End::Detached);
    }
    r.map(|_| End::Closed)
}

fn forward_stdin(mut w: UnixStream, keys: &[u8], detached: &AtomicBool) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 4096];
    // Bytes that so far match the detach sequence, held back until it is complete or broken.
    let mut held: Vec<u8> = Vec::new();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == keys[held.len()] {
                held.push(b);
                if held.len() == keys.len() {
                    let _ = w.write_all(&out);
                    detached.store(true, Ordering::SeqCst);
                    let _ = w.shutdown(Shutdown::Both);
                    return;
                }
            } else {
                out.append(&mut held);
                if b == keys[0] {
                    held.push(b);
                } else {
                    out.push(b);
                }
            }
        }
        if !out.is_empty() && w.write_all(&out).is_err() {
            return;
        }
    }
    if !held.is_empty() {
        let _ = w.write_all(&held);
    }
    let _ = w.shutdown(Shutdown::Write);
}

fn copy_raw(mut r: &UnixStream, show: bool) -> std::io::Result<()> {
    let mut buf = [0u8; 32 * 1024];
    let mut out = std::io::stdout();
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e),
        };
        if show {
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
    }
}

/// Docker's multiplexed stream → stdout (1) and stderr (2).
pub fn demux(mut r: impl Read, show_out: bool, show_err: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let mut head = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if !read_full(&mut r, &mut head)? {
            return Ok(());
        }
        let mut len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        while len > 0 {
            let want = len.min(buf.len());
            if !read_full(&mut r, &mut buf[..want])? {
                return Ok(());
            }
            len -= want;
            match head[0] {
                2 if show_err => {
                    err.write_all(&buf[..want])?;
                    err.flush()?;
                }
                0 | 1 if show_out => {
                    out.write_all(&buf[..want])?;
                    out.flush()?;
                }
                _ => {}
            }
        }
    }
}

/// Fill `buf`; false at a clean EOF before the first byte.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && got == 0 => {
                return Ok(false)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
