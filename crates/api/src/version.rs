//! API versions: which a request asked for, and whether we speak it.

use crate::error::ApiError;

/// The version tug advertises (docker CLI 29+ needs at least 1.44).
pub const API_VERSION: &str = "1.44";
/// The oldest version accepted in a `/v1.NN/` prefix.
pub const MIN_API_VERSION: &str = "1.24";

/// "1.41" → (1, 41).
pub fn parse(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Split an optional `/vX.Y` prefix off `path`; the version the client asked for and the rest.
pub fn strip(path: &str) -> Result<((u32, u32), &str), ApiError> {
    let max = parse(API_VERSION).expect("valid constant");
    let min = parse(MIN_API_VERSION).expect("valid constant");
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((max, path));
    };
    let (ver, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some(v) = parse(ver) else {
        return Ok((max, path)); // not a version prefix, e.g. "/volumes"
    };
    if v > max {
        return Err(ApiError::invalid(format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if v < min {
        return Err(ApiError::invalid(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok((v, if tail.is_empty() { "/" } else { tail }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped_and_checked() {
        assert_eq!(
            strip("/v1.41/containers/json").unwrap(),
            ((1, 41), "/containers/json")
        );
        assert_eq!(
            strip("/containers/json").unwrap(),
            ((1, 44), "/containers/json")
        );
        assert_eq!(strip("/volumes/x").unwrap(), ((1, 44), "/volumes/x"));
        assert_eq!(strip("/v1.24/_ping").unwrap().1, "/_ping");
        let e = strip("/v1.99/version").unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e
            .message()
            .contains("too new. Maximum supported API version is 1.44"));
        assert!(strip("/v1.12/version")
            .unwrap_err()
            .message()
            .contains("too old"));
    }
}
