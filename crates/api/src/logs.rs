//! Reading a container's json-file log for `docker logs`: stream selection, tail, since and
//! until, timestamps, and follow.

use bytes::Bytes;
use std::io::{BufRead, BufReader, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tokio::sync::mpsc::Sender;

pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    pub tail: Option<usize>,
    /// Seconds since the epoch (fractions allowed), as Docker clients send them.
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub tty: bool,
}

/// "1700000000", "1700000000.123456789" → seconds.
pub fn parse_time(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| *v > 0.0)
}

fn entry_time(time: &str) -> f64 {
    let secs = crate::containers::epoch(time) as f64;
    let frac = time
        .find('.')
        .map(|i| &time[i..time.len().saturating_sub(1)])
        .and_then(|f| format!("0{f}").parse::<f64>().ok());
    secs + frac.unwrap_or(0.0)
}

/// One log line as the client gets it, or None if filtered out.
fn render(line: &str, o: &LogOptions) -> Option<Bytes> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let stream = if v["stream"] == "stderr" { 2 } else { 1 };
    if (stream == 1 && !o.stdout) || (stream == 2 && !o.stderr) {
        return None;
    }
    let time = v["time"].as_str().unwrap_or_default();
    let t = entry_time(time);
    if o.since.is_some_and(|s| t < s) || o.until.is_some_and(|u| t > u) {
        return None;
    }
    let text = v["log"].as_str().unwrap_or_default();
    let data = if o.timestamps {
        format!("{time} {text}")
    } else {
        text.to_string()
    };
    Some(if o.tty {
        Bytes::from(data)
    } else {
        crate::stream::frame(stream, data.as_bytes())
    })
}

/// Send the log to `tx`; with follow, keep going while `running()` says so.
pub fn stream(path: &Path, o: &LogOptions, tx: &Sender<Bytes>, running: impl Fn() -> bool) {
    let Ok(file) = std::fs::File::open(path) else {
        return;
    };
    let mut reader = BufReader::new(file);
    let mut lines: Vec<String> = Vec::new();
    let mut buf = String::new();
    while reader.read_line(&mut buf).unwrap_or(0) > 0 {
        if buf.ends_with('\n') {
            lines.push(std::mem::take(&mut buf));
        }
    }
    let rendered: Vec<Bytes> = lines.iter().filter_map(|l| render(l, o)).collect();
    let skip = o.tail.map_or(0, |t| rendered.len().saturating_sub(t));
    for b in rendered.into_iter().skip(skip) {
        if tx.blocking_send(b).is_err() {
            return;
        }
    }
    if !o.follow {
        return;
    }
    let mut pos = reader.stream_position().unwrap_or(0) - buf.len() as u64;
    // Follow through the descriptor already open: a client may remove the container (and its
    // log) before it reads what the container wrote last, as docker-py's `containers.run` does.
    // The path is looked at only to notice a rotation.
    let mut file = reader.into_inner();
    loop {
        let alive = running();
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < pos {
            pos = 0; // truncated
        }
        let _ = file.seek(std::io::SeekFrom::Start(pos));
        let mut r = BufReader::new(&file);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
            pos += line.len() as u64;
            if let Some(b) = render(&line, o) {
                if tx.blocking_send(b).is_err() {
                    return;
                }
            }
            line.clear();
        }
        // Rotated: what the old file held is sent; go on with the new one.
        let ours = file.metadata().map(|m| (m.dev(), m.ino())).ok();
        if let Ok(m) = std::fs::metadata(path) {
            if Some((m.dev(), m.ino())) != ours {
                if let Ok(f) = std::fs::File::open(path) {
                    file = f;
                    pos = 0;
                    continue;
                }
            }
        }
        if !alive || tx.is_closed() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn entry(text: &str) -> String {
        format!("{{\"log\":\"{text}\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00.000000001Z\"}}\n")
    }

    fn append(path: &Path, line: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        f.write_all(line.as_bytes()).unwrap();
    }

    /// Follow `path` in a thread, as `docker logs -f` on a tty container; the lines it sent.
    fn follow(path: &Path, alive: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let o = LogOptions {
                stdout: true,
                stderr: true,
                follow: true,
                timestamps: false,
                tail: None,
                since: None,
                until: None,
                tty: true,
            };
            stream(&path, &o, &tx, || alive.load(Ordering::SeqCst));
        });
        std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(b) = rx.blocking_recv() {
                got.push(String::from_utf8_lossy(&b).into_owned());
            }
            got
        })
    }

    /// docker-py's `containers.run` removes the container before it reads the log it follows:
    /// what the container wrote last still arrives.
    #[test]
    fn follow_sends_the_last_lines_of_a_log_removed_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, &entry("first"));
        let alive = Arc::new(AtomicBool::new(true));
        let got = follow(&path, alive.clone());
        std::thread::sleep(Duration::from_millis(150));
        append(&path, &entry("last"));
        std::fs::remove_file(&path).unwrap();
        alive.store(false, Ordering::SeqCst);
        assert_eq!(got.join().unwrap(), ["first\n", "last\n"]);
    }

    /// A rotation while following: the rest of the old file, then the new one.
    #[test]
    fn follow_goes_on_after_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, &entry("one"));
        let alive = Arc::new(AtomicBool::new(true));
        let got = follow(&path, alive.clone());
        std::thread::sleep(Duration::from_millis(150));
        append(&path, &entry("two"));
        std::fs::rename(&path, dir.path().join("c-json.log.1")).unwrap();
        append(&path, &entry("three"));
        std::thread::sleep(Duration::from_millis(250));
        append(&path, &entry("four"));
        alive.store(false, Ordering::SeqCst);
        assert_eq!(got.join().unwrap(), ["one\n", "two\n", "three\n", "four\n"]);
    }
}
