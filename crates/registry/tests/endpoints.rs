//! Every endpoint of the distribution spec over raw HTTP, with its error paths.

mod common;

use common::*;
use registry::digest::{Algorithm, Digest};
use registry::Config;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn server() -> Server {
    Server::start(Config::default())
}

#[test]
fn ping_and_unknown_routes() {
    let s = server();
    let r = request(s.addr(), "GET", "/v2/", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let r = request(s.addr(), "GET", "/v3/x", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "UNSUPPORTED"));
    let r = request(s.addr(), "POST", "/v2/a/tags/list", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (405, "UNSUPPORTED"));
    let r = request(s.addr(), "GET", "/v2/Bad_Name/tags/list", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "NAME_INVALID"));
}

#[test]
fn blobs_get_head_range_delete() {
    let s = server();
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let d = push_blob(s.addr(), "a/b", &data);
    let path = format!("/v2/a/b/blobs/{d}");
    let r = request(s.addr(), "HEAD", &path, &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1000"));
    assert_eq!(
        r.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );
    assert!(r.body.is_empty());
    let r = request(s.addr(), "GET", &path, &[], b"");
    assert_eq!((r.status, &r.body), (200, &data));
    let r = request(s.addr(), "GET", &path, &[("Range", "bytes=10-19")], b"");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/1000"));
    let r = request(s.addr(), "GET", &path, &[("Range", "bytes=-5")], b"");
    assert_eq!((r.status, &r.body[..]), (206, &data[995..]));
    let r = request(s.addr(), "GET", &path, &[("Range", "bytes=1000-")], b"");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    // Another repository does not see it; a bad digest is a client error.
    let r = request(s.addr(), "GET", &format!("/v2/other/blobs/{d}"), &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
    for bad in [
        "sha256:xyz",
        "nodigest",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    ] {
        let r = request(s.addr(), "GET", &format!("/v2/a/b/blobs/{bad}"), &[], b"");
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "DIGEST_INVALID"),
            "{bad}"
        );
    }
    let r = request(s.addr(), "DELETE", &path, &[], b"");
    assert_eq!(r.status, 202);
    let r = request(s.addr(), "HEAD", &path, &[], b"");
    assert_eq!(r.status, 404);
    let r = request(s.addr(), "DELETE", &path, &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
}

#[test]
fn single_post_upload_and_sha512() {
    let s = server();
    let data = b"single post".to_vec();
    let d = sha256(&data);
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/r/blobs/uploads/?digest={d}"),
        &[],
        &data,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/r/blobs/{d}").as_str())
    );
    let d512 = Digest::of(Algorithm::Sha512, &data);
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/r/blobs/uploads/?digest={d512}"),
        &[],
        &data,
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = request(s.addr(), "GET", &format!("/v2/r/blobs/{d512}"), &[], b"");
    assert_eq!((r.status, r.body), (200, data.clone()));
    let wrong = sha256(b"something else");
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/r/blobs/uploads/?digest={wrong}"),
        &[],
        &data,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(
        request(s.addr(), "HEAD", &format!("/v2/r/blobs/{wrong}"), &[], b"").status,
        404
    );
    let r = request(
        s.addr(),
        "POST",
        "/v2/r/blobs/uploads/?digest=sha256:nothex",
        &[],
        &data,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
}

fn start_upload(s: &Server, repo: &str) -> String {
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(r.status, 202);
    assert_eq!(r.header("range"), Some("0-0"));
    assert!(r.header("docker-upload-uuid").is_some());
    r.header("location").unwrap().to_string()
}

#[test]
fn chunked_upload_in_order_out_of_order_status_and_finish() {
    let s = server();
    let data: Vec<u8> = (0..30u8).collect();
    let loc = start_upload(&s, "c");
    let r = request(
        s.addr(),
        "PATCH",
        &loc,
        &[("Content-Range", "0-9")],
        &data[..10],
    );
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.header("range"), Some("0-9"));
    let loc = r.header("location").unwrap().to_string();
    // A chunk that skips ahead or repeats: 416 and the upload is unchanged.
    for range in ["20-29", "0-9", "5-14"] {
        let (a, b): (usize, usize) = {
            let (a, b) = range.split_once('-').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        };
        let r = request(
            s.addr(),
            "PATCH",
            &loc,
            &[("Content-Range", range)],
            &data[a..=b],
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (416, "BLOB_UPLOAD_INVALID"),
            "{range}"
        );
        assert_eq!(r.header("range"), Some("0-9"));
    }
    // Content-Range and the body disagree: 400, nothing appended.
    let r = request(
        s.addr(),
        "PATCH",
        &loc,
        &[("Content-Range", "10-19")],
        &data[10..15],
    );
    assert_eq!((r.status, r.code().as_str()), (400, "BLOB_UPLOAD_INVALID"));
    let r = request(s.addr(), "GET", &loc, &[], b"");
    assert_eq!((r.status, r.header("range")), (204, Some("0-9")));
    // A streamed chunk (no Content-Range, chunked transfer encoding).
    let body = format!(
        "a\r\n{}\r\n0\r\n\r\n",
        String::from_utf8_lossy(&data[10..20])
    );
    let r = request(
        s.addr(),
        "PATCH",
        &loc,
        &[("Transfer-Encoding", "chunked")],
        body.as_bytes(),
    );
    assert_eq!((r.status, r.header("range")), (202, Some("0-19")), "{r:?}");
    // PUT without a digest, then with the last chunk and the digest.
    let r = request(s.addr(), "PUT", &loc, &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let d = sha256(&data);
    let r = request(
        s.addr(),
        "PUT",
        &format!("{loc}?digest={d}"),
        &[("Content-Range", "20-29")],
        &data[20..],
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );
    let r = request(s.addr(), "GET", &format!("/v2/c/blobs/{d}"), &[], b"");
    assert_eq!(r.body, data);
    // The finished upload is gone.
    let r = request(s.addr(), "GET", &loc, &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
}

#[test]
fn upload_unknown_cancel_wrong_repo_and_digest_mismatch() {
    let s = server();
    for m in ["GET", "PATCH", "PUT", "DELETE"] {
        let r = request(
            s.addr(),
            m,
            "/v2/c/blobs/uploads/0123abcd?digest=sha256:00",
            &[],
            b"",
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (404, "BLOB_UPLOAD_UNKNOWN"),
            "{m}"
        );
    }
    let r = request(
        s.addr(),
        "GET",
        "/v2/c/blobs/uploads/..%2F..%2Fetc",
        &[],
        b"",
    );
    assert_eq!(r.status, 404);
    let loc = start_upload(&s, "c");
    let other = loc.replace("/v2/c/", "/v2/d/");
    let r = request(s.addr(), "PATCH", &other, &[], b"xx");
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
    let r = request(s.addr(), "DELETE", &loc, &[], b"");
    assert_eq!(r.status, 204);
    let r = request(s.addr(), "GET", &loc, &[], b"");
    assert_eq!(r.status, 404);
    let loc = start_upload(&s, "c");
    let wrong = sha256(b"not this");
    let r = request(
        s.addr(),
        "PUT",
        &format!("{loc}?digest={wrong}"),
        &[],
        b"this",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(
        request(s.addr(), "HEAD", &format!("/v2/c/blobs/{wrong}"), &[], b"").status,
        404
    );
    assert_eq!(
        request(
            s.addr(),
            "HEAD",
            &format!("/v2/c/blobs/{}", sha256(b"this")),
            &[],
            b""
        )
        .status,
        404
    );
}

#[test]
fn cross_repository_mount() {
    let s = server();
    let d = push_blob(s.addr(), "src", b"shared layer");
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/dst/blobs/uploads/?mount={d}&from=src"),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/dst/blobs/{d}").as_str())
    );
    assert_eq!(
        request(s.addr(), "GET", &format!("/v2/dst/blobs/{d}"), &[], b"").body,
        b"shared layer"
    );
    // Without `from`: mounted from wherever it is.
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/third/blobs/uploads/?mount={d}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 201);
    // A blob the source does not have: an ordinary upload starts instead.
    let missing = sha256(b"missing");
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/dst/blobs/uploads/?mount={missing}&from=src"),
        &[],
        b"",
    );
    assert_eq!(r.status, 202);
    assert!(r.header("location").unwrap().contains("/blobs/uploads/"));
    // One copy on disk.
    let copies = walk(&s.root.path().join("blobs"))
        .into_iter()
        .filter(|p| p.ends_with(d.hex()))
        .count();
    assert_eq!(copies, 1);
}

pub fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[test]
fn manifests_put_get_head_delete() {
    let s = server();
    let m = push_image(s.addr(), "img", "v1", b"layer");
    let r = request(s.addr(), "GET", "/v2/img/manifests/v1", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
    assert_eq!(
        r.header("docker-content-digest"),
        Some(m.to_string().as_str())
    );
    assert_eq!(sha256(&r.body), m);
    let r2 = request(s.addr(), "GET", &format!("/v2/img/manifests/{m}"), &[], b"");
    assert_eq!(r2.body, r.body);
    let h = request(s.addr(), "HEAD", "/v2/img/manifests/v1", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(
        h.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    // Same manifest by digest under a Docker media type taken from Content-Type.
    let mut v = r.json();
    v.as_object_mut().unwrap().remove("mediaType");
    let docker = serde_json::to_vec(&v).unwrap();
    let dd = sha256(&docker);
    let dt = "application/vnd.docker.distribution.manifest.v2+json";
    let r = request(
        s.addr(),
        "PUT",
        &format!("/v2/img/manifests/{dd}"),
        &[("Content-Type", dt)],
        &docker,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/img/manifests/{dd}").as_str())
    );
    let r = request(
        s.addr(),
        "GET",
        &format!("/v2/img/manifests/{dd}"),
        &[],
        b"",
    );
    assert_eq!(r.header("content-type"), Some(dt));
    // sha512 manifest digests.
    let d512 = Digest::of(Algorithm::Sha512, &docker);
    let r = request(
        s.addr(),
        "PUT",
        &format!("/v2/img/manifests/{d512}"),
        &[("Content-Type", dt)],
        &docker,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        request(
            s.addr(),
            "GET",
            &format!("/v2/img/manifests/{d512}"),
            &[],
            b""
        )
        .body,
        docker
    );
    // Delete by tag, then by digest.
    assert_eq!(
        request(s.addr(), "DELETE", "/v2/img/manifests/v1", &[], b"").status,
        202
    );
    let r = request(s.addr(), "GET", "/v2/img/manifests/v1", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
    assert_eq!(
        request(s.addr(), "GET", &format!("/v2/img/manifests/{m}"), &[], b"").status,
        200
    );
    assert_eq!(
        request(
            s.addr(),
            "DELETE",
            &format!("/v2/img/manifests/{m}"),
            &[],
            b""
        )
        .status,
        202
    );
    assert_eq!(
        request(s.addr(), "GET", &format!("/v2/img/manifests/{m}"), &[], b"").status,
        404
    );
    let r = request(
        s.addr(),
        "DELETE",
        &format!("/v2/img/manifests/{m}"),
        &[],
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
}

#[test]
fn manifest_errors() {
    let s = Server::start(config(r#"{"max_manifest_bytes": 2000}"#));
    let m = push_image(s.addr(), "img", "v1", b"layer");
    let good = request(s.addr(), "GET", &format!("/v2/img/manifests/{m}"), &[], b"").body;
    let put = |reference: &str, ct: Option<&str>, body: &[u8]| {
        let h: Vec<(&str, &str)> = ct.map(|c| vec![("Content-Type", c)]).unwrap_or_default();
        request(
            s.addr(),
            "PUT",
            &format!("/v2/img/manifests/{reference}"),
            &h,
            body,
        )
    };
    type Case<'a> = (String, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "t".into(),
            Some(OCI_MANIFEST),
            b"not json".to_vec(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "t".into(),
            Some(OCI_MANIFEST),
            br#"{"schemaVersion":2}"#.to_vec(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "t".into(),
            None,
            br#"{"schemaVersion":2,"config":{},"layers":[]}"#.to_vec(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "t".into(),
            Some("text/plain"),
            good.clone(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "bad:tag!".into(),
            Some(OCI_MANIFEST),
            good.clone(),
            400,
            "DIGEST_INVALID",
        ),
        (
            ".bad".into(),
            Some(OCI_MANIFEST),
            good.clone(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            sha256(b"other").to_string(),
            Some(OCI_MANIFEST),
            good.clone(),
            400,
            "DIGEST_INVALID",
        ),
        (
            "t".into(),
            Some(OCI_MANIFEST),
            vec![b' '; 3000],
            413,
            "SIZE_INVALID",
        ),
    ];
    for (reference, ct, body, status, code) in cases {
        let r = put(&reference, ct, &body);
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{reference} {ct:?}"
        );
    }
    // References to blobs and manifests the repository lacks.
    let unknown = sha256(b"never pushed");
    let m = image_manifest(&unknown, 12, &[]);
    let r = put("t", Some(OCI_MANIFEST), &m);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    assert_eq!(
        r.json()["errors"][0]["detail"]["digest"],
        unknown.to_string()
    );
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": unknown.to_string(), "size": 1}]})).unwrap();
    let r = put("idx", None, &index);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    // GET of what is not there.
    let r = request(s.addr(), "GET", "/v2/img/manifests/nope", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
    let r = request(s.addr(), "GET", "/v2/img/manifests/sha256:abc", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = request(s.addr(), "DELETE", "/v2/img/manifests/nope", &[], b"");
    assert_eq!(r.status, 404);
}

#[test]
fn index_of_pushed_manifests() {
    let s = server();
    let a = push_image(s.addr(), "multi", "a", b"amd64 layer");
    let a_len = request(
        s.addr(),
        "GET",
        &format!("/v2/multi/manifests/{a}"),
        &[],
        b"",
    )
    .body
    .len();
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": a.to_string(), "size": a_len, "platform": {"architecture": "amd64", "os": "linux"}}]})).unwrap();
    let r = request(
        s.addr(),
        "PUT",
        "/v2/multi/manifests/latest",
        &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
        &index,
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = request(s.addr(), "GET", "/v2/multi/manifests/latest", &[], b"");
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
    assert_eq!(r.body, index);
}

#[test]
fn tags_and_catalog_pagination() {
    let s = server();
    for t in ["e", "a", "c", "b", "d"] {
        push_image(s.addr(), "pag", t, b"l");
    }
    let r = request(s.addr(), "GET", "/v2/pag/tags/list", &[], b"");
    assert_eq!(
        r.json()["tags"],
        serde_json::json!(["a", "b", "c", "d", "e"])
    );
    assert_eq!(r.json()["name"], "pag");
    assert!(r.header("link").is_none());
    let r = request(s.addr(), "GET", "/v2/pag/tags/list?n=2", &[], b"");
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(
        r.header("link"),
        Some("</v2/pag/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let r = request(s.addr(), "GET", "/v2/pag/tags/list?n=2&last=b", &[], b"");
    assert_eq!(r.json()["tags"], serde_json::json!(["c", "d"]));
    let r = request(s.addr(), "GET", "/v2/pag/tags/list?n=2&last=d", &[], b"");
    assert_eq!(r.json()["tags"], serde_json::json!(["e"]));
    assert!(r.header("link").is_none());
    let r = request(s.addr(), "GET", "/v2/pag/tags/list?n=0", &[], b"");
    assert_eq!(r.json()["tags"], serde_json::json!([]));
    let r = request(s.addr(), "GET", "/v2/pag/tags/list?n=x", &[], b"");
    assert_eq!(r.status, 400);
    let r = request(s.addr(), "GET", "/v2/nothere/tags/list", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NAME_UNKNOWN"));
    for repo in ["z/one", "b", "a/x/y"] {
        push_image(s.addr(), repo, "t", b"l");
    }
    let r = request(s.addr(), "GET", "/v2/_catalog", &[], b"");
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["a/x/y", "b", "pag", "z/one"])
    );
    let r = request(s.addr(), "GET", "/v2/_catalog?n=3", &[], b"");
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["a/x/y", "b", "pag"])
    );
    assert_eq!(
        r.header("link"),
        Some("</v2/_catalog?n=3&last=pag>; rel=\"next\"")
    );
    let r = request(s.addr(), "GET", "/v2/_catalog?n=3&last=pag", &[], b"");
    assert_eq!(r.json()["repositories"], serde_json::json!(["z/one"]));
}

#[test]
fn referrers_with_subject_and_artifact_type() {
    let s = server();
    let subject = push_image(s.addr(), "app", "v1", b"app layer");
    let subject_len = request(s.addr(), "GET", "/v2/app/manifests/v1", &[], b"")
        .body
        .len();
    let empty = push_blob(s.addr(), "app", b"{}");
    let artifact = |kind: &str| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject.to_string(), "size": subject_len},
            "annotations": {"kind": kind},
        }))
        .unwrap()
    };
    let sig = artifact("application/vnd.example.sig");
    let sbom = artifact("application/vnd.example.sbom");
    for m in [&sig, &sbom] {
        let r = request(
            s.addr(),
            "PUT",
            &format!("/v2/app/manifests/{}", sha256(m)),
            &[("Content-Type", OCI_MANIFEST)],
            m,
        );
        assert_eq!(r.status, 201, "{r:?}");
        assert_eq!(r.header("oci-subject"), Some(subject.to_string().as_str()));
    }
    let r = request(
        s.addr(),
        "GET",
        &format!("/v2/app/referrers/{subject}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let v = r.json();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    assert!(r.header("oci-filters-applied").is_none());
    let r = request(
        s.addr(),
        "GET",
        &format!("/v2/app/referrers/{subject}?artifactType=application/vnd.example.sig"),
        &[],
        b"",
    );
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let list = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], sha256(&sig).to_string());
    assert_eq!(list[0]["size"], sig.len());
    assert_eq!(list[0]["artifactType"], "application/vnd.example.sig");
    assert_eq!(
        list[0]["annotations"]["kind"],
        "application/vnd.example.sig"
    );
    // A subject nobody refers to, and a subject that is not (yet) pushed: empty lists.
    let none = sha256(b"nobody");
    let r = request(
        s.addr(),
        "GET",
        &format!("/v2/app/referrers/{none}"),
        &[],
        b"",
    );
    assert_eq!(
        (r.status, r.json()["manifests"].as_array().unwrap().len()),
        (200, 0)
    );
    let r = request(s.addr(), "GET", "/v2/app/referrers/sha256:bad", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    // Deleting a referrer removes it from the list.
    assert_eq!(
        request(
            s.addr(),
            "DELETE",
            &format!("/v2/app/manifests/{}", sha256(&sig)),
            &[],
            b""
        )
        .status,
        202
    );
    let r = request(
        s.addr(),
        "GET",
        &format!("/v2/app/referrers/{subject}"),
        &[],
        b"",
    );
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
}
