//! Which endpoint a path names. Repository names contain '/', so routes are matched on their
//! last segments.

use super::http::percent_decode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping,
    Catalog,
    Token,
    Tags { name: String },
    Manifest { name: String, reference: String },
    Blob { name: String, digest: String },
    Uploads { name: String },
    Upload { name: String, id: String },
    Referrers { name: String, digest: String },
}

pub fn parse(path: &str) -> Option<Route> {
    match path {
        "/v2" | "/v2/" => return Some(Route::Ping),
        "/token" | "/token/" => return Some(Route::Token),
        "/v2/_catalog" => return Some(Route::Catalog),
        _ => {}
    }
    let rest = path.strip_prefix("/v2/")?;
    let segs: Vec<String> = rest.split('/').map(|s| percent_decode(s, false)).collect();
    let n = segs.len();
    let name = |k: usize| (n > k).then(|| segs[..n - k].join("/"));
    let tail: Vec<&str> = segs
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(String::as_str)
        .collect();
    let last2 = &tail[tail.len().saturating_sub(2)..];
    if tail.len() == 3 && tail[0] == "blobs" && tail[1] == "uploads" {
        let name = name(3)?;
        return Some(if tail[2].is_empty() {
            Route::Uploads { name }
        } else {
            Route::Upload {
                name,
                id: tail[2].to_string(),
            }
        });
    }
    if last2.len() < 2 {
        return None;
    }
    let (kind, arg) = (last2[0], last2[1].to_string());
    let name = name(2)?;
    match kind {
        "blobs" if arg == "uploads" => Some(Route::Uploads { name }),
        "blobs" => Some(Route::Blob { name, digest: arg }),
        "tags" if arg == "list" => Some(Route::Tags { name }),
        "manifests" => Some(Route::Manifest {
            name,
            reference: arg,
        }),
        "referrers" => Some(Route::Referrers { name, digest: arg }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse("/v2/"), Some(Route::Ping));
        assert_eq!(
            parse("/v2/a/b/blobs/uploads/"),
            Some(Route::Uploads { name: "a/b".into() })
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads/xyz"),
            Some(Route::Upload {
                name: "a".into(),
                id: "xyz".into()
            })
        );
        assert_eq!(
            parse("/v2/a/manifests/sha256%3Aab"),
            Some(Route::Manifest {
                name: "a".into(),
                reference: "sha256:ab".into()
            })
        );
        assert_eq!(
            parse("/v2/x/y/tags/list"),
            Some(Route::Tags { name: "x/y".into() })
        );
        assert_eq!(
            parse("/v2/blobs/blobs/d"),
            Some(Route::Blob {
                name: "blobs".into(),
                digest: "d".into()
            })
        );
        assert_eq!(parse("/v2/manifests/x"), None);
        assert_eq!(parse("/v3/"), None);
        assert_eq!(parse("/v2/a/other/x"), None);
    }
}
