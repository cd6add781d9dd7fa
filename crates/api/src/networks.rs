//! `/networks/*`: list, inspect, create, remove, connect, disconnect, prune — Docker's shapes
//! around the engine's networks.

use crate::containers::{blocking, read_json};
use crate::error::{ApiError, Kind};
use crate::query::Query;
use crate::server::{json, Body};
use engine::engine::{Engine, EngineError};
use engine::network::{CreateRequest, NetworkError};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::sync::Arc;

fn from_network(e: NetworkError) -> ApiError {
    use engine::network::Kind as K;
    let kind = match e.kind() {
        K::Invalid => Kind::Invalid,
        K::NotFound => Kind::NotFound,
        K::Conflict => Kind::Conflict,
        K::Forbidden => Kind::Forbidden,
        K::Internal => Kind::Internal,
    };
    ApiError::new(kind, e.to_string())
}

/// Run a blocking network call off the async threads.
async fn net_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NetworkError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(Kind::Internal, e.to_string()))?
        .map_err(from_network)
}

fn names(e: &Engine) -> impl Fn(&str) -> Option<String> + '_ {
    move |id: &str| {
        e.store
            .get(id)
            .ok()
            .map(|c| c.name.trim_start_matches('/').to_string())
    }
}

/// Does a network (Docker's JSON) pass `filters` (name, id, label, driver, type)?
fn matches(n: &Value, filters: &Value) -> bool {
    let Some(f) = filters.as_object() else {
        return true;
    };
    f.iter().all(|(k, wanted)| {
        let wanted: Vec<String> = match wanted {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => vec![],
        };
        let name = n["Name"].as_str().unwrap_or("");
        let builtin = ["bridge", "host", "none"].contains(&name);
        wanted.iter().any(|w| match k.as_str() {
            "name" => name.contains(w.as_str()),
            "id" => n["Id"].as_str().unwrap_or("").starts_with(w.as_str()),
            "driver" => n["Driver"] == w.as_str(),
            "type" => (w == "builtin") == builtin,
            "label" => match w.split_once('=') {
                Some((lk, lv)) => n["Labels"][lk] == lv,
                None => n["Labels"].get(w).is_some(),
            },
            _ => true,
        })
    })
}

fn filters(q: &Query) -> Value {
    q.get("filters")
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or_default()
}

pub async fn list(e: Arc<Engine>, q: Query) -> Result<Response<Body>, ApiError> {
    let f = filters(&q);
    let all = blocking(move || Ok(e.networks.list_docker(&names(&e)))).await?;
    let out: Vec<Value> = all.into_iter().filter(|n| matches(n, &f)).collect();
    Ok(json(200, &out))
}

pub async fn inspect(e: Arc<Engine>, id: String) -> Result<Response<Body>, ApiError> {
    let v = net_blocking(move || e.networks.inspect_docker(&id, &names(&e))).await?;
    Ok(json(200, &v))
}

pub async fn create(e: Arc<Engine>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body = read_json(req).await?;
    let r: CreateRequest = serde_json::from_value(body)
        .map_err(|err| ApiError::invalid(format!("invalid network create request: {err}")))?;
    let e2 = e.clone();
    let n = net_blocking(move || e2.networks.create(&r)).await?;
    e.events.publish(net_event("create", &n.id, &n.name));
    Ok(json(201, &json!({"Id": n.id, "Warning": ""})))
}

/// A network event as Docker's: the network's id, its name and type as attributes.
fn net_event(action: &str, id: &str, name: &str) -> engine::events::Event {
    engine::events::Event::new("network", action, id)
        .attr("name", name)
        .attr("type", "bridge")
}

pub async fn remove(e: Arc<Engine>, id: String) -> Result<Response<Body>, ApiError> {
    let e2 = e.clone();
    let known = {
        let (e, id) = (e.clone(), id.clone());
        blocking(move || Ok(e.networks.get(&id).map(|n| (n.id, n.name)).ok())).await?
    };
    net_blocking(move || e2.networks.remove(&id)).await?;
    if let Some((id, name)) = known {
        e.events.publish(net_event("destroy", &id, &name));
    }
    Ok(crate::server::full(204, "text/plain", bytes::Bytes::new()))
}

pub async fn connect(
    e: Arc<Engine>,
    id: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body = read_json(req).await?;
    let key = body["Container"].as_str().unwrap_or("").to_string();
    let c = {
        let e = e.clone();
        blocking(move || Ok(e.store.get(&key)?)).await?
    };
    let ep = body["EndpointConfig"].clone();
    let (e2, cid) = (e.clone(), c.id.clone());
    let n = net_blocking(move || {
        e2.networks.connect(&id, &c, &ep)?;
        e2.networks.get(&id)
    })
    .await?;
    e.events
        .publish(net_event("connect", &n.id, &n.name).attr("container", cid));
    Ok(json(200, &Value::Null))
}

pub async fn disconnect(
    e: Arc<Engine>,
    id: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body = read_json(req).await?;
    let key = body["Container"].as_str().unwrap_or("").to_string();
    let c = {
        let e = e.clone();
        blocking(move || Ok(e.store.get(&key)?)).await?
    };
    let (e2, cid) = (e.clone(), c.id.clone());
    let n = net_blocking(move || {
        let n = e2.networks.get(&id)?;
        e2.networks.disconnect(&id, &c)?;
        Ok(n)
    })
    .await?;
    e.events
        .publish(net_event("disconnect", &n.id, &n.name).attr("container", cid));
    Ok(json(200, &Value::Null))
}

pub async fn prune(e: Arc<Engine>, q: Query) -> Result<Response<Body>, ApiError> {
    let f = filters(&q);
    let deleted = blocking(move || {
        let keep = |n: &engine::network::Network| {
            let label_filter = json!({"label": f.get("label").cloned().unwrap_or(Value::Null)});
            f.get("label").is_some() && !matches(&n.to_docker(&|_| None), &label_filter)
        };
        Ok::<_, EngineError>(e.networks.prune(keep))
    })
    .await?;
    Ok(json(200, &json!({"NetworksDeleted": deleted})))
}

/// A container's `NetworkSettings` for inspect.
pub fn settings(e: &Engine, c: &engine::container::Container) -> Value {
    e.networks.settings(c)
}

/// A container's `Ports` for the container list.
pub fn list_ports(e: &Engine, c: &engine::container::Container) -> Value {
    e.networks.list_ports(c)
}

/// Inspect's paths of the /etc files tug writes for a container, as an object to merge
/// into the inspect body.
pub fn etc_paths(e: &Engine, c: &engine::container::Container) -> Value {
    let mut v = json!({});
    for (k, path) in e.networks.etc_paths(c) {
        v[k] = json!(path);
    }
    v
}
