//! The docker-archive format: `manifest.json` (one entry per image: its config, names and
//! layer tars), `repositories` (name → tag → top layer), and the member layouts docker has
//! written over the years — legacy `<v1 id>/layer.tar` + `<config hex>.json`, and Docker 25+'s
//! `blobs/sha256/<hex>` inside an OCI layout.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestItem {
    /// Path of the image config in the archive.
    pub config: String,
    /// Familiar names (`busybox:latest`); null for an untagged image.
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// Paths of the layer tars (plain or compressed), bottom first.
    pub layers: Vec<String>,
}

/// The file name of the manifest.
pub const MANIFEST: &str = "manifest.json";
/// The file name of the legacy repositories map.
pub const REPOSITORIES: &str = "repositories";

/// `repositories`: familiar repository name → tag → top layer ID (hex).
pub type Repositories = BTreeMap<String, BTreeMap<String, String>>;

/// Parse `manifest.json`.
pub fn parse_manifest(bytes: &[u8]) -> Result<Vec<ManifestItem>, super::ArchiveError> {
    serde_json::from_slice(bytes).map_err(|e| super::ArchiveError::invalid(MANIFEST, e))
}
