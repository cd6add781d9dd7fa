//! `GET /events`: past events since a time, then live ones until a time or until the client
//! goes away, one JSON object per line.

use crate::error::ApiError;
use crate::query::Query;
use crate::server::Body;
use bytes::Bytes;
use engine::engine::Engine;
use engine::events::{Event, Filter};
use hyper::Response;
use std::sync::Arc;
use std::time::Duration;

/// A `since`/`until` value: seconds since the epoch (fractions allowed) or RFC 3339; in
/// nanoseconds.
fn parse_time(s: &str) -> Result<i64, ApiError> {
    if let Ok(v) = s.parse::<f64>() {
        return Ok((v * 1e9) as i64);
    }
    let secs = runtime::util::epoch_secs(s);
    if secs > 0 && s.len() >= 19 {
        return Ok(secs * 1_000_000_000);
    }
    Err(ApiError::invalid(format!(
        "invalid time {s:?}: use seconds since the epoch or RFC 3339"
    )))
}

fn line(e: &Event) -> Bytes {
    let mut v = serde_json::to_vec(&e.to_docker()).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

pub async fn events(e: Arc<Engine>, q: Query) -> Result<Response<Body>, ApiError> {
    let filter = Filter::parse(q.get("filters").unwrap_or("")).map_err(ApiError::invalid)?;
    let since = q
        .get("since")
        .filter(|s| !s.is_empty())
        .map(parse_time)
        .transpose()?;
    let until = q
        .get("until")
        .filter(|s| !s.is_empty())
        .map(parse_time)
        .transpose()?;
    // Taken now, before answering: nothing that happens after the request is missed.
    let (past, mut cursor) = match since {
        Some(_) => e.events.history(),
        None => (Vec::new(), e.events.cursor()),
    };
    let (tx, body) = crate::stream::channel();
    tokio::spawn(async move {
        let wanted = |ev: &Event| {
            since.is_none_or(|s| ev.time_nano >= s)
                && until.is_none_or(|u| ev.time_nano <= u)
                && filter.matches(ev)
        };
        for ev in past.iter().filter(|ev| wanted(ev)) {
            if tx.send(line(ev)).await.is_err() {
                return;
            }
        }
        loop {
            if until.is_some_and(|u| engine::events::now_nano() > u) || tx.is_closed() {
                return;
            }
            let e2 = e.clone();
            let c = cursor;
            let Ok((list, next)) =
                tokio::task::spawn_blocking(move || e2.events.wait(c, Duration::from_millis(500)))
                    .await
            else {
                return;
            };
            cursor = next;
            for ev in list.iter().filter(|ev| wanted(ev)) {
                if tx.send(line(ev)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("valid response"))
}
