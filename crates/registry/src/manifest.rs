//! Manifests and indexes (OCI and Docker media types): what the registry checks and what it
//! needs from them (the blobs and child manifests they reference, their subject, artifact type).

use crate::digest::Digest;
use serde_json::{json, Value};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest's error.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest: not JSON: {0}")]
    Json(String),
    #[error("manifest: no mediaType field and no Content-Type")]
    NoMediaType,
    #[error("manifest: media type {0:?} is not a manifest or index type")]
    UnknownMediaType(String),
    #[error("manifest: mediaType {body:?} differs from Content-Type {header:?}")]
    MediaTypeMismatch { body: String, header: String },
    #[error("manifest: schemaVersion must be 2")]
    SchemaVersion,
    #[error("manifest: {0}")]
    Field(String),
}

/// What the registry needs to know about a manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// Config and layers that must be in the repository (layers with `urls` excepted).
    pub blobs: Vec<Digest>,
    /// Manifests an index lists.
    pub children: Vec<Digest>,
    pub annotations: Option<Value>,
}

impl Manifest {
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }

    /// This manifest as a descriptor in a referrers list.
    pub fn referrer_descriptor(&self, digest: &Digest, size: u64) -> Value {
        let mut d =
            json!({"mediaType": self.media_type, "digest": digest.to_string(), "size": size});
        if let Some(a) = &self.artifact_type {
            d["artifactType"] = json!(a);
        }
        if let Some(a) = &self.annotations {
            d["annotations"] = a.clone();
        }
        d
    }
}

fn media_type_of_header(content_type: Option<&str>) -> Option<String> {
    let ct = content_type?.split(';').next()?.trim();
    (!ct.is_empty()).then(|| ct.to_string())
}

/// Parses and checks a manifest; one without a `mediaType` field takes it from `content_type`.
pub fn parse(data: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    let v: Value = serde_json::from_slice(data).map_err(|e| ManifestError::Json(e.to_string()))?;
    if !v.is_object() {
        return Err(ManifestError::Json("not an object".into()));
    }
    let header = media_type_of_header(content_type);
    let body = v
        .get("mediaType")
        .and_then(Value::as_str)
        .map(str::to_string);
    let media_type = match (body, header) {
        (Some(b), Some(h)) if b != h => {
            return Err(ManifestError::MediaTypeMismatch { body: b, header: h })
        }
        (Some(b), _) => b,
        (None, Some(h)) => h,
        (None, None) => return Err(ManifestError::NoMediaType),
    };
    if v.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(ManifestError::SchemaVersion);
    }
    let mut m = Manifest {
        media_type: media_type.clone(),
        artifact_type: v
            .get("artifactType")
            .and_then(Value::as_str)
            .map(str::to_string),
        subject: match v.get("subject") {
            Some(s) => Some(descriptor_digest(s, "subject")?),
            None => None,
        },
        blobs: Vec::new(),
        children: Vec::new(),
        annotations: v.get("annotations").filter(|a| a.is_object()).cloned(),
    };
    match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => image_manifest(&v, &mut m)?,
        OCI_INDEX | DOCKER_LIST => {
            for c in array(&v, "manifests")? {
                m.children.push(descriptor_digest(c, "manifests[]")?);
            }
        }
        other => return Err(ManifestError::UnknownMediaType(other.to_string())),
    }
    Ok(m)
}

fn image_manifest(v: &Value, m: &mut Manifest) -> Result<(), ManifestError> {
    let config = v
        .get("config")
        .ok_or_else(|| ManifestError::Field("config missing".into()))?;
    m.blobs.push(descriptor_digest(config, "config")?);
    if m.artifact_type.is_none() {
        m.artifact_type = config
            .get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    for l in array(v, "layers")? {
        let d = descriptor_digest(l, "layers[]")?;
        let foreign = l
            .get("urls")
            .and_then(Value::as_array)
            .is_some_and(|u| !u.is_empty());
        if !foreign {
            m.blobs.push(d);
        }
    }
    Ok(())
}

fn array<'a>(v: &'a Value, field: &str) -> Result<&'a Vec<Value>, ManifestError> {
    v.get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| ManifestError::Field(format!("{field} missing or not an array")))
}

fn descriptor_digest(d: &Value, what: &str) -> Result<Digest, ManifestError> {
    let s = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| ManifestError::Field(format!("{what}: descriptor without a digest")))?;
    if d.get("size").and_then(Value::as_i64).is_none_or(|n| n < 0) {
        return Err(ManifestError::Field(format!(
            "{what}: descriptor without a valid size"
        )));
    }
    s.parse()
        .map_err(|e| ManifestError::Field(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn media_type_from_body_or_header() {
        let body = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x/y","digest":"{D}","size":0}},"layers":[]}}"#
        );
        let m = parse(body.as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(m.artifact_type.as_deref(), Some("x/y"));
        assert!(matches!(
            parse(body.as_bytes(), None),
            Err(ManifestError::NoMediaType)
        ));
        let mismatch = body.replacen('{', &format!(r#"{{"mediaType":"{OCI_MANIFEST}","#), 1);
        assert!(matches!(
            parse(mismatch.as_bytes(), Some(DOCKER_MANIFEST)),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_bad_manifests() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"schemaVersion":1}"#,
            r#"{"schemaVersion":2,"layers":[]}"#,
        ] {
            assert!(parse(bad.as_bytes(), Some(OCI_MANIFEST)).is_err(), "{bad}");
        }
        let bad_digest = r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:00","size":1}]}"#;
        assert!(parse(bad_digest.as_bytes(), Some(OCI_INDEX)).is_err());
    }
}
