//! tug's engine: container records and lifecycle, exec, logs, volumes, events, restart
//! policies, health checks, and the shim that watches over each running container.

pub mod archive;
pub mod commit;
pub mod container;
pub mod daemon;
pub mod engine;
pub mod events;
pub mod health;
pub mod network;
pub mod ops;
pub mod prepare;
pub mod prune;
pub mod restart;
pub mod runtimes;
pub mod shim;
pub mod spec;
pub mod volume;
