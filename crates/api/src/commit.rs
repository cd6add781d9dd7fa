//! `POST /commit`: a container's changes as a new image.

use crate::containers::{blocking, read_json};
use crate::error::ApiError;
use crate::query::Query;
use crate::server::{json, Body};
use engine::commit::CommitOptions;
use engine::engine::Engine;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::sync::Arc;

/// The image name from `repo` and `tag` (a repo without a tag is `:latest`).
fn reference(q: &Query) -> Result<Option<String>, ApiError> {
    let repo = q.get("repo").unwrap_or_default();
    let tag = q.get("tag").unwrap_or_default();
    match (repo, tag) {
        ("", "") => Ok(None),
        ("", _) => Err(ApiError::invalid("tag is specified without a repository")),
        (r, "") => Ok(Some(r.to_string())),
        (r, t) => Ok(Some(format!("{r}:{t}"))),
    }
}

pub async fn commit(
    e: Arc<Engine>,
    q: Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let key = q.get("container").unwrap_or_default().to_string();
    if key.is_empty() {
        return Err(ApiError::invalid("no container specified"));
    }
    let body = read_json(req).await?;
    let opts = CommitOptions {
        reference: reference(&q)?,
        comment: q.get("comment").unwrap_or_default().to_string(),
        author: q.get("author").unwrap_or_default().to_string(),
        pause: !matches!(q.get("pause"), Some("0" | "false" | "False")),
        changes: q
            .all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        config: body
            .is_object()
            .then_some(body)
            .filter(|b| !b.as_object().is_some_and(|o| o.is_empty())),
    };
    let id = blocking(move || e.commit(&key, &opts)).await?;
    Ok(json(201, &serde_json::json!({"Id": id})))
}
