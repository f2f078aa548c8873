//! The dashboard's own scripts and stylesheet, compiled into the binary.
//!
//! Each is served with a strong ETag (its content's hash) and `no-cache`, so a
//! browser revalidates with one small request and an upgraded binary is picked
//! up at once. Pages link them as `/assets/NAME?v=HASH` so a shared proxy
//! never serves an old one to a new page.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every asset. A page imports `common.js` and its own module.
pub static ASSETS: &[Asset] = &[
    asset!("tether.css", CSS),
    asset!("common.js", JS),
    asset!("login.js", JS),
    asset!("apps.js", JS),
    asset!("app.js", JS),
    asset!("audit.js", JS),
];

/// The content hash of every asset, computed once: the ETag, and the `?v=`
/// the pages put on their links.
static HASHES: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| hex::encode(&Sha256::digest(a.body.as_bytes())[..8]))
        .collect()
});

/// `/assets/NAME?v=HASH` for a page's link.
pub fn url(name: &str) -> String {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(i) => format!("/assets/{name}?v={}", HASHES[i]),
        None => format!("/assets/{name}"),
    }
}

pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == file) else {
        return crate::api::ApiError::not_found(format!("no dashboard asset {file:?}"))
            .into_response();
    };
    let asset = &ASSETS[i];
    let etag = format!("\"{}\"", HASHES[i]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_type_and_a_body() {
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
            let expected = if a.name.ends_with(".css") { CSS } else { JS };
            assert_eq!(a.content_type, expected, "{}", a.name);
        }
    }

    #[test]
    fn urls_carry_the_content_hash() {
        let u = url("common.js");
        assert!(u.starts_with("/assets/common.js?v="), "{u}");
        assert_eq!(u.len(), "/assets/common.js?v=".len() + 16);
        assert_eq!(url("nope.js"), "/assets/nope.js");
    }

    /// The CSP refuses inline scripts and style attributes: the assets must
    /// never build markup from strings a repository or cluster controls.
    #[test]
    fn scripts_never_parse_html_from_strings() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for bad in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!a.body.contains(bad), "{} uses {bad}", a.name);
            }
        }
    }
}
