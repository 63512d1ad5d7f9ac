//! [`Sensitive`]: a value that must never be printed (tokens, passwords, client secrets).

use std::fmt;

/// A secret value. `Debug` and `Display` print `*****`; read it with [`Sensitive::expose`] only
/// where it is sent (an HTTP header, a token request body).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself. Never log or format the result.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

impl From<String> for Sensitive<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Sensitive::new("hunter2".to_string());
        assert_eq!(format!("{s:?} {s}"), "***** *****");
        assert_eq!(s.expose(), "hunter2");
    }
}
