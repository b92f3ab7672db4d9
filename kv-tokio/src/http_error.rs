//! Every error answer of the HTTP API has one shape:
//!
//! ```json
//! {"error": {"code": "not_leader", "message": "not the leader", "leader": 2, "location": "http://…"}}
//! ```
//!
//! `code` is stable and machine-readable, `message` for people; `leader` and `location` come only
//! with `not_leader` (a `307` redirect). Handlers answer with [`ApiError`]; anything else that
//! answers an error (axum's rejections of a bad path, query or body, an unknown route, a method
//! not allowed) is rewritten into the same shape by [`json_errors`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sansraft::NodeId;
use serde_json::json;

/// A failed request, as an HTTP answer.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// `307`: ask the leader, at `location`.
    Redirect { leader: NodeId, location: String },
    /// `503`: no leader is known; retry.
    NoLeader,
    /// `503`: retry (the node is stopping, the leader's address is unknown, the outcome of a
    /// write is unknown, …).
    Unavailable(String),
    /// `504`: no answer in time; the outcome is unknown.
    TimedOut,
    /// `400`: the request is malformed.
    BadRequest(String),
    /// `409`: the request cannot succeed as asked.
    Conflict(String),
    /// `404`: no such key.
    NoSuchKey,
    /// Any other error status, from axum or a layer: its code is derived from the status.
    Other { status: StatusCode, message: String },
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Redirect { .. } => StatusCode::TEMPORARY_REDIRECT,
            ApiError::NoLeader | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TimedOut => StatusCode::GATEWAY_TIMEOUT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NoSuchKey => StatusCode::NOT_FOUND,
            ApiError::Other { status, .. } => *status,
        }
    }

    fn code(&self) -> String {
        let code = match self {
            ApiError::Redirect { .. } => "not_leader",
            ApiError::NoLeader => "no_leader",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::TimedOut => "timed_out",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::NoSuchKey => "no_such_key",
            ApiError::Other { status, .. } => return code_of(*status),
        };
        code.to_owned()
    }

    fn message(&self) -> String {
        match self {
            ApiError::Redirect { .. } => "not the leader".to_owned(),
            ApiError::NoLeader => "no leader known; retry".to_owned(),
            ApiError::TimedOut => "no answer in time; the outcome is unknown, retry".to_owned(),
            ApiError::NoSuchKey => "no such key".to_owned(),
            ApiError::Unavailable(why)
            | ApiError::BadRequest(why)
            | ApiError::Conflict(why)
            | ApiError::Other { message: why, .. } => why.clone(),
        }
    }
}

/// A status's code: its reason phrase in snake case (`405` → `method_not_allowed`).
fn code_of(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut error = json!({ "code": self.code(), "message": self.message() });
        let location = match self {
            ApiError::Redirect { leader, location } => {
                error["leader"] = leader.into();
                error["location"] = location.clone().into();
                Some(location)
            }
            _ => None,
        };
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if let Some(value) = location.and_then(|l| HeaderValue::try_from(l).ok()) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }
}

/// The answer for a request no route matches.
pub(crate) async fn no_route() -> ApiError {
    ApiError::Other {
        status: StatusCode::NOT_FOUND,
        message: "no such route".into(),
    }
}

/// Most bytes of another error answer's text kept as the message.
const MAX_MESSAGE_BYTES: usize = 4096;

/// Rewrites an error answer that is not already JSON (a rejection by axum, a layer's answer)
/// into the one shape, its text as the message; keeps headers such as `Allow`.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut answer = ApiError::Other { status, message }.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn a_plain_text_rejection_becomes_the_json_shape() {
        let plain = Response::builder()
            .status(StatusCode::PAYLOAD_TOO_LARGE)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(
                "Failed to buffer the request body: length limit exceeded",
            ))
            .expect("response");
        let answer = json_errors(plain).await;
        assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let json = body(answer).await;
        assert_eq!(json["error"]["code"], "payload_too_large");
        assert_eq!(
            json["error"]["message"],
            "Failed to buffer the request body: length limit exceeded"
        );
    }

    #[tokio::test]
    async fn an_empty_error_gets_its_reason_and_keeps_its_headers() {
        let empty = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET,HEAD")
            .body(Body::empty())
            .expect("response");
        let answer = json_errors(empty).await;
        assert_eq!(answer.headers()[header::ALLOW], "GET,HEAD");
        let json = body(answer).await;
        assert_eq!(json["error"]["code"], "method_not_allowed");
        assert_eq!(json["error"]["message"], "Method Not Allowed");
    }

    #[tokio::test]
    async fn a_redirect_names_the_leader_in_header_and_body() {
        let answer = ApiError::Redirect {
            leader: 2,
            location: "http://127.0.0.1:2/kv/a".into(),
        }
        .into_response();
        assert_eq!(answer.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            answer.headers()[header::LOCATION],
            "http://127.0.0.1:2/kv/a"
        );
        let json = body(answer).await;
        assert_eq!(json["error"]["code"], "not_leader");
        assert_eq!(json["error"]["leader"], 2);
    }

    #[tokio::test]
    async fn successes_and_json_errors_pass_unchanged() {
        let ok = json_errors(Response::new(Body::from("value"))).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let conflict = json_errors(ApiError::Conflict("no".into()).into_response()).await;
        let json = body(conflict).await;
        assert_eq!(json["error"]["code"], "conflict");
    }
}
