//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<tag-or-digest>`.

use super::http::{empty, full, response, set, Body};
use super::Registry;
use crate::digest::{Algorithm, Digest};
use crate::error::{ApiError, Code};
use crate::manifest;
use crate::name::Reference;
use crate::storage::NewManifest;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

fn unknown(name: &str, reference: &str) -> ApiError {
    ApiError::new(
        Code::ManifestUnknown,
        format!("manifest {name}:{reference}: unknown"),
    )
}

/// The digest a reference names in `name`.
fn resolve(reg: &Registry, name: &str, reference: &str) -> Result<Digest, ApiError> {
    match Reference::parse(reference)? {
        Reference::Digest(d) => Ok(d),
        Reference::Tag(t) => reg
            .store
            .tag(name, &t)?
            .ok_or_else(|| unknown(name, reference)),
    }
}

pub async fn get(
    reg: &Registry,
    name: &str,
    reference: &str,
    head: bool,
) -> Result<Response<Body>, ApiError> {
    let d = resolve(reg, name, reference)?;
    let (data, media_type) = reg
        .store
        .get_manifest(name, &d)
        .map_err(|_| unknown(name, reference))?;
    let len = data.len();
    let mut r = response(StatusCode::OK, if head { empty() } else { full(data) });
    set(&mut r, "content-type", media_type);
    set(&mut r, "content-length", len.to_string());
    set(&mut r, "docker-content-digest", d.to_string());
    Ok(r)
}

/// Reads a manifest body, refusing one over the configured limit with 413.
async fn read_body(reg: &Registry, req: Request<Incoming>) -> Result<Vec<u8>, ApiError> {
    let max = reg.config.max_manifest_bytes;
    let too_large = || ApiError::new(Code::TooLarge, format!("manifest: over {max} bytes"));
    let announced = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), max).collect().await {
        Ok(b) => Ok(b.to_bytes().to_vec()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(ApiError::new(
            Code::ManifestInvalid,
            format!("manifest: reading the body: {e}"),
        )),
    }
}

/// Every blob and child manifest the manifest references must be in the repository.
fn check_references(reg: &Registry, name: &str, m: &manifest::Manifest) -> Result<(), ApiError> {
    let missing = |d: &Digest| {
        ApiError::new(
            Code::ManifestBlobUnknown,
            format!("manifest references {d}, unknown to {name}"),
        )
        .detail(json!({"digest": d.to_string()}))
    };
    for b in &m.blobs {
        if reg.store.repo_blob_size(name, b)?.is_none() {
            return Err(missing(b));
        }
    }
    for c in &m.children {
        if reg.store.manifest_media_type(name, c)?.is_none() {
            return Err(missing(c));
        }
    }
    Ok(())
}

pub async fn put(
    reg: &Registry,
    name: &str,
    reference: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let r = Reference::parse(reference)?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let data = read_body(reg, req).await?;
    let m = manifest::parse(&data, content_type.as_deref())?;
    let digest = match &r {
        Reference::Digest(d) => {
            let actual = Digest::of(d.algorithm(), &data);
            if &actual != d {
                return Err(ApiError::new(
                    Code::DigestInvalid,
                    format!("manifest {d}: digest mismatch (content is {actual})"),
                ));
            }
            actual
        }
        Reference::Tag(_) => Digest::of(Algorithm::Sha256, &data),
    };
    let _gc = reg.gc_lock.read().await;
    check_references(reg, name, &m)?;
    reg.store.put_manifest(&NewManifest {
        repo: name,
        digest: &digest,
        media_type: &m.media_type,
        data: &data,
        tag: match &r {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        },
        subject: m.subject.as_ref(),
    })?;
    let mut resp = response(StatusCode::CREATED, empty());
    set(
        &mut resp,
        "location",
        format!("/v2/{name}/manifests/{digest}"),
    );
    set(&mut resp, "docker-content-digest", digest.to_string());
    set(&mut resp, "content-length", "0");
    if let Some(s) = &m.subject {
        set(&mut resp, "oci-subject", s.to_string());
    }
    Ok(resp)
}

pub async fn delete(
    reg: &Registry,
    name: &str,
    reference: &str,
) -> Result<Response<Body>, ApiError> {
    let found = match Reference::parse(reference)? {
        Reference::Tag(t) => reg.store.delete_tag(name, &t)?,
        Reference::Digest(d) => match reg.store.get_manifest(name, &d) {
            Ok((data, media_type)) => {
                let subject = manifest::parse(&data, Some(&media_type))
                    .ok()
                    .and_then(|m| m.subject);
                reg.store.delete_manifest(name, &d, subject.as_ref())?
            }
            Err(_) => false,
        },
    };
    if !found {
        return Err(unknown(name, reference));
    }
    let mut r = response(StatusCode::ACCEPTED, empty());
    set(&mut r, "content-length", "0");
    Ok(r)
}
