//! Containers: records, the store, and their lifecycle.

pub mod names;
pub mod record;
pub mod store;

pub use record::{Container, State, Status, ZERO_TIME};
pub use store::{Store, StoreError};
