//! Reading a container's json-file log for `docker logs`: stream selection, tail, since and
//! until, timestamps, and follow.

use bytes::Bytes;
use std::io::{BufRead, BufReader, Seek};
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
    loop {
        let alive = running();
        let mut r = match std::fs::File::open(path) {
            Ok(f) => BufReader::new(f),
            Err(_) => return,
        };
        let len = r.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
        if len < pos {
            pos = 0; // rotated
        }
        let _ = r.seek(std::io::SeekFrom::Start(pos));
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
        if !alive || tx.is_closed() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
