//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, single-request monolithic with
//! `?digest=`, cross-repository mount with `?mount=&from=`), and on
//! `/v2/<name>/blobs/uploads/<id>`: `PATCH` (chunks, `Content-Range` in order or 416), `PUT`
//! (`?digest=`, optional last chunk), `GET` (status) and `DELETE` (cancel).

use super::http::{empty, query_get, query_pairs, response, set, Body};
use super::Registry;
use crate::auth::{Action, Grant, Need};
use crate::digest::Digest;
use crate::error::{ApiError, Code};
use crate::name::check_repository;
use crate::storage::upload::AppendError;
use crate::storage::Upload;
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, Response, StatusCode};

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn range_value(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

/// 202 with where the upload is and how much it holds.
fn accepted(name: &str, up: &Upload, status: StatusCode) -> Response<Body> {
    let mut r = response(status, empty());
    set(&mut r, "location", upload_location(name, &up.id));
    set(&mut r, "range", range_value(up.size));
    set(&mut r, "docker-upload-uuid", &up.id);
    if status != StatusCode::NO_CONTENT {
        set(&mut r, "content-length", "0");
    }
    r
}

/// 201 for a blob now in the repository.
fn created(name: &str, d: &Digest) -> Response<Body> {
    let mut r = response(StatusCode::CREATED, empty());
    set(&mut r, "location", format!("/v2/{name}/blobs/{d}"));
    set(&mut r, "docker-content-digest", d.to_string());
    set(&mut r, "content-length", "0");
    r
}

fn header_u64(h: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    match h
        .get(name)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()))
    {
        None => Ok(None),
        Some(Some(n)) => Ok(Some(n)),
        Some(None) => Err(ApiError::new(
            Code::SizeInvalid,
            format!("{name}: not a number"),
        )),
    }
}

/// `Content-Range: <start>-<end>` (also with a `bytes` prefix).
fn content_range(h: &HeaderMap) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(v) = h.get("content-range") else {
        return Ok(None);
    };
    let bad = || ApiError::new(Code::BlobUploadInvalid, "content-range: want <start>-<end>");
    let s = v.to_str().map_err(|_| bad())?.trim();
    let s = s
        .strip_prefix("bytes")
        .unwrap_or(s)
        .trim_start_matches(['=', ' ']);
    let s = s.split('/').next().unwrap_or(s);
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u64, u64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

fn append_error(e: AppendError) -> ApiError {
    match e {
        AppendError::Store(s) => s.into(),
        e @ AppendError::Length { .. } => ApiError::new(Code::BlobUploadInvalid, e.to_string()),
        e @ AppendError::Body { .. } => ApiError::new(Code::BlobUploadInvalid, e.to_string()),
    }
}

/// Appends a request's body to an upload, checking `Content-Range` against what it holds.
async fn append(up: &mut Upload, name: &str, req: Request<Incoming>) -> Result<(), ApiError> {
    let range = content_range(req.headers())?;
    let length = header_u64(req.headers(), "content-length")?;
    let expected = match range {
        Some((a, _)) if a != up.size => {
            return Err(ApiError::new(
                Code::RangeInvalid,
                format!(
                    "upload {}: chunk starts at {a}, upload holds {} bytes",
                    up.id, up.size
                ),
            )
            .header("range", range_value(up.size))
            .header("location", upload_location(name, &up.id)))
        }
        Some((a, b)) => {
            if length.is_some_and(|n| n != b - a + 1) {
                return Err(ApiError::new(
                    Code::BlobUploadInvalid,
                    "content-length and content-range disagree",
                ));
            }
            Some(b - a + 1)
        }
        None => length,
    };
    up.append(req.into_body(), expected)
        .await
        .map_err(append_error)?;
    Ok(())
}

fn digest_param(q: &[(String, String)]) -> Result<Digest, ApiError> {
    let d = query_get(q, "digest")
        .ok_or_else(|| ApiError::new(Code::DigestInvalid, "digest parameter missing"))?;
    Ok(d.parse()?)
}

/// Links an existing blob from another repository (or, unnamed, from anywhere the caller may read).
async fn try_mount(
    reg: &Registry,
    grant: &Grant,
    name: &str,
    q: &[(String, String)],
) -> Result<Option<Digest>, ApiError> {
    let Some(Ok(d)) = query_get(q, "mount").map(str::parse::<Digest>) else {
        return Ok(None);
    };
    let found = match query_get(q, "from") {
        Some(from) => {
            let may = check_repository(from).is_ok()
                && grant.allows(
                    &reg.auth,
                    Need::Repo {
                        name: from,
                        action: Action::Pull,
                    },
                );
            may && reg.store.repo_blob_size(from, &d)?.is_some()
        }
        None => grant.pulls_everything(&reg.auth) && reg.store.blob_size(&d)?.is_some(),
    };
    if !found {
        return Ok(None);
    }
    let _gc = reg.gc_lock.read().await;
    reg.store.link_blob(name, &d)?;
    Ok(Some(d))
}

pub async fn start(
    reg: &Registry,
    grant: &Grant,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = query_pairs(req.uri().query());
    if let Some(d) = try_mount(reg, grant, name, &q).await? {
        return Ok(created(name, &d));
    }
    let monolithic = query_get(&q, "digest").is_some();
    let digest = if monolithic {
        Some(digest_param(&q)?)
    } else {
        None
    };
    let up = reg.uploads.start(name)?;
    let mut up = up.lock().await;
    let Some(d) = digest else {
        return Ok(accepted(name, &up, StatusCode::ACCEPTED));
    };
    if let Err(e) = append(&mut up, name, req).await {
        reg.uploads.remove(&mut up);
        return Err(e);
    }
    let _gc = reg.gc_lock.read().await;
    reg.uploads.finish(&mut up, &d).await?;
    Ok(created(name, &d))
}

pub async fn patch(
    reg: &Registry,
    name: &str,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let up = reg.uploads.get(name, id)?;
    let mut up = up.lock().await;
    reg.uploads.check(&up, name)?;
    append(&mut up, name, req).await?;
    Ok(accepted(name, &up, StatusCode::ACCEPTED))
}

pub async fn put(
    reg: &Registry,
    name: &str,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = query_pairs(req.uri().query());
    let up = reg.uploads.get(name, id)?;
    let mut up = up.lock().await;
    reg.uploads.check(&up, name)?;
    let d = digest_param(&q)?;
    append(&mut up, name, req).await?;
    let _gc = reg.gc_lock.read().await;
    reg.uploads.finish(&mut up, &d).await?;
    Ok(created(name, &d))
}

pub async fn status(reg: &Registry, name: &str, id: &str) -> Result<Response<Body>, ApiError> {
    let up = reg.uploads.get(name, id)?;
    let up = up.lock().await;
    reg.uploads.check(&up, name)?;
    Ok(accepted(name, &up, StatusCode::NO_CONTENT))
}

pub async fn cancel(reg: &Registry, name: &str, id: &str) -> Result<Response<Body>, ApiError> {
    let up = reg.uploads.get(name, id)?;
    let mut up = up.lock().await;
    reg.uploads.check(&up, name)?;
    reg.uploads.remove(&mut up);
    Ok(response(StatusCode::NO_CONTENT, empty()))
}
