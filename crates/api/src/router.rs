//! Versioned routing: strip `/vX.Y`, pick the handler by method and path.

use crate::error::{ApiError, Kind};
use crate::query::Query;
use crate::server::{error, Backends, Body};
use crate::{archive, containers as c, images, ops, system, version, volumes};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use std::convert::Infallible;
use std::sync::Arc;

const SWARM: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

pub async fn route(req: Request<Incoming>, b: Arc<Backends>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let (ver, p) = match version::strip(&path) {
        Ok(v) => v,
        Err(e) => return Ok(with_server(error(e))),
    };
    let segs: Vec<String> = p.trim_matches('/').split('/').map(String::from).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method().clone();
    let q = Query::parse(req.uri().query());
    let e = b.engine.clone();
    let r = match (&m, segs.as_slice()) {
        (&Method::GET, ["events"]) => Some(crate::events::events(e, q).await),
        (&Method::POST, ["containers", "create"]) => Some(c::create(e, q, req).await),
        (&Method::POST, ["containers", "prune"]) => Some(crate::df::containers_prune(e, q).await),
        (&Method::POST, ["commit"]) => Some(crate::commit::commit(e, q, req).await),
        (&Method::GET, ["system", "df"]) => Some(crate::df::df(e).await),
        (&Method::GET, ["containers", "json"]) => Some(c::list(e, q).await),
        (&Method::GET, ["containers", id, "json"]) => Some(c::inspect(e, id.to_string()).await),
        (&Method::POST, ["containers", id, "start"]) => Some(c::start(e, id.to_string()).await),
        (&Method::POST, ["containers", id, "wait"]) => Some(c::wait(e, id.to_string(), q).await),
        (&Method::POST, ["containers", id, "attach"]) => {
            Some(c::attach(e, id.to_string(), q, ver, req).await)
        }
        (&Method::GET, ["containers", id, "logs"]) => Some(c::logs(e, id.to_string(), q).await),
        (&Method::POST, ["containers", id, "stop"]) => Some(c::stop(e, id.to_string(), q).await),
        (&Method::POST, ["containers", id, "restart"]) => {
            Some(c::restart(e, id.to_string(), q).await)
        }
        (&Method::POST, ["containers", id, "kill"]) => Some(c::kill(e, id.to_string(), q).await),
        (&Method::POST, ["containers", id, "resize"]) => {
            Some(c::resize(e, id.to_string(), q).await)
        }
        (&Method::POST, ["containers", id, "update"]) => {
            Some(c::update(e, id.to_string(), req).await)
        }
        (&Method::POST, ["containers", id, "pause"]) => Some(ops::pause(e, id.to_string()).await),
        (&Method::POST, ["containers", id, "unpause"]) => {
            Some(ops::unpause(e, id.to_string()).await)
        }
        (&Method::POST, ["containers", id, "rename"]) => {
            Some(ops::rename(e, id.to_string(), q).await)
        }
        (&Method::GET, ["containers", id, "top"]) => Some(ops::top(e, id.to_string(), q).await),
        (&Method::GET, ["containers", id, "stats"]) => Some(ops::stats(e, id.to_string(), q).await),
        (&Method::POST, ["containers", id, "exec"]) => {
            Some(ops::exec_create(e, id.to_string(), req).await)
        }
        (&Method::POST, ["exec", id, "start"]) => {
            Some(ops::exec_start(e, id.to_string(), ver, req).await)
        }
        (&Method::POST, ["exec", id, "resize"]) => {
            Some(ops::exec_resize(e, id.to_string(), q).await)
        }
        (&Method::GET, ["exec", id, "json"]) => Some(ops::exec_inspect(e, id.to_string()).await),
        (&Method::HEAD, ["containers", id, "archive"]) => {
            Some(archive::head(e, id.to_string(), q).await)
        }
        (&Method::GET, ["containers", id, "archive"]) => {
            Some(archive::get(e, id.to_string(), q).await)
        }
        (&Method::PUT, ["containers", id, "archive"]) => {
            Some(archive::put(e, id.to_string(), q, req).await)
        }
        (&Method::GET, ["containers", id, "export"]) => {
            Some(archive::export(e, id.to_string()).await)
        }
        (&Method::GET, ["containers", id, "changes"]) => {
            Some(archive::changes(e, id.to_string()).await)
        }
        (&Method::POST, ["volumes", "create"]) => Some(volumes::create(e, req).await),
        (&Method::POST, ["volumes", "prune"]) => Some(volumes::prune(e, q).await),
        (&Method::GET, ["volumes"]) => Some(volumes::list(e, q).await),
        (&Method::GET, ["volumes", name]) => Some(volumes::inspect(e, name.to_string()).await),
        (&Method::DELETE, ["volumes", name]) => Some(volumes::remove(e, name.to_string(), q).await),
        (&Method::DELETE, ["containers", id]) => Some(c::remove(e, id.to_string(), q).await),
        (&Method::GET, ["networks"]) => Some(crate::networks::list(e, q).await),
        (&Method::POST, ["networks", "create"]) => Some(crate::networks::create(e, req).await),
        (&Method::POST, ["networks", "prune"]) => Some(crate::networks::prune(e, q).await),
        (&Method::GET, ["networks", id]) => Some(crate::networks::inspect(e, id.to_string()).await),
        (&Method::DELETE, ["networks", id]) => {
            Some(crate::networks::remove(e, id.to_string()).await)
        }
        (&Method::POST, ["networks", id, "connect"]) => {
            Some(crate::networks::connect(e, id.to_string(), req).await)
        }
        (&Method::POST, ["networks", id, "disconnect"]) => {
            Some(crate::networks::disconnect(e, id.to_string(), req).await)
        }
        (&Method::POST, ["build"]) => Some(crate::build::build(e, q, req).await),
        (&Method::GET, ["images", "json"]) => Some(images::list(e, q).await),
        (&Method::POST, ["images", "prune"]) => Some(images::prune(e, q).await),
        (&Method::POST, ["auth"]) => Some(system::auth(e, req).await),
        (&Method::POST, ["images", "create"]) if q.get("fromSrc").is_some() => {
            Some(images::import(e, q, req).await)
        }
        (&Method::POST, ["images", "create"]) => Some(images::pull(e, q, req.headers()).await),
        (&Method::GET, [rest @ .., "json"])
            if rest.first() == Some(&"images") && rest.len() > 1 =>
        {
            Some(images::inspect(e, rest[1..].join("/")).await)
        }
        (&Method::POST, [rest @ .., "tag"])
            if rest.first() == Some(&"images") && rest.len() > 1 =>
        {
            Some(images::tag(e, rest[1..].join("/"), q).await)
        }
        (&Method::POST, [rest @ .., "push"])
            if rest.first() == Some(&"images") && rest.len() > 1 =>
        {
            Some(images::push(e, rest[1..].join("/"), q, req.headers()).await)
        }
        (&Method::GET, ["images", "get"]) => Some(images::save(e, q.all("names")).await),
        (&Method::GET, [rest @ .., "get"]) if rest.first() == Some(&"images") && rest.len() > 1 => {
            Some(images::save(e, vec![rest[1..].join("/")]).await)
        }
        (&Method::POST, ["images", "load"]) => Some(images::load(e, q, req).await),
        (&Method::GET, [rest @ .., "history"])
            if rest.first() == Some(&"images") && rest.len() > 1 =>
        {
            Some(images::history(e, rest[1..].join("/")).await)
        }
        (&Method::DELETE, ["images", rest @ ..]) if !rest.is_empty() => {
            Some(images::remove(e, rest.join("/"), q).await)
        }
        _ => None,
    };
    if let Some(r) = r {
        return Ok(with_server(r.unwrap_or_else(error)));
    }
    let resp = match (&m, segs.as_slice()) {
        (&Method::GET, ["_ping"]) => system::ping(false),
        (&Method::HEAD, ["_ping"]) => system::ping(true),
        (&Method::GET, ["version"]) => system::version(),
        (&Method::GET, ["info"]) => system::info(&*b.system),
        (_, ["swarm" | "nodes" | "services" | "tasks" | "secrets" | "configs", ..]) => {
            error(ApiError::new(Kind::Unavailable, SWARM))
        }
        _ => error(ApiError::not_found("page not found")),
    };
    Ok(with_server(resp))
}

fn with_server(mut r: Response<Body>) -> Response<Body> {
    let v = format!("tug/{} (linux)", env!("CARGO_PKG_VERSION"));
    r.headers_mut()
        .insert("Server", v.parse().expect("valid header"));
    r.headers_mut().insert(
        "Api-Version",
        version::API_VERSION.parse().expect("valid header"),
    );
    r
}
