//! Request extractors whose rejections are problem documents: JSON bodies (415 for a wrong
//! content type, 413 past the body limit, 400 for malformed JSON, 422 with a JSON pointer for a
//! well-formed body of the wrong shape), query strings, path parameters, and the client context.

use auterity_auth::ClientContext;
use auterity_types::ErrorCode;
use auterity_types::error::FieldError;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

use crate::error::{ApiError, REQUEST_ID};
use crate::state::AppState;

/// A JSON request body.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "request body is larger than the configured limit")
            } else {
                ApiError::bad_request(format!("failed to read request body: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// An optional JSON body: `None` when the request carries no body and no `Content-Type`;
/// anything else is read as [`ApiJson`].
impl<T: DeserializeOwned, S: Send + Sync> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let headers = request.headers();
        let no_length = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .is_none_or(|length| length.to_str().is_ok_and(|length| length.trim() == "0"));
        let chunked = headers.contains_key(axum::http::header::TRANSFER_ENCODING);
        if headers.get(CONTENT_TYPE).is_none() && no_length && !chunked {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state).await.map(Some)
    }
}

/// Parses JSON, telling syntax errors (400) from shape errors (422 with a pointer).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(format!("malformed JSON: {inner}"));
        }
        let pointer = json_pointer(&error.path().to_string());
        ApiError::validation(vec![FieldError::new(pointer, inner.to_string())])
    })
}

/// Converts serde_path_to_error's `a.b[0]` path into an RFC 6901 pointer `/a/b/0`.
fn json_pointer(path: &str) -> String {
    if path == "." || path.is_empty() {
        return String::new();
    }
    let mut pointer = String::new();
    for segment in path.split('.') {
        let mut rest = segment;
        while let Some(start) = rest.find('[') {
            let (name, tail) = rest.split_at(start);
            if !name.is_empty() {
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
            }
            let end = tail.find(']').unwrap_or(tail.len());
            pointer.push('/');
            pointer.push_str(tail.get(1..end).unwrap_or_default());
            rest = tail.get(end + 1..).unwrap_or_default();
        }
        if !rest.is_empty() {
            pointer.push('/');
            pointer.push_str(&rest.replace('~', "~0").replace('/', "~1"));
        }
    }
    pointer
}

/// A query string.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|error| ApiError::bad_request(format!("invalid query string: {error}")))
    }
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::bad_request(format!("invalid path parameter: {}", rejection.body_text())))
    }
}

/// Pagination parameters shared by list endpoints: `?limit=50&after=<id>`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct PageParams {
    /// 1–500, default 50.
    pub limit: Option<u32>,
    /// Continue after this id (the previous page's `next_cursor`).
    pub after: Option<uuid::Uuid>,
}

impl PageParams {
    pub fn to_request(&self) -> auterity_types::records::PageRequest {
        auterity_types::records::PageRequest {
            limit: self.limit.unwrap_or(50).clamp(1, auterity_types::records::PageRequest::MAX_LIMIT),
            after: self.after,
        }
    }
}

/// Who is calling from where. `X-Forwarded-For` is believed only from a configured trusted proxy,
/// and then its right-most address that is not itself a trusted proxy is the client.
pub struct Client(pub ClientContext);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let trusted = |ip: &IpAddr| state.config.server.trusted_proxies.iter().any(|net| net.contains(ip));
        let mut ip = peer;
        if let Some(peer_ip) = peer
            && trusted(&peer_ip)
        {
            let forwarded: Vec<IpAddr> = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|s| s.trim().parse().ok())
                .collect();
            if let Some(client) = forwarded.iter().rev().find(|candidate| !trusted(candidate)) {
                ip = Some(*client);
            }
        }
        Ok(Client(ClientContext {
            ip,
            user_agent: parts
                .headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect()),
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::json_pointer;

    #[test]
    fn pointers() {
        assert_eq!(json_pointer("."), "");
        assert_eq!(json_pointer("systems[0].level"), "/systems/0/level");
        assert_eq!(json_pointer("a/b"), "/a~1b");
    }
}
