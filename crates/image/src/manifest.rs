//! Manifests, indexes and configs: OCI image manifest/index and Docker schema2 manifest/list
//! (schema1 is refused with a clear error), platform parsing and selection, chain IDs.

use crate::digest::{Digest, DigestError};
pub use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use std::fmt;

/// Media types tug reads and writes.
pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_FOREIGN_LAYER: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
}

/// The `Accept` header for manifest requests: every format tug can read.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Docker's legacy format.
    #[error("docker image manifest schema 1 is not supported: ask its author to push it as schema 2 or oci")]
    Schema1,
    /// A media type that is not an image manifest or index.
    #[error("unsupported manifest media type {0}")]
    UnsupportedMediaType(String),
    /// Not valid JSON for its type.
    #[error("invalid {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    /// A digest inside is malformed.
    #[error("invalid digest {0}: {1}")]
    Digest(String, DigestError),
    /// No manifest in the index matches the wanted platform.
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoMatchingPlatform(Platform),
    /// The platform string is malformed.
    #[error("\"{0}\": unknown operating system or architecture: invalid argument")]
    BadPlatform(String),
    /// The manifest and config disagree.
    #[error("config has {diff_ids} layer diff ids but the manifest has {layers} layers")]
    LayerCount { layers: usize, diff_ids: usize },
}

impl ManifestError {
    /// The kind of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            ManifestError::Schema1 | ManifestError::UnsupportedMediaType(_) => {
                crate::ErrorKind::Unsupported
            }
            ManifestError::NoMatchingPlatform(_) => crate::ErrorKind::NotFound,
            _ => crate::ErrorKind::Invalid,
        }
    }
}

type Result<T> = std::result::Result<T, ManifestError>;

/// A parsed manifest: one image, or an index of images per platform.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u32>,
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    layers: Option<serde_json::Value>,
}

impl Manifest {
    /// Parse manifest bytes; `content_type` is the registry's `Content-Type`, if known. The
    /// type is taken from it, else from the document's `mediaType`, else from its shape.
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<(Manifest, String)> {
        let probe: Probe = serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
            what: "manifest",
            source,
        })?;
        if probe.schema_version == Some(1) {
            return Err(ManifestError::Schema1);
        }
        let declared = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| !c.is_empty() && c != "application/json" && c != "text/plain")
            .or(probe.media_type.clone());
        let mt = match declared {
            Some(m) => m,
            None if probe.manifests.is_some() => media::OCI_INDEX.into(),
            None if probe.layers.is_some() => media::OCI_MANIFEST.into(),
            None => return Err(ManifestError::UnsupportedMediaType("(none)".into())),
        };
        let json = |what| move |source| ManifestError::Json { what, source };
        let m = match mt.as_str() {
            media::OCI_MANIFEST | media::DOCKER_MANIFEST => {
                Manifest::Image(serde_json::from_slice(bytes).map_err(json("image manifest"))?)
            }
            media::OCI_INDEX | media::DOCKER_LIST => {
                Manifest::Index(serde_json::from_slice(bytes).map_err(json("image index"))?)
            }
            media::DOCKER_SCHEMA1 | media::DOCKER_SCHEMA1_SIGNED => {
                return Err(ManifestError::Schema1)
            }
            other => return Err(ManifestError::UnsupportedMediaType(other.into())),
        };
        Ok((m, mt))
    }
}

/// Whether a media type is an index (OCI index or docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == media::OCI_INDEX || media_type == media::DOCKER_LIST
}

/// A descriptor's digest as ours.
pub fn digest_of(d: &Descriptor) -> Result<Digest> {
    let s = d.digest().to_string();
    s.parse().map_err(|e| ManifestError::Digest(s, e))
}

/// Parse an image config.
pub fn parse_config(bytes: &[u8]) -> Result<ImageConfiguration> {
    serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
        what: "image config",
        source,
    })
}

/// The layers' uncompressed digests (`rootfs.diff_ids`) of a config.
pub fn diff_ids(config: &ImageConfiguration) -> Result<Vec<Digest>> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|s| s.parse().map_err(|e| ManifestError::Digest(s.clone(), e)))
        .collect()
}

/// Chain IDs of a layer stack: `chain[0] = diff[0]`, `chain[n] = sha256(chain[n-1] + " " +
/// diff[n])`. A snapshot is identified by its chain ID, so equal stacks share snapshots.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// An OS/architecture/variant triple, as given to `--platform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// Normalise an architecture name and variant as containerd does.
fn normalize_arch(arch: &str, variant: Option<&str>) -> Option<(String, Option<String>)> {
    let v = variant.map(str::to_string);
    let (a, v) = match arch {
        "i386" | "386" => ("386", None),
        "x86_64" | "x86-64" | "amd64" => ("amd64", v.filter(|v| v != "v1")),
        "aarch64" | "arm64" => ("arm64", v.filter(|v| v != "8" && v != "v8")),
        "armhf" => ("arm", Some("v7".to_string())),
        "armel" => ("arm", Some("v6".to_string())),
        "arm" => (
            "arm",
            Some(match v.as_deref() {
                None | Some("7") | Some("v7") => "v7".into(),
                Some("5") | Some("v5") => "v5".into(),
                Some("6") | Some("v6") => "v6".into(),
                Some("8") | Some("v8") => "v8".into(),
                Some(other) => other.into(),
            }),
        ),
        "ppc64le" | "s390x" | "riscv64" | "mips64le" | "mips64" | "loong64" | "ppc64" | "mips"
        | "mipsle" | "wasm" => (arch, v),
        _ => return None,
    };
    Some((a.to_string(), v))
}

impl Platform {
    /// The platform of this machine (linux/amd64 on x86-64).
    pub fn host() -> Platform {
        let (architecture, variant) =
            normalize_arch(std::env::consts::ARCH, None).unwrap_or(("amd64".into(), None));
        Platform {
            os: "linux".into(),
            architecture,
            variant,
        }
    }

    /// Parse `os[/arch[/variant]]` or a bare architecture, normalising aliases
    /// (`x86_64` → `amd64`, `aarch64` → `arm64`, `arm` → `arm/v7`).
    pub fn parse(s: &str) -> Result<Platform> {
        let bad = || ManifestError::BadPlatform(s.to_string());
        let parts: Vec<String> = s.split('/').map(|p| p.to_lowercase()).collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(bad());
        }
        let host = Platform::host();
        let (os, arch, variant) = match parts.as_slice() {
            [one] if KNOWN_OS.contains(&one.as_str()) => (one.clone(), host.architecture, None),
            [one] => (host.os, one.clone(), None),
            [os, arch] => (os.clone(), arch.clone(), None),
            [os, arch, v] => (os.clone(), arch.clone(), Some(v.clone())),
            _ => return Err(bad()),
        };
        if !KNOWN_OS.contains(&os.as_str()) {
            return Err(bad());
        }
        let (architecture, variant) = normalize_arch(&arch, variant.as_deref()).ok_or_else(bad)?;
        Ok(Platform {
            os,
            architecture,
            variant,
        })
    }

    /// Whether an index entry's platform is this one (an unspecified variant here accepts
    /// any variant there).
    pub fn matches(&self, p: &oci_spec::image::Platform) -> bool {
        let Some((arch, variant)) =
            normalize_arch(&p.architecture().to_string(), p.variant().as_deref())
        else {
            return false;
        };
        p.os().to_string() == self.os
            && arch == self.architecture
            && (self.variant.is_none() || self.variant == variant)
    }

    /// Pick this platform's manifest from an index: an exact variant match first, then any
    /// match.
    pub fn select<'a>(&self, index: &'a ImageIndex) -> Result<&'a Descriptor> {
        let candidates: Vec<&Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| d.platform().as_ref().is_some_and(|p| self.matches(p)))
            .collect();
        let exact = candidates.iter().find(|d| {
            let p = d.platform().as_ref().expect("filtered on platform");
            normalize_arch(&p.architecture().to_string(), p.variant().as_deref())
                .is_some_and(|(_, v)| v == self.variant)
        });
        exact
            .or(candidates.first())
            .copied()
            .ok_or_else(|| ManifestError::NoMatchingPlatform(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn index_json(mt: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{mt}","manifests":[
            {{"mediaType":"{m}","digest":"{D1}","size":10,"platform":{{"os":"linux","architecture":"arm","variant":"v6"}}}},
            {{"mediaType":"{m}","digest":"{D2}","size":10,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"{m}","digest":"{D3}","size":10,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
            {{"mediaType":"{m}","digest":"{D1}","size":10,"platform":{{"os":"unknown","architecture":"unknown"}}}}]}}"#,
            m = media::DOCKER_MANIFEST
        )
    }

    #[test]
    fn parses_all_four_types_and_refuses_schema1() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{D1}","size":2}},"layers":[{{"mediaType":"{}","digest":"{D2}","size":3}}]}}"#,
            media::DOCKER_MANIFEST,
            media::DOCKER_CONFIG,
            media::DOCKER_LAYER_GZIP
        );
        let (m, mt) = Manifest::parse(None, manifest.as_bytes()).unwrap();
        assert_eq!(mt, media::DOCKER_MANIFEST);
        let Manifest::Image(m) = m else { panic!() };
        assert_eq!(digest_of(&m.layers()[0]).unwrap().to_string(), D2);
        let oci = manifest.replace(media::DOCKER_MANIFEST, media::OCI_MANIFEST);
        let (_, mt) = Manifest::parse(Some(media::OCI_MANIFEST), oci.as_bytes()).unwrap();
        assert_eq!(mt, media::OCI_MANIFEST);
        for t in [media::DOCKER_LIST, media::OCI_INDEX] {
            let (m, mt) = Manifest::parse(None, index_json(t).as_bytes()).unwrap();
            assert!(matches!(m, Manifest::Index(_)));
            assert!(is_index(&mt));
        }
        let s1 = r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let err = Manifest::parse(Some(media::DOCKER_SCHEMA1_SIGNED), s1.as_bytes()).unwrap_err();
        assert!(matches!(err, ManifestError::Schema1));
        assert!(err.to_string().contains("schema 1 is not supported"));
        let err = Manifest::parse(Some("text/html"), b"{}").unwrap_err();
        assert_eq!(err.to_string(), "unsupported manifest media type text/html");
        assert!(Manifest::parse(None, b"not json").is_err());
    }

    #[test]
    fn platform_parsing() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("amd64", "linux/amd64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/v6", "linux/arm/v6"),
            ("linux/armhf", "linux/arm/v7"),
            ("Linux/AMD64", "linux/amd64"),
            ("linux/386", "linux/386"),
            ("windows/amd64", "windows/amd64"),
        ];
        for (s, want) in cases {
            assert_eq!(Platform::parse(s).unwrap().to_string(), want, "{s}");
        }
        for bad in ["", "foo", "linux/", "linux/foo", "plan10/amd64", "a/b/c/d"] {
            let err = Platform::parse(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("\"{bad}\": unknown operating system or architecture: invalid argument")
            );
        }
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn platform_selection() {
        let (m, _) = Manifest::parse(None, index_json(media::OCI_INDEX).as_bytes()).unwrap();
        let Manifest::Index(ix) = m else { panic!() };
        let pick = |s: &str| {
            Platform::parse(s)
                .unwrap()
                .select(&ix)
                .map(|d| d.digest().to_string())
        };
        assert_eq!(pick("linux/amd64").unwrap(), D2);
        assert_eq!(pick("linux/arm64").unwrap(), D3);
        assert_eq!(pick("linux/arm/v6").unwrap(), D1);
        let err = pick("linux/arm/v7").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no matching manifest for linux/arm/v7 in the manifest list entries"
        );
        assert!(pick("linux/s390x").is_err());
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a: Digest = D1.parse().unwrap();
        let b: Digest = D2.parse().unwrap();
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::sha256(format!("{a} {b}").as_bytes()));
    }
}
