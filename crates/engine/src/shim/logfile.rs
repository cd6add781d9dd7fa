//! Container logs in Docker's json-file format, one JSON object per line, with size-based
//! rotation (`max-size`, `max-file`) as Docker does it: `log`, `log.1`, … `log.N-1`.

use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct Line<'a> {
    log: &'a str,
    stream: &'a str,
    time: String,
}

pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    /// Rotate when a file would grow past this many bytes (0: never).
    max_size: u64,
    /// How many files to keep in all, the live one included (at least 1).
    max_files: u32,
    /// A partial line per stream, waiting for its newline.
    partial: [Vec<u8>; 2],
}

impl LogFile {
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> std::io::Result<LogFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Record output of a stream (1 stdout, 2 stderr): one log entry per complete line.
    pub fn write(&mut self, stream: u8, data: &[u8]) -> std::io::Result<()> {
        let idx = if stream == 2 { 1 } else { 0 };
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + nl + 1;
            self.entry(stream, &buf[start..end])?;
            start = end;
        }
        // Docker splits over-long lines at 16 KiB.
        while buf.len() - start >= 16 * 1024 {
            self.entry(stream, &buf[start..start + 16 * 1024])?;
            start += 16 * 1024;
        }
        self.partial[idx] = buf[start..].to_vec();
        Ok(())
    }

    /// Write out what is left of unterminated lines (at exit).
    pub fn flush(&mut self) -> std::io::Result<()> {
        for (idx, stream) in [(0, 1u8), (1, 2u8)] {
            let rest = std::mem::take(&mut self.partial[idx]);
            if !rest.is_empty() {
                self.entry(stream, &rest)?;
            }
        }
        self.file.flush()
    }

    fn entry(&mut self, stream: u8, text: &[u8]) -> std::io::Result<()> {
        let line = Line {
            log: &String::from_utf8_lossy(text),
            stream: if stream == 2 { "stderr" } else { "stdout" },
            time: runtime::util::rfc3339_now(),
        };
        let mut json = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        json.push(b'\n');
        if self.max_size > 0 && self.size > 0 && self.size + json.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&json)?;
        self.size += json.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_files > 1 {
            for n in (1..self.max_files - 1).rev() {
                let _ = std::fs::rename(numbered(n), numbered(n + 1));
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_are_split_per_stream_and_partials_wait() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut log = LogFile::open(&p, 0, 1).unwrap();
        log.write(1, b"hello\nwor").unwrap();
        log.write(2, b"oops\n").unwrap();
        log.write(1, b"ld\n").unwrap();
        log.write(1, b"no newline").unwrap();
        log.flush().unwrap();
        let l = lines(&p);
        let got: Vec<(&str, &str)> = l
            .iter()
            .map(|v| (v["stream"].as_str().unwrap(), v["log"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("stdout", "hello\n"),
                ("stderr", "oops\n"),
                ("stdout", "world\n"),
                ("stdout", "no newline")
            ]
        );
        assert!(l[0]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn rotation_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut log = LogFile::open(&p, 200, 3).unwrap();
        for i in 0..40 {
            log.write(1, format!("line number {i}\n").as_bytes())
                .unwrap();
        }
        log.flush().unwrap();
        assert!(
            p.exists()
                && dir.path().join("c-json.log.1").exists()
                && dir.path().join("c-json.log.2").exists()
        );
        assert!(
            !dir.path().join("c-json.log.3").exists(),
            "more files kept than max-file"
        );
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
        let last = lines(&p);
        assert_eq!(last.last().unwrap()["log"], "line number 39\n");
    }
}
