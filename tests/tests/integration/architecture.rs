//! Fails when a crate's Cargo.toml adds a dependency edge between creel crates that
//! ARCHITECTURE.md does not allow, or when a crate outside `creel` uses anyhow.

use std::collections::BTreeMap;
use std::path::Path;

/// The allowed edges, as ARCHITECTURE.md lists them.
const ALLOWED: &[(&str, &[&str])] = &[
    ("creel-core", &[]),
    ("creel-vendors", &["creel-core"]),
    ("creel-redis", &[]),
    ("creel-limiter", &["creel-core", "creel-redis"]),
    ("creel-storage", &["creel-core"]),
    ("creel-sim", &["creel-core"]),
    ("creel-queue", &["creel-core", "creel-redis"]),
    (
        "creel-jobs",
        &[
            "creel-core",
            "creel-vendors",
            "creel-limiter",
            "creel-storage",
            "creel-queue",
        ],
    ),
    ("creel-api", &["creel-core", "creel-queue", "creel-vendors"]),
    (
        "creel",
        &[
            "creel-core",
            "creel-vendors",
            "creel-limiter",
            "creel-storage",
            "creel-queue",
            "creel-redis",
            "creel-jobs",
            "creel-api",
            "creel-sim",
        ],
    ),
];

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
}

/// Every crate under crates/ and the creel-* crates it depends on (normal and build deps).
fn crate_edges() -> BTreeMap<String, (Vec<String>, bool)> {
    let mut out = BTreeMap::new();
    let dir = workspace_root().join("crates");
    for entry in std::fs::read_dir(&dir).expect("crates/ exists") {
        let path = entry.expect("entry").path().join("Cargo.toml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let manifest: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = manifest["package"]["name"]
            .as_str()
            .expect("package.name")
            .to_owned();
        let folder = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert_eq!(name, folder, "package name must equal its folder name");
        let mut deps = Vec::new();
        let mut anyhow = false;
        for section in ["dependencies", "build-dependencies"] {
            if let Some(t) = manifest.get(section).and_then(|v| v.as_table()) {
                deps.extend(t.keys().filter(|k| k.starts_with("creel")).cloned());
                anyhow |= t.contains_key("anyhow");
            }
        }
        out.insert(name, (deps, anyhow));
    }
    out
}

#[test]
fn crate_dependencies_follow_the_architecture() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let edges = crate_edges();
    assert!(edges.contains_key("creel-core") && edges.contains_key("creel-queue"));
    for (krate, (deps, _)) in &edges {
        let ok = allowed
            .get(krate.as_str())
            .unwrap_or_else(|| panic!("{krate} is not in ARCHITECTURE.md's crate list"));
        for d in deps {
            assert!(
                ok.contains(&d.as_str()),
                "{krate} -> {d} is not an allowed dependency (see ARCHITECTURE.md)"
            );
        }
    }
}

#[test]
fn only_the_binary_uses_anyhow() {
    for (krate, (_, anyhow)) in crate_edges() {
        assert!(
            !anyhow || krate == "creel",
            "{krate} depends on anyhow; libraries define thiserror enums"
        );
    }
}

#[test]
fn architecture_md_lists_the_same_edges() {
    let doc = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md exists");
    for (krate, deps) in ALLOWED {
        let line = format!(
            "| `{krate}` | {} |",
            if deps.is_empty() {
                "—".to_owned()
            } else {
                deps.iter()
                    .map(|d| format!("`{d}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        assert!(doc.contains(&line), "ARCHITECTURE.md lacks the row {line}");
    }
}
