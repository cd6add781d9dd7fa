//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`, with single `Range` requests.

use super::http::{empty, file_body, response, set, Body};
use super::Registry;
use crate::digest::Digest;
use crate::error::{ApiError, Code};
use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};

/// A satisfiable byte range (inclusive), or `Err(())` for an unsatisfiable one; `None` when the
/// header is absent or not a single `bytes=` range (then the whole blob is sent, as RFC 9110 allows).
pub fn parse_range(h: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end: u64 = if b.is_empty() {
            u64::MAX
        } else {
            b.parse().ok()?
        };
        if end < start {
            return None;
        }
        if start >= size {
            return Some(Err(()));
        }
        (start, end.min(size - 1))
    };
    Some(Ok(range))
}

pub async fn get(
    reg: &Registry,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response<Body>, ApiError> {
    let d: Digest = digest.parse()?;
    let size = match reg.store.repo_blob_size(name, &d)? {
        Some(s) => s,
        None if reg.store.manifest_media_type(name, &d)?.is_some() => {
            reg.store.blob_size(&d)?.unwrap_or(0)
        }
        None => {
            return Err(ApiError::new(
                Code::BlobUnknown,
                format!("blob {d}: unknown to {name}"),
            ))
        }
    };
    if head {
        reg.store.touch_blob(name, &d);
    }
    let range = headers
        .get(hyper::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| parse_range(h, size));
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, size),
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b + 1),
        Some(Err(())) => {
            return Err(ApiError::new(
                Code::RangeInvalid,
                format!("blob {d}: range not satisfiable ({size} bytes)"),
            )
            .header("content-range", format!("bytes */{size}")))
        }
    };
    let len = end - start;
    let body = if head || len == 0 {
        empty()
    } else {
        file_body(reg.store.blob_path(&d), start, len)
    };
    let mut r = response(status, body);
    set(&mut r, "content-length", len.to_string());
    set(&mut r, "content-type", "application/octet-stream");
    set(&mut r, "docker-content-digest", d.to_string());
    set(&mut r, "accept-ranges", "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            &mut r,
            "content-range",
            format!("bytes {start}-{}/{size}", end - 1),
        );
    }
    Ok(r)
}

pub async fn delete(reg: &Registry, name: &str, digest: &str) -> Result<Response<Body>, ApiError> {
    let d: Digest = digest.parse()?;
    if !reg.store.unlink_blob(name, &d)? {
        return Err(ApiError::new(
            Code::BlobUnknown,
            format!("blob {d}: unknown to {name}"),
        ));
    }
    let mut r = response(StatusCode::ACCEPTED, empty());
    set(&mut r, "content-length", "0");
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,3-4", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
    }
}
