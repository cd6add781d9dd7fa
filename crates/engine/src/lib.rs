//! tug's engine: container records and lifecycle, exec, logs, volumes, events, restart
//! policies, health checks, and the shim that watches over each running container.

pub mod daemon;
pub mod shim;
