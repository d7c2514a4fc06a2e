//! The resolved dependency graph (`cargo metadata` with dependencies), for `--check-cache`'s
//! advice: which crates only the build scripts of workspace members need.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use serde_json::Value;

pub struct Graph(Value);

/// The items of the array at `value[key]`, none when it is missing.
fn items<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value[key].as_array().into_iter().flatten()
}

fn id(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

impl Graph {
    pub fn parse(json: &str) -> anyhow::Result<Graph> {
        let graph =
            serde_json::from_str(json).context("reading `cargo metadata` (with dependencies)")?;
        Ok(Graph(graph))
    }

    /// Crates that compile only because a workspace member has a build script: reachable
    /// through a member's `[build-dependencies]`, not through its `[dependencies]`.
    pub fn build_only(&self) -> Vec<String> {
        let names: HashMap<&str, &str> = items(&self.0, "packages")
            .map(|package| (id(&package["id"]), id(&package["name"])))
            .collect();
        let normal = self.closure(None);
        let build_only: BTreeSet<&str> = self
            .closure(Some("build"))
            .difference(&normal)
            .filter_map(|id| names.get(id).copied())
            .collect();
        build_only.into_iter().map(str::to_owned).collect()
    }

    /// What the members' `kind` edges reach (`None`: normal dependencies), and everything
    /// those crates need to build.
    fn closure(&self, kind: Option<&str>) -> BTreeSet<&str> {
        let nodes: HashMap<&str, &Value> = items(&self.0["resolve"], "nodes")
            .map(|node| (id(&node["id"]), node))
            .collect();
        let members: Vec<&str> = items(&self.0, "workspace_members").map(id).collect();
        let mut stack: Vec<&str> = members
            .iter()
            .filter_map(|member| nodes.get(member))
            .flat_map(|node| edges(node, |k| k == kind))
            .filter(|id| !members.contains(id))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if seen.insert(id)
                && let Some(node) = nodes.get(id)
            {
                stack.extend(edges(node, |k| k != Some("dev")));
            }
        }
        seen
    }
}

/// The packages `node` depends on through the dependency kinds `wanted` accepts (a kind is
/// `None` for a normal dependency, `"build"` or `"dev"`).
fn edges(node: &Value, wanted: impl Fn(Option<&str>) -> bool) -> impl Iterator<Item = &str> {
    items(node, "deps")
        .filter(move |dep| items(dep, "dep_kinds").any(|k| wanted(k["kind"].as_str())))
        .map(|dep| id(&dep["pkg"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_dependencies_of_members_are_told_apart() {
        // app -> serde (normal), app -> cc (build) -> shlex; serde -> serde_derive (normal);
        // app -> proptest (dev).
        let dep = |pkg: &str, kind: Option<&str>| serde_json::json!({"pkg": pkg, "dep_kinds": [{"kind": kind}]});
        let packages: Vec<_> = ["app", "serde", "serde_derive", "cc", "shlex", "proptest"]
            .map(|name| serde_json::json!({"id": name, "name": name}))
            .to_vec();
        let json = serde_json::json!({
            "packages": packages,
            "workspace_members": ["app"],
            "resolve": {"nodes": [
                {"id": "app", "deps": [dep("serde", None), dep("cc", Some("build")), dep("proptest", Some("dev"))]},
                {"id": "serde", "deps": [dep("serde_derive", None)]},
                {"id": "cc", "deps": [dep("shlex", None)]},
                {"id": "serde_derive", "deps": []},
                {"id": "shlex", "deps": []},
                {"id": "proptest", "deps": []},
            ]},
        });
        let graph = Graph::parse(&json.to_string()).unwrap();
        assert_eq!(graph.build_only(), ["cc", "shlex"]);
    }
}
