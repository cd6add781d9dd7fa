//! Response bodies (in memory or streamed from a file by a blocking reader), response helpers,
//! and query-string and path decoding.

use crate::error::ApiError;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Frame, SizeHint};
use hyper::{Response, StatusCode};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub type Body = BoxBody<Bytes, io::Error>;

const READ_CHUNK: usize = 512 << 10;

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A response with the given status and body.
pub fn response(status: StatusCode, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

/// Adds a header (values built by the registry are always valid header values).
pub fn set(r: &mut Response<Body>, name: &'static str, value: impl AsRef<str>) {
    if let Ok(v) = hyper::header::HeaderValue::from_str(value.as_ref()) {
        r.headers_mut().insert(name, v);
    }
}

/// The spec's JSON error response.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let body = e.body();
    let mut r = response(e.code.status(), full(body.clone()));
    set(&mut r, "content-type", "application/json");
    set(&mut r, "content-length", body.len().to_string());
    for (k, v) in &e.headers {
        set(&mut r, k, v);
    }
    r
}

/// A JSON response with status 200.
pub fn json_response(v: &serde_json::Value, content_type: &str) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = response(StatusCode::OK, empty());
    set(&mut r, "content-type", content_type);
    set(&mut r, "content-length", body.len().to_string());
    *r.body_mut() = full(body);
    r
}

/// Streams `len` bytes of a file from `offset`, read on a blocking thread. The read buffers go
/// round: once hyper has written one out and dropped it, it comes back to be filled again, so a
/// large blob is sent through a handful of buffers instead of fresh memory for every read.
pub fn file_body(path: PathBuf, offset: u64, len: u64) -> Body {
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let send = |r| tx.blocking_send(r).is_ok();
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => return send(Err(e)),
        };
        if let Err(e) = f.seek(SeekFrom::Start(offset)) {
            return send(Err(e));
        }
        let (home, returned) = std::sync::mpsc::channel();
        let mut left = len;
        while left > 0 {
            let want = READ_CHUNK.min(left as usize);
            let mut buf = returned
                .try_recv()
                .unwrap_or_else(|_| vec![0u8; READ_CHUNK.min(len as usize)]);
            match f.read(&mut buf[..want]) {
                Ok(0) => return send(Err(io::Error::from(io::ErrorKind::UnexpectedEof))),
                Ok(n) => {
                    left -= n as u64;
                    let chunk = Bytes::from_owner(Lent {
                        buf,
                        len: n,
                        home: home.clone(),
                    });
                    if !send(Ok(chunk)) {
                        return false;
                    }
                }
                Err(e) => return send(Err(e)),
            }
        }
        true
    });
    FileBody { rx, len }.boxed()
}

/// A read buffer lent to hyper; dropped once written, it goes back to its reader.
struct Lent {
    buf: Vec<u8>,
    len: usize,
    home: std::sync::mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let _ = self.home.send(std::mem::take(&mut self.buf));
    }
}

struct FileBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    len: u64,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx).map(|o| {
            o.map(|r| {
                r.map(|b| {
                    self.len = self.len.saturating_sub(b.len() as u64);
                    Frame::data(b)
                })
            })
        })
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// Decodes `%xx` escapes (and '+' as space when `plus`).
pub fn percent_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded `key=value` pairs of a query string.
pub fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// An `application/x-www-form-urlencoded` request body (at most 64 KiB) as pairs.
pub async fn read_form(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Vec<(String, String)>, crate::error::ApiError> {
    use http_body_util::BodyExt;
    let body = http_body_util::Limited::new(req.into_body(), 64 << 10)
        .collect()
        .await
        .map_err(|e| {
            crate::error::ApiError::new(
                crate::error::Code::Unsupported,
                format!("token: read form: {e}"),
            )
        })?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    Ok(query_pairs(Some(text.trim())))
}

pub fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("sha256%3Aab", false), "sha256:ab");
        assert_eq!(percent_decode("a+b%", true), "a b%");
        assert_eq!(percent_decode("%4", false), "%4");
        let q = query_pairs(Some("n=2&last=a%2Fb&x"));
        assert_eq!(query_get(&q, "last"), Some("a/b"));
        assert_eq!(query_get(&q, "x"), Some(""));
    }

    #[test]
    fn file_body_streams_ranges_through_reused_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..READ_CHUNK * 7 + 12_345)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let cases = [
            (0, data.len()),
            (1, data.len() - 1),
            (READ_CHUNK as u64 - 3, READ_CHUNK * 2 + 9),
            (10, 0),
        ];
        for (offset, len) in cases {
            let got = rt.block_on(async {
                let body = file_body(path.clone(), offset, len as u64);
                body.collect().await.unwrap().to_bytes()
            });
            let start = offset as usize;
            assert!(
                got[..] == data[start..start + len],
                "offset {offset} len {len}"
            );
        }
        let short = rt.block_on(async {
            file_body(path.clone(), data.len() as u64 - 5, 10)
                .collect()
                .await
        });
        assert_eq!(
            short.err().map(|e| e.kind()),
            Some(io::ErrorKind::UnexpectedEof)
        );
    }
}
