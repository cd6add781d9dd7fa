//! tug registry: an OCI distribution server (spec 1.1): content-addressed storage, uploads,
//! manifests, tags, referrers, auth (htpasswd basic or bearer tokens), TLS and garbage collection.

pub mod auth;
pub mod config;
pub mod digest;
pub mod error;
pub mod gc;
pub mod manifest;
pub mod name;
pub mod server;
pub mod storage;
pub mod tls;

pub use config::Config;
pub use server::{run, start, Handle, Options, Registry, ServeError};
