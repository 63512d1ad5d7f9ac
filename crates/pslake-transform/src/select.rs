//! dbt's node selection grammar over the models of a project.
//!
//! An expression is space-separated terms (a union); a term is comma-joined atoms (an
//! intersection). An atom is a method and a value, with graph operators around it:
//!
//! - methods: a model name (`bookings`, `canonical.bookings`), `tag:x`, `folder:x` (or
//!   `schema:x`), `path:sql/x` (a bare value with a `/` is a path too), `*`; every value may be a
//!   glob (`stg_*`, `staging.*`, `tag:fin*`);
//! - `+atom` with all ancestors, `n+atom` with ancestors up to `n` generations; `atom+` and
//!   `atom+n` the same for descendants; `@atom` the atom, its descendants and every ancestor of
//!   those (dbt's "build everything a change touches").
//!
//! `--exclude` takes the same grammar and is subtracted from the selection. Anything else is an
//! "unsupported selector" error, never silently "matches no model".

use std::collections::BTreeSet;

use crate::dag;
use crate::error::{Error, Result};
use crate::project::{Model, Project};

/// The forms a selector may take, for error messages.
const SUPPORTED: &str = "name, schema.name, tag:x, folder:x, path:sql/x, *, globs (stg_*, staging.*), \
+m, n+m, m+, m+n, @m; space = union, comma = intersection";

/// How far a graph operator reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    None,
    Upto(usize),
    All,
}

/// One parsed atom.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Atom {
    /// `@atom`.
    at: bool,
    up: Depth,
    down: Depth,
    method: Method,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    /// A model name or glob, matched against `schema.name` when it has a dot, else the name.
    Name(String),
    Tag(String),
    Folder(String),
    Path(String),
}

fn unsupported(atom: &str, why: &str) -> String {
    format!("unsupported selector '{atom}': {why} (supported: {SUPPORTED})")
}

fn is_value(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*' | '?' | '[' | ']' | '/')
        })
}

fn depth(digits: &str) -> std::result::Result<Depth, ()> {
    if digits.is_empty() {
        Ok(Depth::All)
    } else {
        digits.parse().map(Depth::Upto).map_err(|_| ())
    }
}

fn parse_atom(atom: &str) -> std::result::Result<Atom, String> {
    let (at, rest) = match atom.strip_prefix('@') {
        Some(r) => (true, r),
        None => (false, atom),
    };
    // Leading `n+` / `+`.
    let (up, rest) = match rest.find('+') {
        Some(i) if rest[..i].chars().all(|c| c.is_ascii_digit()) => (
            depth(&rest[..i]).map_err(|()| unsupported(atom, "bad depth"))?,
            &rest[i + 1..],
        ),
        _ => (Depth::None, rest),
    };
    // Trailing `+` / `+n`.
    let (down, core) = match rest.rfind('+') {
        Some(i) if rest[i + 1..].chars().all(|c| c.is_ascii_digit()) => (
            depth(&rest[i + 1..]).map_err(|()| unsupported(atom, "bad depth"))?,
            &rest[..i],
        ),
        _ => (Depth::None, rest),
    };
    if at && (up != Depth::None || down != Depth::None) {
        return Err(unsupported(atom, "'@' cannot be combined with '+'"));
    }
    let method = match core.split_once(':') {
        Some(("tag", v)) => Method::Tag(v.to_string()),
        Some(("folder" | "schema", v)) => Method::Folder(v.to_string()),
        Some(("path", v)) => Method::Path(v.trim_end_matches('/').to_string()),
        Some(("fqn", v)) => Method::Name(v.to_string()),
        Some((m, _)) => {
            return Err(unsupported(
                atom,
                &format!("the method '{m}:' is not supported"),
            ));
        }
        None if core.contains('/') => Method::Path(core.trim_end_matches('/').to_string()),
        None => Method::Name(core.to_string()),
    };
    let value = match &method {
        Method::Name(v) | Method::Tag(v) | Method::Folder(v) | Method::Path(v) => v,
    };
    if !is_value(value) {
        let why = if value.is_empty() {
            "nothing to select".to_string()
        } else {
            format!("'{value}' is not a name, tag, folder or path")
        };
        return Err(unsupported(atom, &why));
    }
    Ok(Atom {
        at,
        up,
        down,
        method,
    })
}

/// fnmatch-style glob: `*` any run, `?` one character, `[abc]`/`[a-z]`/`[!a]` a class.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p starts after '['; returns (matched, length consumed including ']').
        let mut i = 0;
        let negate = matches!(p.first(), Some('!' | '^'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let start = i;
        while i < p.len() && (p[i] != ']' || i == start) {
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                matched |= p[i] <= c && c <= p[i + 2];
                i += 3;
            } else {
                matched |= p[i] == c;
                i += 1;
            }
        }
        (i < p.len()).then_some((matched != negate, i + 1))
    }
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|k| go(&p[1..], &t[k..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => match (t.first(), class(&p[1..], *t.first().unwrap_or(&'\0'))) {
                (Some(_), Some((true, n))) => go(&p[1 + n..], &t[1..]),
                (Some(_), Some((false, _))) | (None, _) => false,
                (Some(&c), None) => c == '[' && go(&p[1..], &t[1..]),
            },
            Some(&c) => t.first() == Some(&c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

fn matches(method: &Method, m: &Model) -> bool {
    match method {
        Method::Name(v) if v == "*" => true,
        Method::Name(v) if v.contains('.') => glob_match(v, &m.name.to_string()),
        Method::Name(v) => glob_match(v, &m.name.name),
        Method::Tag(v) => m.tags.iter().any(|t| glob_match(v, t)),
        Method::Folder(v) => glob_match(v, &m.name.schema),
        Method::Path(v) => {
            let file = m.file.to_string_lossy().replace('\\', "/");
            glob_match(v, &file)
                || std::path::Path::new(&file).starts_with(v)
                || glob_match(&format!("{v}/*"), &file)
        }
    }
}

/// Everything reachable from `start` along `edges` within `depth` steps (start excluded).
fn reach(start: usize, edges: &[Vec<usize>], depth: Depth, out: &mut BTreeSet<usize>) {
    let steps = match depth {
        Depth::None => return,
        Depth::Upto(n) => n,
        Depth::All => usize::MAX,
    };
    dag::reach(start, edges, steps, out);
}

/// The models an expression selects (`Ok(None)` for an empty expression).
fn eval(project: &Project, expr: &str) -> Result<Option<BTreeSet<usize>>> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Ok(None);
    }
    let err = |reason: String| Error::Select {
        select: expr.to_string(),
        reason,
    };
    let parents = dag::parents(project);
    let children = dag::children(&parents);
    let mut selected = BTreeSet::new();
    for term in expr.split_whitespace() {
        let mut inter: Option<BTreeSet<usize>> = None;
        for atom in term.split(',') {
            if atom.is_empty() {
                return Err(err(unsupported(term, "an empty atom around ','")));
            }
            let a = parse_atom(atom).map_err(err)?;
            let base: BTreeSet<usize> = project
                .models()
                .iter()
                .enumerate()
                .filter(|(_, m)| matches(&a.method, m))
                .map(|(i, _)| i)
                .collect();
            if base.is_empty() {
                let what = match &a.method {
                    Method::Name(v) | Method::Path(v) => v.clone(),
                    Method::Tag(v) => format!("tag:{v}"),
                    Method::Folder(v) => format!("folder:{v}"),
                };
                return Err(err(format!("'{what}' matches no model")));
            }
            let mut set = base.clone();
            for &b in &base {
                if a.at {
                    let mut down = BTreeSet::from([b]);
                    reach(b, &children, Depth::All, &mut down);
                    for &d in &down {
                        reach(d, &parents, Depth::All, &mut set);
                    }
                    set.extend(down);
                } else {
                    reach(b, &parents, a.up, &mut set);
                    reach(b, &children, a.down, &mut set);
                }
            }
            inter = Some(match inter {
                None => set,
                Some(prev) => prev.intersection(&set).copied().collect(),
            });
        }
        selected.extend(inter.unwrap_or_default());
    }
    Ok(Some(selected))
}

/// The models selected by `select` (every model when `None` or empty) minus those selected by
/// `exclude`, as indexes into `project.models()`.
pub(crate) fn select(
    project: &Project,
    select: Option<&str>,
    exclude: Option<&str>,
) -> Result<BTreeSet<usize>> {
    let mut out = match select.map(|s| eval(project, s)).transpose()?.flatten() {
        Some(s) => s,
        None => (0..project.models().len()).collect(),
    };
    if let Some(ex) = exclude.map(|e| eval(project, e)).transpose()?.flatten() {
        out.retain(|i| !ex.contains(i));
    }
    Ok(out)
}

/// The one model `name` (`name` or `schema.name`) names.
pub(crate) fn one_model(project: &Project, name: &str) -> Result<usize> {
    let err = |reason: String| Error::Select {
        select: name.to_string(),
        reason,
    };
    let found: Vec<usize> = project
        .models()
        .iter()
        .enumerate()
        .filter(|(_, m)| m.name.to_string() == name || m.name.name == name)
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(err(format!("'{name}' is not a model"))),
        many => Err(err(format!(
            "'{name}' names {} models ({}); write schema.name",
            many.len(),
            many.iter()
                .map(|&i| project.models()[i].name.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("stg_*", "stg_kantata"));
        assert!(!glob_match("stg_*", "int_x"));
        assert!(glob_match("staging.*", "staging.stg_a"));
        assert!(glob_match("*.stg_?", "staging.stg_a"));
        assert!(glob_match("dim_[cp]*", "dim_project"));
        assert!(!glob_match("dim_[!cp]*", "dim_project"));
        assert!(glob_match("fin*", "finance"));
        assert!(glob_match("a", "a"));
        assert!(!glob_match("a", "ab"));
    }

    #[test]
    fn atoms_parse() {
        let a = parse_atom("2+canonical.margin+1").expect("atom");
        assert_eq!((a.up, a.down), (Depth::Upto(2), Depth::Upto(1)));
        assert_eq!(a.method, Method::Name("canonical.margin".into()));
        let a = parse_atom("@stg_*").expect("atom");
        assert!(a.at);
        let a = parse_atom("+tag:finance+").expect("atom");
        assert_eq!((a.up, a.down), (Depth::All, Depth::All));
        assert_eq!(
            parse_atom("sql/canonical").expect("atom").method,
            Method::Path("sql/canonical".into())
        );
        for bad in [
            "source:raw.x",
            "state:modified",
            "@+m",
            "m!",
            "+",
            "tag:",
            "config.materialized:view",
        ] {
            let e = parse_atom(bad).expect_err(bad);
            assert!(e.starts_with("unsupported selector"), "{bad}: {e}");
        }
    }
}
