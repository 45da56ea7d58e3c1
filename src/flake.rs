//! Reading `flake.lock`, to say which inputs `update-flake` moved; and the flake's
//! configurations against hosts.toml's hosts (`validate`).

use std::collections::BTreeMap;

use serde_json::Value;

/// hosts.toml against the flake's `nixosConfigurations`: the host list lives in both, and
/// each may lack what the other has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrossCheck {
    /// Hosts (of those checked) whose `attribute` the flake has no configuration for, with
    /// that attribute: an error, since they cannot be built.
    pub without_configuration: Vec<(String, String)>,
    /// Configurations no host of hosts.toml names: a note (not every configuration is a
    /// machine to deploy, an ISO or a VM test may not be).
    pub without_host: Vec<String>,
}

impl CrossCheck {
    pub fn new(
        inv: &crate::inventory::Inventory,
        checked: &[&crate::inventory::Host],
        configurations: &[String],
    ) -> CrossCheck {
        CrossCheck {
            without_configuration: checked
                .iter()
                .filter(|h| !configurations.contains(&h.attribute))
                .map(|h| (h.name.clone(), h.attribute.clone()))
                .collect(),
            without_host: configurations
                .iter()
                .filter(|c| !inv.hosts.iter().any(|h| &h.attribute == *c))
                .cloned()
                .collect(),
        }
    }
}

/// An input that moved: its name and locked revisions before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub input: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Each node's locked identity (`rev`, else `narHash`), by node name.
fn locked(lock: &str) -> BTreeMap<String, String> {
    let Ok(v) = serde_json::from_str::<Value>(lock) else {
        return BTreeMap::new();
    };
    let Some(nodes) = v.get("nodes").and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    nodes
        .iter()
        .filter_map(|(name, node)| {
            let locked = node.get("locked")?;
            let id = locked
                .get("rev")
                .or_else(|| locked.get("narHash"))
                .and_then(Value::as_str)?;
            Some((name.clone(), id.to_string()))
        })
        .collect()
}

/// The flake's own inputs (the root node's), as `update-flake` takes them.
pub fn root_inputs(lock: &str) -> Vec<String> {
    read_root_inputs(lock).unwrap_or_default()
}

/// `root_inputs`, or `None` when `lock` is not a lock file fleet can read.
pub fn read_root_inputs(lock: &str) -> Option<Vec<String>> {
    let v = serde_json::from_str::<Value>(lock).ok()?;
    let root = v.get("root").and_then(Value::as_str).unwrap_or("root");
    Some(
        v.pointer(&format!("/nodes/{root}/inputs"))
            .and_then(Value::as_object)
            .map(|inputs| inputs.keys().cloned().collect())
            .unwrap_or_default(),
    )
}

/// The inputs whose locked revision differs between two lock files' texts.
pub fn moved(before: &str, after: &str) -> Vec<Moved> {
    let (b, a) = (locked(before), locked(after));
    let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| b.get(*n) != a.get(*n))
        .map(|n| Moved {
            input: n.clone(),
            from: b.get(n).cloned(),
            to: a.get(n).cloned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_inputs_are_the_flakes_own() {
        let lock = r#"{"nodes": {"root": {"inputs": {"nixpkgs": "nixpkgs", "home-manager": "home-manager"}},
            "nixpkgs": {"locked": {"rev": "a"}}, "home-manager": {"inputs": {"nixpkgs": ["nixpkgs"]}}},
            "root": "root", "version": 7}"#;
        assert_eq!(root_inputs(lock), ["nixpkgs", "home-manager"]);
        assert!(root_inputs("not json").is_empty());
    }

    fn lock(rev: &str) -> String {
        format!(
            r#"{{"nodes":{{"nixpkgs":{{"locked":{{"rev":"{rev}"}}}},"hm":{{"locked":{{"rev":"same"}}}},"root":{{"inputs":{{}}}}}},"root":"root","version":7}}"#
        )
    }

    #[test]
    fn finds_moved_inputs() {
        let m = moved(&lock("aaa"), &lock("bbb"));
        assert_eq!(
            m,
            [Moved {
                input: "nixpkgs".into(),
                from: Some("aaa".into()),
                to: Some("bbb".into())
            }]
        );
        assert!(moved(&lock("aaa"), &lock("aaa")).is_empty());
        assert_eq!(
            moved("", &lock("x")).len(),
            2,
            "a new lock file moves everything"
        );
    }
}
