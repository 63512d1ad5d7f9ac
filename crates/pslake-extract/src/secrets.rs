//! Secret resolution: `${env:NAME}` from overrides then the environment; `${secret:NAME}` from
//! overrides, then the pipeline's secrets file (`NAME=value` lines, `#` comments), then the
//! environment. Values come back wrapped in [`Sensitive`].

use std::collections::HashMap;
use std::path::Path;

use pslake_core::Sensitive;
use pslake_core::pipeline::ValueRef;

use crate::error::{Error, Result};

/// Where secret values come from.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    overrides: HashMap<String, Sensitive<String>>,
    file: HashMap<String, Sensitive<String>>,
    file_name: Option<String>,
}

impl Secrets {
    /// Secrets from `overrides` (e.g. the embedded sandbox's credentials) and `file`.
    pub fn new(overrides: HashMap<String, Sensitive<String>>, file: Option<&Path>) -> Result<Self> {
        let mut map = HashMap::new();
        if let Some(f) = file {
            let text = fs_err::read_to_string(f)
                .map_err(|e| Error::Config(format!("secrets file: {e}")))?;
            for (i, line) in text.lines().enumerate() {
                let l = line.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let Some((k, v)) = l.split_once('=') else {
                    return Err(Error::Config(format!(
                        "secrets file {}:{}: expected NAME=value",
                        f.display(),
                        i + 1
                    )));
                };
                let v = v.trim().trim_matches('"');
                map.insert(k.trim().to_string(), Sensitive::new(v.to_string()));
            }
        }
        Ok(Secrets {
            overrides,
            file: map,
            file_name: file.map(|f| f.display().to_string()),
        })
    }

    /// The value of a reference (plain values are returned as they are).
    pub fn resolve(&self, v: &ValueRef) -> Result<Sensitive<String>> {
        let env = |n: &str| {
            std::env::var(n)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Sensitive::new)
        };
        match v {
            ValueRef::Plain(s) => Ok(Sensitive::new(s.clone())),
            ValueRef::Env(n) => self.overrides.get(n).cloned().or_else(|| env(n)).ok_or_else(|| Error::MissingSecret {
                name: n.clone(),
                hint: format!("set the environment variable {n}"),
            }),
            ValueRef::Secret(n) => self
                .overrides
                .get(n)
                .cloned()
                .or_else(|| self.file.get(n).cloned())
                .or_else(|| env(n))
                .ok_or_else(|| Error::MissingSecret {
                    name: n.clone(),
                    hint: match &self.file_name {
                        Some(f) => format!("add {n}=... to {f} or set the environment variable {n}"),
                        None => format!("set the environment variable {n} or name a secrets_file in the pipeline"),
                    },
                }),
        }
    }
}
