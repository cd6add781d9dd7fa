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
    // The catalog lists only what the caller may pull: bob sees public/ and bob/, not the rest.
    for (repo, who) in [("private/y", &alice), ("bob/app", &bob)] {
        let d = sha256(repo.as_bytes());
        let r = request(
            s.addr(),
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            &[("Authorization", who)],
            repo.as_bytes(),
        );
        assert_eq!(r.status, 201, "{r:?}");
    }
    let r = request(
        s.addr(),
        "GET",
        "/v2/_catalog",
        &[("Authorization", &bob)],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["bob/app", "public/x"])
    );
    let r = request(s.addr(), "GET", "/v2/_catalog", &[], b"");
    assert_eq!(r.json()["repositories"], serde_json::json!(["public/x"]));
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

fn form(s: &Server, body: &str) -> Resp {
    request(
        s.addr(),
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

/// The OAuth2 `POST /token` docker's client uses with an identity token: a login (`GET` with
/// `offline_token=true`) hands out a refresh token, which then buys access tokens by `POST`
/// (`grant_type=refresh_token`); `grant_type=password` works too. Refresh tokens are no access
/// tokens, and a token's catalog shows only what its user may pull.
#[test]
fn oauth_post_and_refresh_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let s = auth_server(dir.path(), true);
    let bob = basic("bob", "builder");
    // A login: no scope, an offline token asked for.
    let r = request(
        s.addr(),
        "GET",
        "/token?service=tug-test&client_id=docker&offline_token=true",
        &[("Authorization", &bob)],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_string();
    // Anonymous callers get no refresh token.
    let r = request(
        s.addr(),
        "GET",
        "/token?service=tug-test&offline_token=true",
        &[],
        b"",
    );
    assert!(r.json().get("refresh_token").is_none());
    // The refresh token is not an access token.
    let r = request(
        s.addr(),
        "GET",
        "/v2/",
        &[("Authorization", &format!("Bearer {refresh}"))],
        b"",
    );
    assert_eq!(r.status, 401);
    // It buys access tokens, as far as bob's rules go.
    let r = form(
        &s,
        &format!(
            "grant_type=refresh_token&service=tug-test&client_id=docker&refresh_token={refresh}&scope=repository%3Abob%2Fapp%3Apull%2Cpush+repository%3Aprivate%2Fz%3Apull"
        ),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["scope"], "repository:bob/app:pull,push");
    let access = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    let d = sha256(b"bob's app");
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/bob/app/blobs/uploads/?digest={d}"),
        &[("Authorization", &access)],
        b"bob's app",
    );
    assert_eq!(r.status, 201);
    let r = request(
        s.addr(),
        "GET",
        "/v2/private/z/tags/list",
        &[("Authorization", &access)],
        b"",
    );
    assert_eq!(r.status, 401);
    // A garbled or forged refresh token, a wrong password, an unknown grant: refused.
    let r = form(
        &s,
        &format!("grant_type=refresh_token&refresh_token={refresh}x"),
    );
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    let r = form(&s, "grant_type=password&username=bob&password=nope");
    assert_eq!(r.status, 401);
    let r = form(&s, "grant_type=magic");
    assert_eq!(r.code(), "UNSUPPORTED");
    assert!(r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("grant_type"));
    // The password grant, with a refresh token when asked for offline access.
    let r = form(
        &s,
        "grant_type=password&username=bob&password=builder&access_type=offline&scope=registry%3Acatalog%3A*",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["refresh_token"].as_str().is_some());
    let catalog = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    // alice pushes a private repository; bob's catalog does not show it.
    let alice = basic("alice", "wonder");
    let t = token(&s, Some(&alice), "repository:private/y:pull,push");
    let a = format!("Bearer {}", t.json()["token"].as_str().unwrap());
    let d = sha256(b"secret");
    let r = request(
        s.addr(),
        "POST",
        &format!("/v2/private/y/blobs/uploads/?digest={d}"),
        &[("Authorization", &a)],
        b"secret",
    );
    assert_eq!(r.status, 201);
    let r = request(
        s.addr(),
        "GET",
        "/v2/_catalog",
        &[("Authorization", &catalog)],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["repositories"], serde_json::json!(["bob/app"]));
}
