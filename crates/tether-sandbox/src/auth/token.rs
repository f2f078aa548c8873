//! ServiceAccount tokens: JWTs signed with ES256 by a key kept per data
//! directory, with the claims the real API server writes (`iss`, `sub`, `aud`,
//! `exp`, `iat`, `nbf`, `jti` and the `kubernetes.io` claim). Signing and
//! verifying are pure given the key and the time; whether the ServiceAccount
//! still exists is checked by the caller.

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The issuer (and default audience) of the tokens, as a kind or kubeadm cluster names it.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// How far clocks may disagree when checking `exp` and `nbf`, as the real
/// server's JWT library allows.
const LEEWAY_SECS: i64 = 60;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    #[serde(default)]
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    pub nbf: i64,
    pub sub: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KubernetesClaim {
    pub namespace: String,
    pub serviceaccount: Ref,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

impl Claims {
    /// The claims of a token for ServiceAccount `namespace/name` (uid `uid`),
    /// valid from `now` for `seconds`.
    pub fn service_account(
        namespace: &str,
        name: &str,
        uid: &str,
        audiences: Vec<String>,
        now: i64,
        seconds: i64,
    ) -> Claims {
        Claims {
            aud: audiences,
            exp: now + seconds,
            iat: now,
            iss: ISSUER.to_string(),
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubernetesClaim {
                namespace: namespace.to_string(),
                serviceaccount: Ref {
                    name: name.to_string(),
                    uid: uid.to_string(),
                },
            },
            nbf: now,
            sub: format!("system:serviceaccount:{namespace}:{name}"),
        }
    }
}

/// Why a token is not accepted. The client only ever sees 401 Unauthorized;
/// the reason goes to TokenReview's `status.error` and the log.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a JWT")]
    Malformed,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token is not issued by {ISSUER}")]
    WrongIssuer,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audiences {0:?} is invalid for the target audiences")]
    WrongAudience(Vec<String>),
}

/// The signing key of ServiceAccount tokens.
pub struct Signer {
    key: EcdsaKeyPair,
    kid: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("service account key is unusable: {0}")]
    Key(String),
}

impl Signer {
    /// A new key, in memory only.
    pub fn generate() -> Result<Signer, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| KeyError::Key(e.to_string()))?;
        Signer::from_pkcs8(pkcs8.as_ref())
    }

    fn from_pkcs8(der: &[u8]) -> Result<Signer, KeyError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| KeyError::Key(e.to_string()))?;
        // The key id is derived from the public key, so that it is stable across restarts.
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key().as_ref());
        let kid = B64.encode(digest.as_ref());
        Ok(Signer { key, kid })
    }

    /// The key of a data directory (`DIR/pki/sa.key`), created on first use.
    pub fn load_or_create(dir: &Path) -> Result<Signer, KeyError> {
        let path = dir.join("pki").join("sa.key");
        if path.is_file() {
            let text = std::fs::read_to_string(&path)?;
            let der = pem::parse(&text).map_err(|e| KeyError::Key(e.to_string()))?;
            return Signer::from_pkcs8(der.contents());
        }
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| KeyError::Key(e.to_string()))?;
        std::fs::create_dir_all(dir.join("pki"))?;
        let text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
        crate::tls::write_private(&path, text.as_bytes())?;
        Signer::from_pkcs8(pkcs8.as_ref())
    }

    /// The signed, compact JWT for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(serde_json::to_vec(claims).unwrap_or_default())
        );
        let rng = SystemRandom::new();
        // Signing with a valid key and the system RNG does not fail in practice;
        // an empty signature would make the token fail verification, never pass.
        let sig = self
            .key
            .sign(&rng, signing_input.as_bytes())
            .map(|s| B64.encode(s.as_ref()))
            .unwrap_or_default();
        format!("{signing_input}.{sig}")
    }

    /// The claims of a token this key signed, if it is valid at `now` for one of `audiences`.
    pub fn verify(&self, token: &str, now: i64, audiences: &[&str]) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header["alg"] != "ES256" {
            return Err(TokenError::BadSignature);
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
        let public =
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref());
        public
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = B64
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        check_claims(&claims, now, audiences)?;
        Ok(claims)
    }

    /// `/openid/v1/jwks`: the public key as a JSON Web Key Set.
    pub fn jwks(&self) -> Value {
        // An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
        let point = self.key.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        json!({"keys": [{
            "use": "sig", "kty": "EC", "kid": self.kid, "crv": "P-256", "alg": "ES256",
            "x": B64.encode(x), "y": B64.encode(y),
        }]})
    }
}

/// The checks of a token's claims that depend on the time and the audience
/// (the signature aside).
pub fn check_claims(claims: &Claims, now: i64, audiences: &[&str]) -> Result<(), TokenError> {
    if claims.iss != ISSUER {
        return Err(TokenError::WrongIssuer);
    }
    if now > claims.exp + LEEWAY_SECS {
        return Err(TokenError::Expired);
    }
    if now + LEEWAY_SECS < claims.nbf {
        return Err(TokenError::NotYetValid);
    }
    if !claims.aud.iter().any(|a| audiences.contains(&a.as_str())) {
        return Err(TokenError::WrongAudience(claims.aud.clone()));
    }
    Ok(())
}

/// Whether a bearer token looks like a JWT (three dot-separated parts), so
/// that opaque tokens are not parsed as one.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64, secs: i64, aud: &str) -> Claims {
        Claims::service_account("team", "app", "uid-1", vec![aud.into()], now, secs)
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let s = Signer::generate().unwrap();
        let c = claims(1000, 3600, ISSUER);
        let t = s.sign(&c);
        assert!(looks_like_jwt(&t));
        assert_eq!(s.verify(&t, 1001, &[ISSUER]), Ok(c.clone()));
        assert_eq!(c.sub, "system:serviceaccount:team:app");
    }

    #[test]
    fn expiry_audience_issuer_and_key_are_checked() {
        let s = Signer::generate().unwrap();
        let t = s.sign(&claims(1000, 600, ISSUER));
        assert_eq!(
            s.verify(&t, 1000 + 600 + LEEWAY_SECS + 1, &[ISSUER]),
            Err(TokenError::Expired)
        );
        assert_eq!(
            s.verify(&t, 1000 - LEEWAY_SECS - 1, &[ISSUER]),
            Err(TokenError::NotYetValid)
        );
        assert!(matches!(
            s.verify(&t, 1000, &["other"]),
            Err(TokenError::WrongAudience(_))
        ));
        // Signed by another key: refused.
        let forged = Signer::generate().unwrap().sign(&claims(1000, 600, ISSUER));
        assert_eq!(
            s.verify(&forged, 1000, &[ISSUER]),
            Err(TokenError::BadSignature)
        );
        // Claims changed after signing: refused.
        let mut parts: Vec<&str> = t.split('.').collect();
        let tampered = B64.encode(serde_json::to_vec(&claims(1000, 99999, ISSUER)).unwrap());
        parts[1] = &tampered;
        assert_eq!(
            s.verify(&parts.join("."), 1000, &[ISSUER]),
            Err(TokenError::BadSignature)
        );
        let mut other_iss = claims(1000, 600, ISSUER);
        other_iss.iss = "https://elsewhere".into();
        assert_eq!(
            s.verify(&s.sign(&other_iss), 1000, &[ISSUER]),
            Err(TokenError::WrongIssuer)
        );
        assert_eq!(s.verify("abc", 1000, &[ISSUER]), Err(TokenError::Malformed));
        assert_eq!(
            s.verify("a.b.c", 1000, &[ISSUER]),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn the_key_is_kept_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let a = Signer::load_or_create(dir.path()).unwrap();
        let b = Signer::load_or_create(dir.path()).unwrap();
        let t = a.sign(&claims(1000, 600, ISSUER));
        assert!(b.verify(&t, 1000, &[ISSUER]).is_ok());
        assert_eq!(a.jwks(), b.jwks());
        assert_eq!(a.jwks()["keys"][0]["x"].as_str().map(str::len), Some(43));
    }
}
