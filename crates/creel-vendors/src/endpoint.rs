//! Endpoint tables: every vendor endpoint creel calls, with its documented (or best-known)
//! default path. An account's `paths` overrides any of them by name; an unknown name is a
//! config error naming the field.

use std::collections::BTreeMap;

/// One vendor endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The name used in `paths` overrides, CLI calls and the request log.
    pub name: &'static str,
    /// The default path.
    pub path: &'static str,
    /// Whether the default is printed in the vendor's document (`false`: the PDF cut it off and
    /// the default is the best-known guess; check it with the vendor).
    pub documented: bool,
    /// What it does.
    pub summary: &'static str,
}

/// The paths of one account: the table's defaults with the account's overrides applied.
#[derive(Debug, Clone)]
pub struct Paths(BTreeMap<&'static str, String>);

impl Paths {
    /// The table's defaults, overridden by `overrides`; an override naming no endpoint of the
    /// table is an error naming it.
    pub fn resolve(
        table: &[Endpoint],
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let mut map: BTreeMap<&'static str, String> =
            table.iter().map(|e| (e.name, e.path.to_owned())).collect();
        for (name, path) in overrides {
            let Some(e) = table.iter().find(|e| e.name == name) else {
                let known: Vec<_> = table.iter().map(|e| e.name).collect();
                return Err(format!(
                    "paths.{name}: no such endpoint (known: {})",
                    known.join(", ")
                ));
            };
            if !path.starts_with('/') {
                return Err(format!("paths.{name}: must start with '/', got {path:?}"));
            }
            map.insert(e.name, path.clone());
        }
        Ok(Self(map))
    }

    /// The path of `endpoint`.
    #[must_use]
    pub fn get(&self, endpoint: &Endpoint) -> &str {
        self.0
            .get(endpoint.name)
            .map_or(endpoint.path, String::as_str)
    }
}
