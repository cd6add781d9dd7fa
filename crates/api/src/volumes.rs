//! `/volumes/*`: create, list (with filters), inspect, remove, prune — Docker's shapes around
//! the engine's volume operations.

use crate::containers::{blocking, read_json};
use crate::error::ApiError;
use crate::query::Query;
use crate::server::{full, json, Body};
use engine::engine::Engine;
use engine::volume::{CreateOptions, Volume};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Docker's filters: `{"key": {"value": true}}` or `{"key": ["value"]}`.
fn filter_values(q: &Query, key: &str) -> Result<Vec<String>, ApiError> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(Vec::new());
    };
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| ApiError::invalid(format!("invalid filter: {e}")))?;
    Ok(match &v[key] {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    })
}

/// Whether a volume has a label filter's `key` or `key=value`.
fn has_label(v: &Volume, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
        None => v.labels.contains_key(want),
    }
}

fn string_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn create(e: Arc<Engine>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body = read_json(req).await?;
    let opts = CreateOptions {
        name: body["Name"].as_str().unwrap_or("").to_string(),
        driver: body["Driver"].as_str().unwrap_or("").to_string(),
        driver_opts: string_map(&body["DriverOpts"]),
        labels: string_map(&body["Labels"]),
    };
    let e2 = e.clone();
    let v = blocking(move || Ok(e2.volumes().create(&opts)?)).await?;
    let name = serde_json::to_value(&v).unwrap_or_default()["Name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    e.events
        .publish(engine::events::Event::new("volume", "create", name).attr("driver", "local"));
    Ok(json(201, &v))
}

pub async fn list(e: Arc<Engine>, q: Query) -> Result<Response<Body>, ApiError> {
    let names = filter_values(&q, "name")?;
    let labels = filter_values(&q, "label")?;
    let drivers = filter_values(&q, "driver")?;
    let dangling = filter_values(&q, "dangling")?;
    let all = blocking(move || {
        let vols = e.volumes().list()?;
        Ok(vols
            .into_iter()
            .map(|v| {
                let used = !e.volume_users(&v.name).is_empty();
                (v, used)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    let out: Vec<&Volume> = all
        .iter()
        .filter(|(v, _)| names.is_empty() || names.iter().any(|n| v.name.contains(n.as_str())))
        .filter(|(v, _)| labels.iter().all(|l| has_label(v, l)))
        .filter(|(v, _)| drivers.is_empty() || drivers.contains(&v.driver))
        .filter(|(_, used)| match dangling.first().map(String::as_str) {
            Some("true" | "1") => !used,
            Some("false" | "0") => *used,
            _ => true,
        })
        .map(|(v, _)| v)
        .collect();
    Ok(json(
        200,
        &serde_json::json!({"Volumes": out, "Warnings": []}),
    ))
}

pub async fn inspect(e: Arc<Engine>, name: String) -> Result<Response<Body>, ApiError> {
    let v = blocking(move || Ok(e.volumes().get(&name)?)).await?;
    Ok(json(200, &v))
}

pub async fn remove(e: Arc<Engine>, name: String, q: Query) -> Result<Response<Body>, ApiError> {
    let force = q.flag("force");
    let (e2, n) = (e.clone(), name.clone());
    blocking(move || Ok(e2.volume_remove(&n, force)?)).await?;
    e.events
        .publish(engine::events::Event::new("volume", "destroy", name).attr("driver", "local"));
    Ok(full(204, "text/plain", bytes::Bytes::new()))
}

pub async fn prune(e: Arc<Engine>, q: Query) -> Result<Response<Body>, ApiError> {
    let all = filter_values(&q, "all")?
        .iter()
        .any(|v| matches!(v.as_str(), "true" | "1"));
    let labels = filter_values(&q, "label")?;
    let not_labels = filter_values(&q, "label!")?;
    let (names, freed) = blocking(move || {
        Ok(e.volume_prune(all, |v| {
            !labels.iter().all(|l| has_label(v, l)) || not_labels.iter().any(|l| has_label(v, l))
        })?)
    })
    .await?;
    Ok(json(
        200,
        &serde_json::json!({"VolumesDeleted": names, "SpaceReclaimed": freed}),
    ))
}
