//! Errors as Docker clients expect them: a JSON body `{"message": …}` and a status chosen from
//! the error's kind — in this one place.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

/// What went wrong, from the client's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    NotImplemented,
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    kind: Kind,
    message: String,
}

impl ApiError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The one mapping from error kinds to HTTP statuses.
    pub fn status(&self) -> u16 {
        match self.kind {
            Kind::Invalid => 400,
            Kind::Unauthorized => 401,
            Kind::Forbidden => 403,
            Kind::NotFound => 404,
            Kind::Conflict => 409,
            Kind::NotImplemented => 501,
            Kind::Unavailable => 503,
            Kind::Internal => 500,
        }
    }

    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "message": self.message }).to_string();
        Response::builder()
            .status(
                StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            )
            .header("Content-Type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("valid response")
    }
}
