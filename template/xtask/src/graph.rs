//! The resolved dependency graph (`cargo metadata` with dependencies), for `--check-cache`'s
//! advice: which crates only the build scripts of workspace members need.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Graph {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    resolve: Resolve,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    deps: Vec<Dep>,
}

#[derive(Deserialize)]
struct Dep {
    pkg: String,
    dep_kinds: Vec<DepKind>,
}

#[derive(Deserialize)]
struct DepKind {
    /// `null` for a normal dependency, `"build"` or `"dev"`.
    kind: Option<String>,
}

impl Graph {
    pub fn parse(json: &str) -> anyhow::Result<Graph> {
        serde_json::from_str(json).context("reading `cargo metadata` (with dependencies)")
    }

    /// Crates that compile only because a workspace member has a build script: reachable
    /// through a member's `[build-dependencies]`, not through its `[dependencies]`.
    pub fn build_only(&self) -> Vec<String> {
        let through = |kind: Option<&str>| self.closure(kind);
        let normal = through(None);
        let names: HashMap<&str, &str> = self
            .packages
            .iter()
            .map(|package| (package.id.as_str(), package.name.as_str()))
            .collect();
        let build_only: BTreeSet<&str> = through(Some("build"))
            .difference(&normal)
            .filter_map(|id| names.get(id).copied())
            .collect();
        build_only.into_iter().map(str::to_owned).collect()
    }

    /// What the members' `kind` edges reach, and everything those crates need to build.
    fn closure(&self, kind: Option<&str>) -> BTreeSet<&str> {
        let nodes: HashMap<&str, &Node> = self
            .resolve
            .nodes
            .iter()
            .map(|node| (node.id.as_str(), node))
            .collect();
        let mut stack: Vec<&str> = self
            .workspace_members
            .iter()
            .filter_map(|member| nodes.get(member.as_str()))
            .flat_map(|node| node.edges(|k| k == kind))
            .filter(|id| !self.workspace_members.iter().any(|member| member == id))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if seen.insert(id)
                && let Some(node) = nodes.get(id)
            {
                stack.extend(node.edges(|k| k != Some("dev")));
            }
        }
        seen
    }
}

impl Node {
    /// The packages this one depends on through the dependency kinds `wanted` accepts.
    fn edges(&self, wanted: impl Fn(Option<&str>) -> bool) -> impl Iterator<Item = &str> {
        self.deps
            .iter()
            .filter(move |dep| dep.dep_kinds.iter().any(|k| wanted(k.kind.as_deref())))
            .map(|dep| dep.pkg.as_str())
    }
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
