//! The OCI image layout: `oci-layout`, `index.json` and `blobs/<algorithm>/<hex>`. Names are
//! carried in annotations: `io.containerd.image.name` (the full reference, as containerd and
//! Docker 25+ write it) and `org.opencontainers.image.ref.name` (the tag).

use crate::reference::Reference;

/// The file name of the layout marker.
pub const LAYOUT: &str = "oci-layout";
/// The file name of the top-level index.
pub const INDEX: &str = "index.json";
/// The content of `oci-layout`.
pub const LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The image name an index entry's annotations give, if any: the full name, else a
/// `ref.name` that is a whole reference (a bare tag names no repository).
pub fn name_of(
    annotations: Option<&std::collections::HashMap<String, String>>,
) -> Option<Reference> {
    let a = annotations?;
    if let Some(r) = a
        .get(ANNOTATION_IMAGE_NAME)
        .and_then(|n| Reference::parse(n).ok())
    {
        return Some(r);
    }
    let n = a.get(ANNOTATION_REF_NAME)?;
    if !(n.contains('/') || n.contains(':')) {
        return None;
    }
    Reference::parse(n).ok().filter(|r| r.tag().is_some())
}

/// Annotations naming `r` in an index.
pub fn annotations_for(r: &Reference) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert(ANNOTATION_IMAGE_NAME.into(), r.to_string().into());
    if let Some(t) = r.tag() {
        m.insert(ANNOTATION_REF_NAME.into(), t.into());
    }
    serde_json::Value::Object(m)
}
