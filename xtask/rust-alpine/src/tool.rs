//! The tool the image build installs: this crate, at this version, from the registry cargo
//! took it from. The Dockerfile pins the version (`ARG RUST_ALPINE_VERSION`); a version not on
//! crates.io (a contributor's, served from a registry on loopback as `cargo xtask registry`
//! in rust-alpine's repository does) reaches the build as `RUST_ALPINE_INDEX`.

use std::path::Path;

use anyhow::bail;
use serde_json::Value;
use xshell::{Shell, cmd};

/// This crate's version: what the Dockerfile must pin.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// The version the Dockerfile's `ARG RUST_ALPINE_VERSION=` pins, if it pins one.
pub fn pinned(dockerfile: &str) -> Option<&str> {
    dockerfile.lines().find_map(|line| {
        line.trim()
            .strip_prefix("ARG RUST_ALPINE_VERSION=")
            .map(|value| value.trim().trim_matches('"'))
    })
}

/// Refuses a Dockerfile that installs another version of the tool than this one.
pub fn check_pinned(dockerfile: &str) -> anyhow::Result<()> {
    match pinned(dockerfile) {
        Some(version) if version == VERSION => Ok(()),
        Some(version) => bail!(
            "the Dockerfile installs rust-alpine {version} but xtask/Cargo.toml pins {VERSION}: \
             run `cargo xtask upgrade` to bring the Dockerfile (and the other files rust-alpine \
             owns) to {VERSION}, or pin {version} again in xtask/Cargo.toml"
        ),
        None => bail!(
            "the Dockerfile has no `ARG RUST_ALPINE_VERSION=`: it cannot install the tool its \
             stages run; restore the line (`ARG RUST_ALPINE_VERSION={VERSION}` in the `tool` \
             stage) or run `cargo xtask upgrade`"
        ),
    }
}

/// The registry index the image build must install the tool from, when it is not crates.io:
/// `$RUST_ALPINE_INDEX` when set, else the registry cargo resolved `xtask/`'s rust-alpine from
/// (`cargo metadata`). `None`: crates.io, the Dockerfile's default.
pub fn index(sh: &Shell, root: &Path) -> anyhow::Result<Option<String>> {
    if let Ok(index) = std::env::var("RUST_ALPINE_INDEX") {
        return Ok(Some(index).filter(|index| !index.is_empty()));
    }
    let manifest = root.join("xtask/Cargo.toml");
    if !manifest.is_file() {
        return Ok(None);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = cmd!(
        sh,
        "{cargo} metadata --format-version 1 --offline --manifest-path {manifest}"
    )
    .quiet()
    .ignore_stderr()
    .ignore_status()
    .output()?;
    let Ok(metadata) = serde_json::from_slice::<Value>(&output.stdout) else {
        return Ok(None);
    };
    source_index(&metadata)
}

fn source_index(metadata: &Value) -> anyhow::Result<Option<String>> {
    let ours = metadata["packages"].as_array().and_then(|packages| {
        packages
            .iter()
            .find(|package| package["name"] == "rust-alpine" && package["version"] == VERSION)
    });
    let Some(package) = ours else {
        return Ok(None);
    };
    match package["source"].as_str() {
        Some(CRATES_IO) => Ok(None),
        Some(source) if source.starts_with("sparse+") => Ok(Some(source.to_owned())),
        Some(source) if source.starts_with("registry+") => {
            Ok(Some(source.trim_start_matches("registry+").to_owned()))
        }
        Some(source) => bail!(
            "xtask/ takes rust-alpine from {source}, which the image build cannot install from: \
             it installs with `cargo install --index`; serve the crate from a registry \
             (`cargo xtask registry` in rust-alpine's repository) or use a released version"
        ),
        None => bail!(
            "xtask/ takes rust-alpine from a path, which the image build cannot reach: serve \
             the packaged crate from a registry (`cargo xtask registry` in rust-alpine's \
             repository) or use a released version"
        ),
    }
}

/// An index on this machine's loopback is only reachable from a build on the host's network.
pub fn is_loopback(index: &str) -> bool {
    ["//localhost", "//127.0.0.", "//[::1]"]
        .iter()
        .any(|host| index.contains(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_must_be_this_version() {
        let ok = format!("FROM x AS tool\nARG RUST_ALPINE_VERSION={VERSION}\n");
        assert_eq!(pinned(&ok), Some(VERSION));
        check_pinned(&ok).unwrap();
        let old = "ARG RUST_ALPINE_VERSION=0.0.1\n";
        let error = check_pinned(old).unwrap_err().to_string();
        assert!(error.contains("installs rust-alpine 0.0.1"), "{error}");
        assert!(error.contains("cargo xtask upgrade"), "{error}");
        let error = check_pinned("FROM scratch\n").unwrap_err().to_string();
        assert!(error.contains("no `ARG RUST_ALPINE_VERSION=`"), "{error}");
    }

    #[test]
    fn the_index_is_the_source_cargo_resolved() {
        let metadata = |source: Value| {
            serde_json::json!({"packages": [
                {"name": "anyhow", "version": "1.0.0", "source": CRATES_IO},
                {"name": "rust-alpine", "version": VERSION, "source": source},
            ]})
        };
        assert_eq!(source_index(&metadata(CRATES_IO.into())).unwrap(), None);
        assert_eq!(
            source_index(&metadata("sparse+http://127.0.0.1:4000/".into())).unwrap(),
            Some("sparse+http://127.0.0.1:4000/".to_owned())
        );
        let error = source_index(&metadata(Value::Null)).unwrap_err().to_string();
        assert!(error.contains("from a path"), "{error}");
        assert!(is_loopback("sparse+http://127.0.0.1:4000/"));
        assert!(!is_loopback("sparse+https://registry.example.com/"));
    }
}
