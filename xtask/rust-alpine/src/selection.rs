//! What the image build compiles: the packages and binaries it ships and the features it
//! builds them with, as cargo arguments. The planner writes them into the recipe once, and the
//! dependency build (`cook`) and the final build (`build`) both pass exactly these, so they
//! can never disagree (a dependency layer built with other features would be useless).
//!
//! The features come from the settings (`features`, `default-features`, `all-features`), plus
//! a one-off selection in cargo's flags (`cargo xtask docker --features ..`, which reaches the
//! planner as the `FEATURES` build argument), plus every shipped binary's `required-features`.

use anyhow::bail;

use crate::project::Project;

/// The build argument (an environment variable of the planner's step) that carries a one-off
/// selection, in cargo's flags: `--features a,b --no-default-features --all-features`.
pub const FEATURES_ARG: &str = "FEATURES";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// As written: `name` (the entrypoint's package's) or `member/name`, `dependency/name`.
    pub features: Vec<String>,
    pub default_features: bool,
    pub all_features: bool,
}

impl Default for Selection {
    fn default() -> Selection {
        Selection {
            features: Vec::new(),
            default_features: true,
            all_features: false,
        }
    }
}

impl Selection {
    /// The settings' selection, each feature checked against the packages that must have it.
    pub fn of_project(project: &Project) -> anyhow::Result<Selection> {
        let selection = Selection {
            features: project.features.clone(),
            default_features: project.default_features,
            all_features: project.all_features,
        };
        let what = format!("features in {} of Cargo.toml", project.settings_table);
        selection.check(project, &what)?;
        Ok(selection)
    }

    /// The settings' selection with a one-off one (cargo's flags) on top: features added,
    /// `--no-default-features` and `--all-features` switched on.
    pub fn with_flags(&self, flags: &str) -> anyhow::Result<Selection> {
        let mut selection = self.clone();
        let mut words = flags.split_whitespace();
        while let Some(word) = words.next() {
            let list = match word {
                "--no-default-features" => {
                    selection.default_features = false;
                    continue;
                }
                "--all-features" => {
                    selection.all_features = true;
                    continue;
                }
                "--features" | "-F" => words.next().unwrap_or(""),
                word => match word.strip_prefix("--features=") {
                    Some(list) => list,
                    None => bail!(
                        "{FEATURES_ARG}={flags:?}: {word:?} is not one of cargo's feature flags \
                         (--features A,B, --no-default-features, --all-features)"
                    ),
                },
            };
            if list.is_empty() {
                bail!("{FEATURES_ARG}={flags:?}: --features needs a list of features");
            }
            for feature in list.split(',').filter(|feature| !feature.is_empty()) {
                if !selection.features.iter().any(|known| known == feature) {
                    selection.features.push(feature.to_owned());
                }
            }
        }
        Ok(selection)
    }

    /// The one-off part of a selection as cargo's flags (what `cargo xtask docker` passes as
    /// `FEATURES`).
    pub fn flags(features: &[String], no_default_features: bool, all_features: bool) -> String {
        let mut flags = Vec::new();
        if !features.is_empty() {
            flags.push(format!("--features {}", features.join(",")));
        }
        if no_default_features {
            flags.push("--no-default-features".to_owned());
        }
        if all_features {
            flags.push("--all-features".to_owned());
        }
        flags.join(" ")
    }

    /// Every feature names one the package it applies to has: a plain name the entrypoint's
    /// package, `member/name` that member, `dependency/name` a dependency of a shipped package.
    pub fn check(&self, project: &Project, what: &str) -> anyhow::Result<()> {
        let (members, bins) = (&project.members, &project.bins);
        let entry = &members[bins[0].0];
        for feature in &self.features {
            let (package, name) = match feature.split_once('/') {
                Some((package, name)) => (package.trim_end_matches('?'), name),
                None => (entry.name.as_str(), feature.as_str()),
            };
            let known = match members.iter().find(|member| member.name == package) {
                Some(member) => member.features.iter().any(|known| known == name),
                // A dependency's feature: cargo checks it against the dependency.
                None => bins.iter().any(|(index, _)| {
                    members[*index]
                        .dependencies
                        .iter()
                        .any(|dependency| *dependency == package.replace('-', "_"))
                }),
            };
            if !known {
                let owner = members.iter().find(|member| member.name == package);
                let has = match owner {
                    Some(owner) if owner.features.is_empty() => "it has none".to_owned(),
                    Some(owner) => format!("it has: {}", sorted(&owner.features).join(", ")),
                    None => "no member or dependency of a shipped package has that name".into(),
                };
                bail!(
                    "{what} names {feature:?}, but package {package} has no feature {name:?} \
                     ({has}): name one of its features, or `member/feature` for another member's"
                );
            }
        }
        Ok(())
    }

    /// The cargo arguments that select what the image ships, relative to the workspace root:
    /// the package(s), each binary, and the features (the shipped binaries' `required-features`
    /// included).
    pub fn cargo_args(&self, project: &Project) -> Vec<String> {
        let mut packages: Vec<usize> = Vec::new();
        for (index, _) in &project.bins {
            if !packages.contains(index) {
                packages.push(*index);
            }
        }
        let mut args = Vec::new();
        let several = packages.len() > 1;
        if several {
            args.extend(["--manifest-path".to_owned(), "Cargo.toml".to_owned()]);
            for index in &packages {
                args.extend(["--package".to_owned(), project.members[*index].name.clone()]);
            }
        } else {
            let manifest = project.relative(&project.members[packages[0]].manifest);
            args.extend(["--manifest-path".to_owned(), manifest.display().to_string()]);
        }
        let entry = &project.members[project.bins[0].0].name;
        let qualified = |package: &str, feature: &str| match (several, feature.contains('/')) {
            (true, false) => format!("{package}/{feature}"),
            _ => feature.to_owned(),
        };
        let mut features: Vec<String> = self
            .features
            .iter()
            .map(|feature| qualified(entry, feature))
            .collect();
        for (index, bin) in &project.bins {
            args.extend(["--bin".to_owned(), bin.clone()]);
            let package = &project.members[*index];
            let target = package.bins().find(|target| target.name == *bin);
            for feature in target
                .into_iter()
                .flat_map(|target| &target.required_features)
            {
                features.push(qualified(&package.name, feature));
            }
        }
        features.sort();
        features.dedup();
        if self.all_features {
            args.push("--all-features".to_owned());
        } else if !features.is_empty() {
            args.extend(["--features".to_owned(), features.join(",")]);
        }
        if !self.default_features {
            args.push("--no-default-features".to_owned());
        }
        args
    }
}

fn sorted(names: &[String]) -> Vec<&str> {
    let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{self, tests::metadata};

    #[test]
    fn several_binaries_and_features_become_one_cargo_selection() {
        let settings = |docker: serde_json::Value| {
            project::parse(&metadata(serde_json::json!({"docker": docker}))).unwrap()
        };
        // One package: its manifest, plain features; the shipped binary's required ones.
        let project = settings(serde_json::json!({"bin": "server", "features": ["metrics"]}));
        assert_eq!(
            Selection::of_project(&project)
                .unwrap()
                .cargo_args(&project)
                .join(" "),
            "--manifest-path Cargo.toml --bin server --features metrics,net"
        );
        // Several packages: each selected, every feature qualified; the entrypoint first.
        let project = settings(serde_json::json!({
            "bins": ["server", "tool-cli"], "features": ["metrics", "tool/fast", "json/std"],
            "default-features": false,
        }));
        assert_eq!(project.bin, "server");
        assert_eq!(
            project.bins,
            [(0, "server".to_owned()), (1, "tool-cli".to_owned())]
        );
        assert_eq!(
            Selection::of_project(&project)
                .unwrap()
                .cargo_args(&project)
                .join(" "),
            "--manifest-path Cargo.toml --package demo --package tool --bin server \
             --bin tool-cli --features demo/metrics,demo/net,json/std,tool/fast \
             --no-default-features"
        );
        // `bin` names the entrypoint among `bins`, and is shipped even when not listed.
        let project = settings(
            serde_json::json!({"bin": "tool-cli", "bins": ["demo"], "all-features": true}),
        );
        assert_eq!(
            project.bins,
            [(1, "tool-cli".to_owned()), (0, "demo".to_owned())]
        );
        assert_eq!(
            Selection::of_project(&project)
                .unwrap()
                .cargo_args(&project)
                .join(" "),
            "--manifest-path Cargo.toml --package tool --package demo --bin tool-cli --bin demo \
             --all-features"
        );
        let project = settings(
            serde_json::json!({"include": ["migrations", "config/app.toml"], "zoneinfo": true}),
        );
        assert_eq!(project.include, ["migrations", "config/app.toml"]);
        assert!(project.zoneinfo);
    }

    #[test]
    fn every_feature_names_one_its_package_has() {
        for (features, message) in [
            (
                serde_json::json!(["tracing"]),
                "features in [workspace.metadata.docker] of Cargo.toml names \"tracing\", but package demo has no feature \"tracing\" (it has: default, metrics, net)",
            ),
            (
                serde_json::json!(["tool/slow"]),
                "names \"tool/slow\", but package tool has no feature \"slow\" (it has: fast)",
            ),
            (
                serde_json::json!(["nope/x"]),
                "names \"nope/x\", but package nope has no feature \"x\" (no member or dependency",
            ),
        ] {
            let project = project::parse(&metadata(
                serde_json::json!({"docker": {"features": features}}),
            ))
            .unwrap();
            let error = Selection::of_project(&project).unwrap_err().to_string();
            assert!(error.contains(message), "{error}");
        }
        let project = project::parse(&metadata(serde_json::json!({"docker": {
            "features": ["metrics", "tool/fast", "json/std"],
        }})))
        .unwrap();
        Selection::of_project(&project).unwrap();
    }

    #[test]
    fn one_off_flags_add_to_the_settings() {
        let settings = Selection {
            features: vec!["a".into()],
            ..Selection::default()
        };
        let selection = settings
            .with_flags("--features b,a -F c --features=d --no-default-features")
            .unwrap();
        assert_eq!(selection.features, ["a", "b", "c", "d"]);
        assert!(!selection.default_features);
        assert!(!selection.all_features);
        assert!(settings.with_flags("--all-features").unwrap().all_features);
        assert_eq!(settings.with_flags("").unwrap(), settings);
        let error = settings.with_flags("--release").unwrap_err().to_string();
        assert!(
            error.contains("\"--release\" is not one of cargo's feature flags"),
            "{error}"
        );
        let error = settings.with_flags("--features").unwrap_err().to_string();
        assert!(error.contains("needs a list"), "{error}");
        let flags = Selection::flags(&["x".into(), "y".into()], true, false);
        assert_eq!(flags, "--features x,y --no-default-features");
        assert_eq!(
            Selection::default().with_flags(&flags).unwrap().features,
            ["x", "y"]
        );
    }
}
