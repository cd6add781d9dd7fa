#![recursion_limit = "256"]
//! tug's Docker Engine API server: the socket, versioned routing, Docker's JSON shapes and
//! error bodies, and the streams (hijacked attach/exec, chunked logs, JSON progress). Route
//! groups talk to narrow backend traits; no business logic lives here.

mod archive;
mod build;
mod commit;
mod containers;
mod df;
mod error;
mod events;
mod images;
mod logs;
mod networks;
mod ops;
mod query;
mod router;
mod server;
mod stream;
mod system;
pub mod tls;
mod version;
mod volumes;

pub use error::{ApiError, Kind};
pub use server::{serve, serve_tls, Backends};
pub use system::{SystemBackend, SystemInfo};
pub use version::{API_VERSION, MIN_API_VERSION};
