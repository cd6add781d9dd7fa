//! Lists: `GET /v2/<name>/tags/list` and `GET /v2/_catalog` (both with `n`/`last` pagination and
//! a `Link` header to the next page), and `GET /v2/<name>/referrers/<digest>` (`artifactType`).

use super::http::{json_response, query_get, query_pairs, set, Body};
use super::Registry;
use crate::digest::Digest;
use crate::error::{ApiError, Code};
use crate::manifest::{self, OCI_INDEX};
use hyper::{Response, Uri};
use serde_json::json;

/// One page of sorted `items` after `last`, at most `n`, and whether more follow.
fn page(
    items: Vec<String>,
    q: &[(String, String)],
) -> Result<(Vec<String>, Option<usize>, bool), ApiError> {
    let n =
        match query_get(q, "n") {
            None | Some("") => None,
            Some(s) => Some(s.parse::<usize>().map_err(|_| {
                ApiError::new(Code::PaginationInvalid, format!("n={s}: not a number"))
            })?),
        };
    let mut items: Vec<String> = match query_get(q, "last") {
        Some(last) if !last.is_empty() => items.into_iter().filter(|t| t.as_str() > last).collect(),
        _ => items,
    };
    let more = n.is_some_and(|n| items.len() > n);
    if let Some(n) = n {
        items.truncate(n);
    }
    Ok((items, n, more))
}

fn with_link(
    mut r: Response<Body>,
    path: &str,
    items: &[String],
    n: Option<usize>,
    more: bool,
) -> Response<Body> {
    if let (true, Some(n), Some(last)) = (more, n, items.last()) {
        set(
            &mut r,
            "link",
            format!("<{path}?n={n}&last={last}>; rel=\"next\""),
        );
    }
    r
}

pub fn tags(reg: &Registry, name: &str, uri: &Uri) -> Result<Response<Body>, ApiError> {
    let all = reg
        .store
        .tags(name)?
        .ok_or_else(|| ApiError::new(Code::NameUnknown, format!("repository {name}: unknown")))?;
    let (tags, n, more) = page(all, &query_pairs(uri.query()))?;
    let r = json_response(&json!({"name": name, "tags": tags}), "application/json");
    Ok(with_link(
        r,
        &format!("/v2/{name}/tags/list"),
        &tags,
        n,
        more,
    ))
}

/// The repositories the caller may pull (all of them without auth).
pub fn catalog(
    reg: &Registry,
    grant: &crate::auth::Grant,
    uri: &Uri,
) -> Result<Response<Body>, ApiError> {
    let mut visible = reg.store.repositories()?;
    visible.retain(|r| grant.may_pull(&reg.auth, r));
    let (repos, n, more) = page(visible, &query_pairs(uri.query()))?;
    let r = json_response(&json!({ "repositories": repos }), "application/json");
    Ok(with_link(r, "/v2/_catalog", &repos, n, more))
}

pub fn referrers(
    reg: &Registry,
    name: &str,
    digest: &str,
    uri: &Uri,
) -> Result<Response<Body>, ApiError> {
    let subject: Digest = digest.parse()?;
    let q = query_pairs(uri.query());
    let filter = query_get(&q, "artifactType").filter(|s| !s.is_empty());
    let mut manifests = Vec::new();
    for d in reg.store.referrers(name, &subject)? {
        let Ok((data, media_type)) = reg.store.get_manifest(name, &d) else {
            continue;
        };
        let Ok(m) = manifest::parse(&data, Some(&media_type)) else {
            continue;
        };
        if filter.is_some_and(|f| m.artifact_type.as_deref() != Some(f)) {
            continue;
        }
        manifests.push(m.referrer_descriptor(&d, data.len() as u64));
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    let mut r = json_response(&index, OCI_INDEX);
    if filter.is_some() {
        set(&mut r, "oci-filters-applied", "artifactType");
    }
    Ok(r)
}
