//! The page shells. Each names its page, its script, and what the script
//! needs to start (the app's key on the app page); the data comes from the
//! API. A browser that is not signed in is sent to `/login`, which brings it
//! back to the page it asked for.

use askama::Template;
use axum::extract::Path;
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};

use super::{assets, page};
use crate::api::Caller;

/// What every page's layout (`templates/base.html`) shows.
struct Layout {
    /// `apps`, `app`, `audit` or `login`: `<main data-page>` and the nav's current link.
    page: &'static str,
    title: String,
    css: String,
    /// The page's own module; it imports `./common.js`.
    script: String,
}

impl Layout {
    fn new(page: &'static str, title: String, script: &str) -> Layout {
        Layout {
            page,
            title,
            css: assets::url("tether.css"),
            script: assets::url(script),
        }
    }
}

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage {
    layout: Layout,
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    layout: Layout,
    namespace: String,
    name: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
}

fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => page(html),
        Err(e) => crate::api::ApiError::internal("rendering a dashboard page", e).into_response(),
    }
}

/// Pages need a session; without one, sign in and come back here.
fn sign_in_first(uri: &Uri) -> Response {
    let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

pub async fn applications(caller: Result<Caller, crate::api::ApiError>, uri: Uri) -> Response {
    if caller.is_err() {
        return sign_in_first(&uri);
    }
    render(AppsPage {
        layout: Layout::new("apps", "Applications".into(), "apps.js"),
    })
}

pub async fn application(
    caller: Result<Caller, crate::api::ApiError>,
    uri: Uri,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    if caller.is_err() {
        return sign_in_first(&uri);
    }
    render(AppPage {
        layout: Layout::new("app", format!("{name} ({namespace})"), "app.js"),
        namespace,
        name,
    })
}

pub async fn audit(caller: Result<Caller, crate::api::ApiError>, uri: Uri) -> Response {
    if caller.is_err() {
        return sign_in_first(&uri);
    }
    render(AuditPage {
        layout: Layout::new("audit", "Audit log".into(), "audit.js"),
    })
}

pub async fn login() -> Response {
    render(LoginPage {
        layout: Layout::new("login", "Sign in".into(), "login.js"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_pages() {
        let html = AppPage {
            layout: Layout::new("app", "<b>x</b>".into(), "app.js"),
            namespace: "ns".into(),
            name: "\"><script>alert(1)</script>".into(),
        }
        .render()
        .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<b>x</b>"), "{html}");
    }

    #[test]
    fn pages_hold_no_inline_script_or_style() {
        let pages = [
            AppsPage {
                layout: Layout::new("apps", "Applications".into(), "apps.js"),
            }
            .render()
            .unwrap(),
            AuditPage {
                layout: Layout::new("audit", "Audit".into(), "audit.js"),
            }
            .render()
            .unwrap(),
            LoginPage {
                layout: Layout::new("login", "Sign in".into(), "login.js"),
            }
            .render()
            .unwrap(),
        ];
        for html in pages {
            assert!(!html.contains("style=\""), "{html}");
            assert!(!html.contains("<style"), "{html}");
            for script in html.split("<script").skip(1) {
                assert!(
                    script.contains(" src=\"/assets/"),
                    "inline script in {html}"
                );
            }
        }
    }
}
