//! Versioned routing: strip `/vX.Y`, pick the handler by method and path.

use crate::error::{ApiError, Kind};
use crate::server::{error, Backends, Body};
use crate::{system, version};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use std::convert::Infallible;
use std::sync::Arc;

const SWARM: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

pub async fn route(req: Request<Incoming>, b: Arc<Backends>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let (_ver, p) = match version::strip(&path) {
        Ok(v) => v,
        Err(e) => return Ok(with_server(error(e))),
    };
    let segs: Vec<&str> = p.trim_matches('/').split('/').collect();
    let m = req.method().clone();
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
