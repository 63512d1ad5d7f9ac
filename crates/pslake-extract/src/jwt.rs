//! JWT client assertions (RFC 7523) signed PS256 (RSASSA-PSS with SHA-256) by a PEM private key,
//! as NetSuite's OAuth 2.0 client-credentials flow wants them. The key and every assertion are
//! secrets: they are held in [`Sensitive`] and never formatted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use pslake_core::Sensitive;

/// A private key that signs assertions.
pub(crate) struct AssertionSigner {
    key: RsaKeyPair,
}

impl std::fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AssertionSigner(<redacted>)")
    }
}

impl AssertionSigner {
    /// Parses a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) RSA key. The
    /// error never quotes the key.
    pub(crate) fn from_pem(pem: &str) -> Result<Self, String> {
        // environment variables sometimes carry `\n` escapes instead of newlines
        let pem = if pem.contains("\\n") && !pem.contains('\n') {
            pem.replace("\\n", "\n")
        } else {
            pem.to_string()
        };
        let key = match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs8(der)) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
                .map_err(|e| format!("the private key is not an RSA PKCS#8 key ({e})"))?,
            Ok(PrivateKeyDer::Pkcs1(der)) => RsaKeyPair::from_der(der.secret_pkcs1_der())
                .map_err(|e| format!("the private key is not an RSA PKCS#1 key ({e})"))?,
            _ => {
                return Err(
                    "the private key is not a PEM `BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY` block"
                        .into(),
                );
            }
        };
        Ok(AssertionSigner { key })
    }

    /// A signed assertion: header `{alg: PS256, typ: JWT, kid}`, claims
    /// `{iss, scope, aud, iat, exp}`.
    pub(crate) fn sign(
        &self,
        kid: &str,
        iss: &str,
        aud: &str,
        scope: &[String],
        iat: i64,
        exp: i64,
    ) -> Result<Sensitive<String>, String> {
        let header = serde_json::json!({"alg": "PS256", "typ": "JWT", "kid": kid});
        let claims = serde_json::json!({
            "iss": iss, "scope": scope, "aud": aud, "iat": iat, "exp": exp,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PSS_SHA256,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "signing the client assertion failed".to_string())?;
        Ok(Sensitive::new(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(sig)
        )))
    }
}
