//! Is a request really from the Git host: each host's signature, checked in constant
//! time.
//!
//! - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. The SHA-1
//!   `X-Hub-Signature` GitHub also sends is refused on its own.
//! - Gitea (and Forgejo): the same header, or `X-Gitea-Signature: <hex>` (the same HMAC).
//! - GitLab: `X-Gitlab-Token: <the secret itself>`.
//! - Bitbucket Cloud and Data Center: `X-Hub-Signature: sha256=<hex>`.
//! - Generic: `X-Signature: sha256=<hex>` (or the bare hex).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Host;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no {0} header: the request is not signed")]
    Missing(&'static str),
    #[error(
        "only the SHA-1 X-Hub-Signature was sent; SHA-1 signatures are refused, send X-Hub-Signature-256"
    )]
    Sha1Only,
    #[error("the {0} header is not of the form sha256=<hex>")]
    Malformed(&'static str),
    #[error("the signature does not match the secret")]
    Mismatch,
}

/// Check `body` as `host` signs it with `secret`. `header` looks a request header up by
/// name (case-insensitive).
pub fn verify<'a>(
    host: Host,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    secret: &[u8],
) -> Result<(), Refused> {
    match host {
        Host::GitHub => match header("x-hub-signature-256") {
            Some(sig) => hmac_hex(sig, "X-Hub-Signature-256", true, body, secret),
            None if header("x-hub-signature").is_some() => Err(Refused::Sha1Only),
            None => Err(Refused::Missing("X-Hub-Signature-256")),
        },
        Host::Gitea => match (header("x-hub-signature-256"), header("x-gitea-signature")) {
            (Some(sig), _) => hmac_hex(sig, "X-Hub-Signature-256", true, body, secret),
            (None, Some(sig)) => hmac_hex(sig, "X-Gitea-Signature", false, body, secret),
            (None, None) if header("x-hub-signature").is_some() => Err(Refused::Sha1Only),
            (None, None) => Err(Refused::Missing("X-Hub-Signature-256")),
        },
        Host::GitLab => {
            let token = header("x-gitlab-token").ok_or(Refused::Missing("X-Gitlab-Token"))?;
            // Hash both sides so the comparison's time does not depend on the length either.
            let (a, b) = (Sha256::digest(token.as_bytes()), Sha256::digest(secret));
            if bool::from(a.ct_eq(&b)) {
                Ok(())
            } else {
                Err(Refused::Mismatch)
            }
        }
        Host::Bitbucket => {
            let sig = header("x-hub-signature").ok_or(Refused::Missing("X-Hub-Signature"))?;
            hmac_hex(sig, "X-Hub-Signature", true, body, secret)
        }
        Host::Generic => {
            let sig = header("x-signature").ok_or(Refused::Missing("X-Signature"))?;
            hmac_hex(sig, "X-Signature", false, body, secret)
        }
    }
}

/// `sha256=<hex>` (or, when `prefix_required` is false, also the bare hex) against the
/// HMAC-SHA256 of `body`.
fn hmac_hex(
    value: &str,
    name: &'static str,
    prefix_required: bool,
    body: &[u8],
    secret: &[u8],
) -> Result<(), Refused> {
    let value = value.trim();
    let hex_part = match value.split_once('=') {
        Some((algo, hex)) if algo.eq_ignore_ascii_case("sha256") => hex,
        Some((algo, _)) if algo.eq_ignore_ascii_case("sha1") => return Err(Refused::Sha1Only),
        Some(_) => return Err(Refused::Malformed(name)),
        None if prefix_required => return Err(Refused::Malformed(name)),
        None => value,
    };
    let expected = hex::decode(hex_part).map_err(|_| Refused::Malformed(name))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| Refused::Mismatch)?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).map_err(|_| Refused::Mismatch)
}

/// `sha256=<hex>` of `body` under `secret`: what a host sends (for tests and docs).
pub fn sign(body: &[u8], secret: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct H(Vec<(&'static str, String)>);

    impl H {
        fn get(&self, name: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    fn headers(pairs: &[(&'static str, String)]) -> H {
        H(pairs.to_vec())
    }

    const BODY: &[u8] = br#"{"ref":"refs/heads/main"}"#;

    #[test]
    fn github_signature_round_trip() {
        // The example from GitHub's documentation on validating deliveries.
        assert_eq!(
            sign(b"Hello, World!", b"It's a Secret to Everybody"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let good = headers(&[("X-Hub-Signature-256", sign(BODY, b"s3cret"))]);
        assert_eq!(
            verify(Host::GitHub, |n| good.get(n), BODY, b"s3cret"),
            Ok(())
        );
        assert_eq!(
            verify(Host::GitHub, |n| good.get(n), b"{}", b"s3cret"),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            verify(Host::GitHub, |n| good.get(n), BODY, b"other"),
            Err(Refused::Mismatch)
        );
    }

    #[test]
    fn sha1_and_junk_are_refused() {
        let sha1 = headers(&[("X-Hub-Signature", "sha1=0123".into())]);
        assert_eq!(
            verify(Host::GitHub, |n| sha1.get(n), BODY, b"s"),
            Err(Refused::Sha1Only)
        );
        assert_eq!(
            verify(Host::Gitea, |n| sha1.get(n), BODY, b"s"),
            Err(Refused::Sha1Only)
        );
        let none = headers(&[]);
        assert_eq!(
            verify(Host::GitHub, |n| none.get(n), BODY, b"s"),
            Err(Refused::Missing("X-Hub-Signature-256"))
        );
        for bad in ["sha256=zz", "md5=00", "00ff", "sha256="] {
            let h = headers(&[("X-Hub-Signature-256", bad.into())]);
            assert!(
                verify(Host::GitHub, |n| h.get(n), BODY, b"s").is_err(),
                "{bad}"
            );
        }
        let sha1_prefixed = headers(&[("X-Hub-Signature-256", "sha1=00".into())]);
        assert_eq!(
            verify(Host::GitHub, |n| sha1_prefixed.get(n), BODY, b"s"),
            Err(Refused::Sha1Only)
        );
    }

    #[test]
    fn gitea_accepts_its_own_header() {
        let sig = sign(BODY, b"k");
        let bare = sig.trim_start_matches("sha256=").to_owned();
        let h = headers(&[("X-Gitea-Signature", bare)]);
        assert_eq!(verify(Host::Gitea, |n| h.get(n), BODY, b"k"), Ok(()));
        let h = headers(&[("X-Hub-Signature-256", sig)]);
        assert_eq!(verify(Host::Gitea, |n| h.get(n), BODY, b"k"), Ok(()));
    }

    #[test]
    fn gitlab_compares_the_token() {
        let h = headers(&[("X-Gitlab-Token", "tok".into())]);
        assert_eq!(verify(Host::GitLab, |n| h.get(n), BODY, b"tok"), Ok(()));
        assert_eq!(
            verify(Host::GitLab, |n| h.get(n), BODY, b"tok2"),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            verify(Host::GitLab, |_| None, BODY, b"tok"),
            Err(Refused::Missing("X-Gitlab-Token"))
        );
    }

    #[test]
    fn bitbucket_and_generic() {
        let sig = sign(BODY, b"k");
        let h = headers(&[("X-Hub-Signature", sig.clone())]);
        assert_eq!(verify(Host::Bitbucket, |n| h.get(n), BODY, b"k"), Ok(()));
        assert_eq!(
            verify(Host::Bitbucket, |n| h.get(n), BODY, b"x"),
            Err(Refused::Mismatch)
        );
        let h = headers(&[("X-Signature", sig.clone())]);
        assert_eq!(verify(Host::Generic, |n| h.get(n), BODY, b"k"), Ok(()));
        let bare = headers(&[("X-Signature", sig.trim_start_matches("sha256=").into())]);
        assert_eq!(verify(Host::Generic, |n| bare.get(n), BODY, b"k"), Ok(()));
        // A Bitbucket request checked as generic has no X-Signature.
        let h = headers(&[("X-Hub-Signature", sig)]);
        assert_eq!(
            verify(Host::Generic, |n| h.get(n), BODY, b"k"),
            Err(Refused::Missing("X-Signature"))
        );
    }
}
