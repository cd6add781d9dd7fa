//! Basic auth from htpasswd and bearer tokens from the registry's own token endpoint, with
//! per-repository rules, over raw HTTP.

mod common;

use common::*;

const RULES: &str = r#"[
    {"repository": "*", "users": ["alice"], "actions": ["*"]},
    {"repository": "public/*", "users": ["anonymous", "*"], "actions": ["pull"]},
    {"repository": "bob/*", "users": ["bob"], "actions": ["pull", "push"]}
]"#;

fn auth_server(dir: &std::path::Path, token: bool) -> Server {
    let h = htpasswd(dir, &[("alice", "wonder"), ("bob", "builder")]);
    let token = if token {
        r#","token": {"service": "tug-test"}"#
    } else {
        ""
    };
    Server::start(config(&format!(
        r#"{{"auth": {{"htpasswd": "{}"{token}}}, "access": {RULES}}}"#,
        h.display()
    )))
}

#[test]
fn basic_auth_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let s = auth_server(dir.path(), false);
    let alice = basic("alice", "wonder");
    let bob = basic("bob", "builder");
    let r = request(s.addr(), "GET", "/v2/", &[], b"");
    assert_eq!(
        r.status, 200,
        "anonymous users have some access, so the ping answers"
    );
    let r = request(s.addr(), "GET", "/v2/private/tags/list", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"tug-registry\"")
    );
    let wrong = basic("alice", "nope");
    let r = request(s.addr(), "GET", "/v2/", &[("Authorization", &wrong)], b"");
    assert_eq!(r.status, 401);
    let r = request(
        s.addr(),
        "GET",
        "/v2/",
        &[("Authorization", "Basic !!!")],
        b"",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        request(s.addr(), "GET", "/v2/", &[("Authorization", &alice)], b"").status,
        200
    );
    // alice pushes anywhere; bob only under bob/; anonymous pulls public/ only.
    let r = request(
        s.addr(),
        "POST",
        "/v2/public/x/blobs/uploads/",
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(r.status, 202);
    let d = sha256(b"pub");
    let r = request(
        s.addr(),
        "PUT",
        &format!("{}?digest={d}", r.header("location").unwrap()),
        &[("Authorization", &alice)],
        b"pub",
    );
    assert_eq!(r.status, 201);
    let r = request(
        s.addr(),
        "GET",
        &format!("/v2/public/x/blobs/{d}"),
        &[],
        b"",
    );
    assert_eq!((r.status, r.body.as_slice()), (200, &b"pub"[..]));
    let r = request(
        s.addr(),
        "POST",
        "/v2/public/x/blobs/uploads/",
        &[("Authorization", &bob)],
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (403, "DENIED"));
    let r = request(s.addr(), "POST", "/v2/public/x/blobs/uploads/", &[], b"");
    assert_eq!(r.status, 401);
    let r = request(
        s.addr(),
        "POST",
        "/v2/bob/app/blobs/uploads/",
        &[("Authorization", &bob)],
        b"",
    );
    assert_eq!(r.status, 202);
    let r = request(
        s.addr(),
        "GET",
        "/v2/_catalog",
        &[("Authorization", &bob)],
        b"",
    );
    assert_eq!(r.status, 403);
    let r = request(
        s.addr(),
        "GET",
        "/v2/_catalog",
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(r.status, 200);
    // bob may mount only from where he may pull: from private/ an upload starts instead.
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/bob/app/blobs/uploads/?mount={d}&from=public/x"),
        &[("Authorization", &bob)],
        b"",
    );
    assert_eq!(r.status, 201);
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/bob/app/blobs/uploads/?mount={d}"),
        &[("Authorization", &bob)],
        b"",
    );
    assert_eq!(
        r.status, 202,
        "bob cannot pull everything, so no mount without from"
    );
}

fn token(s: &Server, auth: Option<&str>, scope: &str) -> Resp {
    let h: Vec<(&str, &str)> = auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
    request(
        s.addr(),
        "GET",
        &format!("/token?service=tug-test&scope={scope}"),
        &h,
        b"",
    )
}

#[test]
fn bearer_token_flow() {
    let dir = tempfile::tempdir().unwrap();
    let s = auth_server(dir.path(), true);
    let r = request(s.addr(), "GET", "/v2/", &[], b"");
    assert_eq!(r.status, 401);
    let want = format!(
        "Bearer realm=\"http://{}/token\",service=\"tug-test\"",
        s.host()
    );
    assert_eq!(r.header("www-authenticate"), Some(want.as_str()));
    let r = request(s.addr(), "POST", "/v2/bob/app/blobs/uploads/", &[], b"");
    let c = r.header("www-authenticate").unwrap();
    assert!(
        c.ends_with(",scope=\"repository:bob/app:pull,push\""),
        "{c}"
    );
    // A wrong password gets no token.
    assert_eq!(
        token(&s, Some(&basic("bob", "x")), "repository:bob/app:pull,push").status,
        401
    );
    // bob gets what he asked for under bob/, only pull under public/, nothing elsewhere.
    let bob = basic("bob", "builder");
    let t = token(&s, Some(&bob), "repository:bob/app:pull,push");
    assert_eq!(t.status, 200);
    let tok = t.json()["token"].as_str().unwrap().to_string();
    assert_eq!(t.json()["access_token"].as_str(), Some(tok.as_str()));
    let bearer = format!("Bearer {tok}");
    assert_eq!(
        request(s.addr(), "GET", "/v2/", &[("Authorization", &bearer)], b"").status,
        200
    );
    let d = sha256(b"bob's");
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/bob/app/blobs/uploads/?digest={d}"),
        &[("Authorization", &bearer)],
        b"bob's",
    );
    assert_eq!(r.status, 201, "{r:?}");
    // The token does not cover another repository: 401 insufficient_scope.
    let r = request(
        s.addr(),
        "GET",
        "/v2/other/tags/list",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"insufficient_scope\""));
    let t = token(&s, Some(&bob), "repository:public/x:pull,push");
    let access = &t.json()["token"];
    let bearer2 = format!("Bearer {}", access.as_str().unwrap());
    assert_eq!(
        request(
            s.addr(),
            "GET",
            "/v2/public/x/tags/list",
            &[("Authorization", &bearer2)],
            b""
        )
        .status,
        404
    );
    assert_eq!(
        request(
            s.addr(),
            "POST",
            "/v2/public/x/blobs/uploads/",
            &[("Authorization", &bearer2)],
            b""
        )
        .status,
        401
    );
    // Anonymous tokens: pull under public/ only.
    let anon = token(&s, None, "repository:public/x:pull");
    let b = format!("Bearer {}", anon.json()["token"].as_str().unwrap());
    assert_eq!(
        request(
            s.addr(),
            "GET",
            "/v2/public/x/tags/list",
            &[("Authorization", &b)],
            b""
        )
        .status,
        404
    );
    // A forged or garbled token is refused.
    let forged = format!("Bearer {}x", tok);
    assert_eq!(
        request(s.addr(), "GET", "/v2/", &[("Authorization", &forged)], b"").status,
        401
    );
    let r = request(
        s.addr(),
        "GET",
        "/v2/bob/app/tags/list",
        &[("Authorization", "Bearer garbage")],
        b"",
    );
    assert_eq!(r.status, 401);
}
