//! Errors as the API answers them: JSON with a code, a message that says what
//! to do, and the object it is about. Internal detail stays in the logs.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    /// The HTTP status, also in the body (Argo CD's errors carry `code` too).
    #[serde(skip)]
    pub status: StatusCode,
    /// A stable, machine-readable name: `Unauthenticated`, `Forbidden`,
    /// `NotFound`, `BadRequest`, `PayloadTooLarge`, `UnsupportedMediaType`,
    /// `Conflict`, `Unavailable`, `Internal`.
    pub code: &'static str,
    /// What is wrong and what to do about it.
    pub message: String,
    /// The object it is about (`namespace/name`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            object: None,
        }
    }

    pub fn about(mut self, object: impl Into<String>) -> ApiError {
        self.object = Some(object.into());
        self
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", message)
    }

    /// Something failed inside: logged in full, answered in general terms.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> ApiError {
        tracing::error!("{context}: {detail}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal",
            format!("{context} failed; the agent's log has the detail"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::to_value(&self).unwrap_or_default();
        body["status"] = self.status.as_u16().into();
        (self.status, axum::Json(body)).into_response()
    }
}

/// The error body as the OpenAPI document describes it (what [`ApiError`]
/// serialises to).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// `Unauthenticated`, `Forbidden`, `NotFound`, `BadRequest`, `PayloadTooLarge`,
    /// `UnsupportedMediaType`, `Conflict`, `NotImplemented`, `RenderFailed`, `Unavailable`, `Internal`.
    code: String,
    /// What is wrong and what to do about it.
    message: String,
    /// The object it is about (`namespace/name`).
    object: Option<String>,
    /// The HTTP status.
    status: u16,
}
