//! The browser session: a token, verified once, kept in an HttpOnly cookie so
//! the page's JavaScript never holds it.
//!
//! - `POST /api/v1/session` with `{"token": "…"}` checks the token and sets the
//!   `tether_session` cookie (HttpOnly, SameSite=Strict, Path=/, and Secure when
//!   the request came over HTTPS through a proxy that says so).
//! - `GET /api/v1/session` says who is signed in; `DELETE` signs out.
//! - The dashboard's `/login` page takes the token from the URL fragment
//!   (`/login#token=…`: a fragment is never sent to a server, so the token
//!   reaches no access log) and posts it here.
//!
//! The cookie holds the token itself: every request with it is checked against
//! the token Secret like a bearer header, so revoking the token ends the
//! session on every replica, and no session state lives in the server.

use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::auth::{REQUEST_HEADER, SESSION_COOKIE};
use super::{ApiError, ApiState, Caller};

pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/session", get(who).post(sign_in).delete(sign_out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

/// Who a session (or a bearer token) belongs to. `loggedIn` and `username`
/// are the names Argo CD's `session/userinfo` uses.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub logged_in: bool,
    /// The token's name.
    pub username: String,
    /// `admin` or `readonly`.
    pub role: &'static str,
    /// As the audit log names this caller: `token:NAME`.
    pub actor: String,
}

impl SessionInfo {
    fn of(caller: &Caller) -> SessionInfo {
        SessionInfo {
            logged_in: true,
            username: caller.name.clone(),
            role: caller.role.as_str(),
            actor: caller.actor(),
        }
    }
}

async fn sign_in(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<axum::Json<SignIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let axum::Json(body) = body.map_err(json_error)?;
    let token = body.token.trim();
    if token.is_empty() {
        return Err(ApiError::bad_request(
            "the body's \"token\" is empty; send {\"token\": \"tether_…\"}",
        ));
    }
    let caller = state.tokens.verify(token)?;
    tracing::info!(actor = %caller.actor(), "API: signed in with a session cookie");
    let cookie = session_cookie(token, secure(&headers));
    Ok(with_cookie(
        axum::Json(SessionInfo::of(&caller)).into_response(),
        &cookie,
    ))
}

async fn who(caller: Caller) -> axum::Json<SessionInfo> {
    axum::Json(SessionInfo::of(&caller))
}

/// Sign out: clear the cookie. It needs no valid token (a revoked or expired
/// one must be clearable too), but the request must carry a JSON content type
/// or the custom header, so another site cannot sign its visitors out.
async fn sign_out(headers: HeaderMap) -> Result<Response, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json);
    if !json && !headers.contains_key(REQUEST_HEADER) {
        return Err(ApiError::forbidden(format!(
            "signing out must send Content-Type: application/json or the {REQUEST_HEADER} header"
        )));
    }
    let cookie = clear_cookie(secure(&headers));
    Ok(with_cookie(StatusCode::NO_CONTENT.into_response(), &cookie))
}

fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// The JSON body's problem as the API's error (400, 413 or 415).
pub(crate) fn json_error(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
        StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLarge",
        _ => "BadRequest",
    };
    let message = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "send the body as JSON with Content-Type: application/json".to_string()
        }
        _ => format!(
            "the body is not what this route takes: {}",
            rejection.body_text()
        ),
    };
    ApiError::new(
        if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_REQUEST
        },
        code,
        message,
    )
}

/// Whether the browser reached us over HTTPS. The listener itself is plain
/// HTTP, so that is when a proxy in front says so. Trusting the header can
/// only make the cookie stricter.
fn secure(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([';', ',']))
        .any(|kv| kv.trim().eq_ignore_ascii_case("proto=https"));
    forwarded_proto || forwarded
}

/// The cookie that carries the session. No Max-Age: it ends with the browser
/// session, or when the token is revoked or expires.
fn session_cookie(token: &str, secure: bool) -> String {
    let mut c = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    if secure {
        c.push_str("; Secure");
    }
    c
}

fn clear_cookie(secure: bool) -> String {
    let mut c = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if secure {
        c.push_str("; Secure");
    }
    c
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_https() {
        let plain = session_cookie("tether_abc", secure(&headers(&[])));
        assert_eq!(
            plain,
            "tether_session=tether_abc; HttpOnly; SameSite=Strict; Path=/"
        );
        let proxied = session_cookie(
            "tether_abc",
            secure(&headers(&[("x-forwarded-proto", "https")])),
        );
        assert!(proxied.ends_with("; Secure"), "{proxied}");
        assert!(secure(&headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=https"
        )])));
        assert!(!secure(&headers(&[("x-forwarded-proto", "http")])));
        let cleared = clear_cookie(true);
        assert!(cleared.contains("Max-Age=0") && cleared.contains("tether_session=;"));
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
