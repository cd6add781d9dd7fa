//! OCI runtimes a container may use (`--runtime`): tug's own, in-process, and external
//! runtime binaries (runc, crun, …) configured on the daemon.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

/// tug's built-in runtime: called in-process by the shim.
pub const BUILTIN: &str = "tug";

/// An external runtime binary and the arguments it always gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub path: PathBuf,
    pub args: Vec<String>,
}

#[derive(Debug, Clone)]
struct Table {
    default: String,
    external: BTreeMap<String, External>,
}

/// The daemon's runtimes by name, and the default one.
#[derive(Debug)]
pub struct Runtimes(RwLock<Table>);

impl Default for Runtimes {
    fn default() -> Self {
        Runtimes(RwLock::new(Table {
            default: BUILTIN.into(),
            external: BTreeMap::new(),
        }))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("unknown or invalid runtime name: {0}")]
    Unknown(String),
    #[error("runtime name '{0}' is reserved")]
    Reserved(String),
}

impl Runtimes {
    /// Replace the table: external runtimes by name, and the default (which must be known).
    pub fn set(
        &self,
        external: BTreeMap<String, External>,
        default: Option<String>,
    ) -> Result<(), RuntimeError> {
        if external.contains_key(BUILTIN) {
            return Err(RuntimeError::Reserved(BUILTIN.into()));
        }
        let default = default.unwrap_or_else(|| BUILTIN.into());
        if default != BUILTIN && !external.contains_key(&default) {
            return Err(RuntimeError::Unknown(default));
        }
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Table { default, external };
        Ok(())
    }

    pub fn default_name(&self) -> String {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .default
            .clone()
    }

    /// Every runtime: name and path (`tug` for the built-in one).
    pub fn list(&self) -> Vec<(String, External)> {
        let t = self.0.read().unwrap_or_else(|p| p.into_inner());
        let builtin = External {
            path: PathBuf::from("tug-runc"),
            args: Vec::new(),
        };
        std::iter::once((BUILTIN.to_string(), builtin))
            .chain(t.external.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect()
    }

    /// The runtime `name` (empty: the default): None for the built-in one.
    pub fn resolve(&self, name: &str) -> Result<Option<External>, RuntimeError> {
        let t = self.0.read().unwrap_or_else(|p| p.into_inner());
        let name = if name.is_empty() { &t.default } else { name };
        if name == BUILTIN {
            return Ok(None);
        }
        t.external
            .get(name)
            .cloned()
            .map(Some)
            .ok_or_else(|| RuntimeError::Unknown(name.to_string()))
    }

    /// At create: check `HostConfig.Runtime` and record the default when none was named.
    pub fn on_create(&self, host_config: &mut Value) -> Result<(), RuntimeError> {
        let name = host_config["Runtime"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.resolve(&name)?;
        if name.is_empty() {
            host_config["Runtime"] = Value::String(self.default_name());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runc() -> BTreeMap<String, External> {
        BTreeMap::from([(
            "runc".to_string(),
            External {
                path: "/usr/bin/runc".into(),
                args: vec![],
            },
        )])
    }

    #[test]
    fn unknown_runtimes_are_refused_and_the_default_recorded() {
        let r = Runtimes::default();
        r.set(runc(), Some("runc".into())).unwrap();
        let mut hc = serde_json::json!({});
        r.on_create(&mut hc).unwrap();
        assert_eq!(hc["Runtime"], "runc");
        let mut hc = serde_json::json!({"Runtime": "tug"});
        r.on_create(&mut hc).unwrap();
        assert_eq!(r.resolve("tug").unwrap(), None);
        let mut hc = serde_json::json!({"Runtime": "nope"});
        let e = r.on_create(&mut hc).unwrap_err();
        assert_eq!(e.to_string(), "unknown or invalid runtime name: nope");
        assert!(r.set(runc(), Some("crun".into())).is_err());
    }
}
