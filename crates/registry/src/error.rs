//! The distribution spec's error codes, their HTTP statuses (mapped in one place, `Code::status`)
//! and the JSON error body `{"errors":[{"code","message","detail"}]}`.

use hyper::StatusCode;
use serde_json::{json, Value};

/// An error code of the OCI distribution spec (plus the few the spec leaves to registries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_INVALID` answered with 416: a chunk that does not start where the upload ends.
    RangeInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    /// `SIZE_INVALID` answered with 413: a manifest over the size limit.
    TooLarge,
    PaginationInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    /// `UNSUPPORTED` answered with 404: a path that names no endpoint.
    RouteUnknown,
    /// Not a client's mistake: storage failed.
    Internal,
}

impl Code {
    /// The spec's code string.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid | Code::RangeInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid | Code::TooLarge => "SIZE_INVALID",
            Code::PaginationInvalid => "PAGINATION_NUMBER_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported | Code::RouteUnknown => "UNSUPPORTED",
            Code::Internal => "UNKNOWN",
        }
    }

    /// The one mapping from error code to HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown
            | Code::RouteUnknown => StatusCode::NOT_FOUND,
            Code::BlobUploadInvalid
            | Code::DigestInvalid
            | Code::ManifestBlobUnknown
            | Code::ManifestInvalid
            | Code::NameInvalid
            | Code::SizeInvalid
            | Code::PaginationInvalid => StatusCode::BAD_REQUEST,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Denied => StatusCode::FORBIDDEN,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answered to a client: a code, a message and optional detail and extra headers.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub detail: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The JSON body of the spec's error format.
    pub fn body(&self) -> Vec<u8> {
        let mut e = json!({"code": self.code.as_str(), "message": self.message});
        if let Some(d) = &self.detail {
            e["detail"] = d.clone();
        }
        serde_json::to_vec(&json!({ "errors": [e] })).unwrap_or_default()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl From<crate::storage::StoreError> for ApiError {
    fn from(e: crate::storage::StoreError) -> Self {
        use crate::storage::StoreError as E;
        let code = match &e {
            E::BlobUnknown(_) => Code::BlobUnknown,
            E::ManifestUnknown(_) => Code::ManifestUnknown,
            E::NameUnknown(_) => Code::NameUnknown,
            E::UploadUnknown(_) => Code::BlobUploadUnknown,
            E::DigestMismatch { .. } => Code::DigestInvalid,
            E::Io { .. } => Code::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<crate::digest::DigestError> for ApiError {
    fn from(e: crate::digest::DigestError) -> Self {
        ApiError::new(Code::DigestInvalid, e.to_string())
    }
}

impl From<crate::name::NameError> for ApiError {
    fn from(e: crate::name::NameError) -> Self {
        let code = match e {
            crate::name::NameError::Tag(_) => Code::ManifestInvalid,
            _ => Code::NameInvalid,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<crate::manifest::ManifestError> for ApiError {
    fn from(e: crate::manifest::ManifestError) -> Self {
        ApiError::new(Code::ManifestInvalid, e.to_string())
    }
}
