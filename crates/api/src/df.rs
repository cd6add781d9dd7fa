//! Disk usage and getting it back: `GET /system/df` (images, containers, volumes, build
//! cache with Docker's fields) and `POST /containers/prune`.

use crate::containers::{blocking, list_json};
use crate::error::ApiError;
use crate::query::Query;
use crate::server::{json, Body};
use engine::container::Container;
use engine::engine::Engine;
use engine::prune::dir_size;
use hyper::Response;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// `GET /system/df`.
pub async fn df(e: Arc<Engine>) -> Result<Response<Body>, ApiError> {
    let out = blocking(move || Ok(usage(&e))).await?;
    Ok(json(200, &out))
}

fn usage(e: &Engine) -> Value {
    let containers = e.store.list();
    let (images, layers_size) = images(e, &containers);
    let conts: Vec<Value> = containers
        .iter()
        .map(|c| {
            let mut v = list_json(c);
            let rw = e.container_size_rw(&c.id);
            let image = e.images.inspect(&c.image).map(|i| i.size).unwrap_or(0);
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(rw + image);
            v
        })
        .collect();
    let vols: Vec<Value> = e
        .volumes()
        .list()
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            let refs = e.volume_users(&v.name).len();
            let size = dir_size(&v.mountpoint);
            let mut j = serde_json::to_value(&v).unwrap_or_default();
            j["UsageData"] = json!({"Size": size, "RefCount": refs});
            j
        })
        .collect();
    json!({
        "LayersSize": layers_size,
        "Images": images,
        "Containers": conts,
        "Volumes": vols,
        "BuildCache": [],
    })
}

/// Image summaries with `SharedSize` (bytes in layers other images use too) and the number
/// of containers using each; and the total size of distinct layers.
fn images(e: &Engine, containers: &[Container]) -> (Vec<Value>, u64) {
    let infos = e.images.list().unwrap_or_default();
    let mut by_id: BTreeMap<String, (Vec<String>, &image::ImageInfo)> = BTreeMap::new();
    for i in &infos {
        let entry = by_id
            .entry(i.record.config.to_string())
            .or_insert((Vec::new(), i));
        if !i.record.is_untagged() {
            let name = image::Reference::parse(&i.record.name)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| i.record.name.clone());
            entry.0.push(name);
        }
    }
    let mut layer_users: HashMap<String, (u64, usize)> = HashMap::new();
    for (_, i) in by_id.values() {
        for l in i.manifest.layers() {
            let u = layer_users
                .entry(l.digest().to_string())
                .or_insert((l.size(), 0));
            u.1 += 1;
        }
    }
    let layers_size = layer_users.values().map(|(s, _)| s).sum();
    let out = by_id
        .iter()
        .map(|(id, (tags, i))| {
            let shared: u64 = i
                .manifest
                .layers()
                .iter()
                .filter(|l| {
                    layer_users
                        .get(&l.digest().to_string())
                        .is_some_and(|u| u.1 > 1)
                })
                .map(|l| l.size())
                .sum();
            let used = containers.iter().filter(|c| c.image == *id).count();
            // As Docker's: an image's size is its layers'.
            let size: u64 = i.manifest.layers().iter().map(|l| l.size()).sum();
            let created = i
                .config
                .created()
                .as_deref()
                .map(runtime::util::epoch_secs)
                .unwrap_or(i.record.created);
            let labels = i
                .config
                .config()
                .as_ref()
                .and_then(|c| c.labels().clone())
                .unwrap_or_default();
            json!({
                "Id": id, "ParentId": "", "RepoTags": tags, "RepoDigests": [],
                "Created": created, "Size": size, "SharedSize": shared, "VirtualSize": size,
                "Labels": labels, "Containers": used,
            })
        })
        .collect();
    (out, layers_size)
}

/// Filter values by key, in both forms clients send (`["a"]` or `{"a": true}`).
fn filters(q: &Query, allowed: &[&str]) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let v: Value = serde_json::from_str(raw)
        .map_err(|err| ApiError::invalid(format!("invalid filter: {err}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::invalid("invalid filter: not a JSON object"))?;
    let mut out = BTreeMap::new();
    for (k, vals) in obj {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::invalid(format!("invalid filter '{k}'")));
        }
        let list = match vals {
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            Value::Object(o) => o.keys().cloned().collect(),
            Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

/// `until=`: unix seconds, an RFC 3339 time, or a duration back from now (`1h30m`, `10s`).
fn until(v: &str, now: i64) -> Result<i64, ApiError> {
    if let Ok(f) = v.parse::<f64>() {
        return Ok(f as i64);
    }
    if v.len() >= 10 && v.as_bytes()[4] == b'-' {
        return Ok(runtime::util::epoch_secs(v));
    }
    let bad = || {
        ApiError::invalid(format!(
            "failed to parse value as time or duration: \"{v}\""
        ))
    };
    let (mut secs, mut num) = (0f64, String::new());
    for ch in v.chars() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        secs += n * match ch {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return Err(bad()),
        };
    }
    if !num.is_empty() || v.is_empty() {
        return Err(bad());
    }
    Ok(now - secs as i64)
}

/// `label=k`, `label=k=v` (and negated with `label!=`) against a container's labels.
fn has_label(c: &Container, want: &str) -> bool {
    let labels = &c.config["Labels"];
    match want.split_once('=') {
        Some((k, v)) => labels[k].as_str() == Some(v),
        None => labels.get(want).is_some(),
    }
}

/// `POST /containers/prune`: stopped containers matching `until`, `label`, `label!`.
pub async fn containers_prune(e: Arc<Engine>, q: Query) -> Result<Response<Body>, ApiError> {
    let f = filters(&q, &["until", "label", "label!"])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut before = None;
    for u in f.get("until").into_iter().flatten() {
        before = Some(until(u, now)?);
    }
    let labels = f.get("label").cloned().unwrap_or_default();
    let not_labels = f.get("label!").cloned().unwrap_or_default();
    let pruned = blocking(move || {
        e.container_prune(|c| {
            before.is_none_or(|b| runtime::util::epoch_secs(&c.created) < b)
                && labels.iter().all(|l| has_label(c, l))
                && !not_labels.iter().any(|l| has_label(c, l))
        })
    })
    .await?;
    Ok(json(
        200,
        &json!({"ContainersDeleted": pruned.ids, "SpaceReclaimed": pruned.space}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_times_and_durations() {
        assert_eq!(until("1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(until("1h30m", 10_000).unwrap(), 10_000 - 5400);
        assert_eq!(until("10s", 100).unwrap(), 90);
        assert!(until("soon", 0).is_err());
        assert!(until("5", 0).is_ok());
        assert!(until("5x", 0).is_err());
    }
}
