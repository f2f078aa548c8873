//! The browser session: a token, verified once, kept in an HttpOnly cookie so
//! the page's JavaScript never holds it.
//!
//! - `POST /api/v1/session` with `{"token": "…"}` checks the token and sets the
//!   `tether_session` cookie (HttpOnly, SameSite=Strict, Path=/, and Secure when
//!   the request came over HTTPS through a proxy that says so).
//! - `GET /api/v1/session` says who is signed in; `DELETE` signs out.
//! - `GET /login` is a small page that takes the token from the URL fragment
//!   (`/login#token=…`: a fragment is never sent to a server, so the token
//!   reaches no access log), posts it, and goes to `/`.
//! - `GET /` says where the API is and who is signed in (the dashboard replaces it).
//!
//! The cookie holds the token itself: every request with it is checked against
//! the token Secret like a bearer header, so revoking the token ends the
//! session on every replica, and no session state lives in the server.

use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::auth::{REQUEST_HEADER, SESSION_COOKIE};
use super::{ApiError, ApiState, Caller};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/session", get(who).post(sign_in).delete(sign_out))
        .route("/login", get(login_page))
        .route("/login.js", get(login_script))
        .route("/", get(home))
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

/// Our pages run only our own script from our own origin, are never framed,
/// and send no referrer (the login URL's fragment never leaves, but a path
/// might say more than it should).
fn page(html: String) -> Response {
    let mut response = Html(html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}code{background:#eee;padding:0 .2em}input{width:100%;font:inherit}";

async fn login_page() -> Response {
    page(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tether: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><h1>tether</h1>
<p id="status">Signing in…</p>
<form id="form" hidden><label>API token <input id="token" type="password" autocomplete="off" placeholder="tether_…"></label>
<p><button type="submit">Sign in</button></p>
<p>Create a token with <code>tether token create NAME --role admin</code>; <code>tether up</code> prints a link that signs you in.</p></form>
<script src="/login.js"></script></body></html>
"#
    ))
}

/// The login page's script: take the token from the fragment, forget the
/// fragment, post the token, go to `/`.
const LOGIN_JS: &str = r#""use strict";
(function () {
  var status = document.getElementById("status");
  var form = document.getElementById("form");
  function signIn(token) {
    status.textContent = "Signing in…";
    fetch("/api/v1/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: token })
    }).then(function (r) {
      if (r.ok) { location.replace("/"); return; }
      return r.json().then(function (e) { fail(e.message || ("HTTP " + r.status)); },
                           function () { fail("HTTP " + r.status); });
    }, function (e) { fail("the server did not answer: " + e); });
  }
  function fail(message) {
    status.textContent = "Not signed in: " + message;
    form.hidden = false;
  }
  var token = new URLSearchParams(location.hash.slice(1)).get("token");
  // The token must not stay in the address bar or the history.
  if (location.hash) { history.replaceState(null, "", location.pathname); }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = document.getElementById("token").value.trim();
    if (t) { signIn(t); }
  });
  if (token) { signIn(token); } else { status.textContent = "Paste an API token to sign in."; form.hidden = false; }
})();
"#;

async fn login_script() -> Response {
    let mut response = LOGIN_JS.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Until the dashboard lives here: where the API is, and who is signed in.
async fn home(caller: Result<Caller, ApiError>) -> Response {
    let who = match &caller {
        Ok(c) => format!(
            "Signed in as <code>{}</code> (role {}).",
            escape(&c.name),
            c.role.as_str()
        ),
        Err(_) => "Not signed in: open the link <code>tether up</code> printed, or <a href=\"/login\">sign in with a token</a>.".to_string(),
    };
    page(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tether</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><h1>tether</h1>
<p>{who}</p>
<p>The HTTP API is at <code>/api/v1</code>: <code>/api/v1/applications</code> lists the apps, <code>/api/v1/stream</code> streams their changes. The dashboard comes here in a later release.</p>
</body></html>
"#
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

    #[test]
    fn names_are_escaped_in_pages() {
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }

    #[test]
    fn the_login_script_reads_the_fragment_never_the_query() {
        assert!(LOGIN_JS.contains("location.hash"));
        assert!(!LOGIN_JS.contains("location.search"));
        assert!(LOGIN_JS.contains("history.replaceState"));
    }
}
