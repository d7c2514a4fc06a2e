//! The tool the image build installs: this crate, at this version, from the registry cargo
//! took it from. The Dockerfile pins the version (`ARG RUST_ALPINE_VERSION`); a version not on
//! crates.io (a contributor's, served from a registry on loopback as `cargo xtask registry`
//! in rust-alpine's repository does) reaches the build as `RUST_ALPINE_INDEX`.

use std::path::Path;

use anyhow::bail;

use crate::edit;

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
/// `$RUST_ALPINE_INDEX` when set, else the source of this version in `xtask/Cargo.lock`, which
/// cargo wrote when it built the running tool (a registry patched in by cargo config shows
/// there), or in the project's `Cargo.lock` when xtask/ has none (an xtask of the project's
/// own, a member of its workspace). `None`: crates.io, the Dockerfile's default.
pub fn index(root: &Path) -> anyhow::Result<Option<String>> {
    if let Ok(index) = std::env::var("RUST_ALPINE_INDEX") {
        return Ok(Some(index).filter(|index| !index.is_empty()));
    }
    let lock = ["xtask/Cargo.lock", "Cargo.lock"]
        .iter()
        .find_map(|lock| std::fs::read_to_string(root.join(lock)).ok());
    let Some(lock) = lock else {
        return Ok(None);
    };
    source_index(&lock)
}

fn source_index(lock: &str) -> anyhow::Result<Option<String>> {
    let lock = edit::parse(lock, "xtask/Cargo.lock")?;
    let ours = lock
        .get("package")
        .and_then(|packages| packages.as_array_of_tables())
        .and_then(|packages| {
            packages.iter().find(|package| {
                package.get("name").and_then(|name| name.as_str()) == Some("rust-alpine")
                    && package.get("version").and_then(|version| version.as_str()) == Some(VERSION)
            })
        });
    let Some(package) = ours else {
        return Ok(None);
    };
    match package.get("source").and_then(|source| source.as_str()) {
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
    fn the_index_is_the_source_cargo_locked() {
        let lock = |source: &str| {
            format!(
                "version = 4\n\n[[package]]\nname = \"anyhow\"\nversion = \"1.0.0\"\n\
                 source = \"{CRATES_IO}\"\n\n[[package]]\nname = \"rust-alpine\"\n\
                 version = \"{VERSION}\"\n{source}\n"
            )
        };
        let source = |url: &str| format!("source = \"{url}\"");
        assert_eq!(source_index(&lock(&source(CRATES_IO))).unwrap(), None);
        assert_eq!(
            source_index(&lock(&source("sparse+http://127.0.0.1:4000/"))).unwrap(),
            Some("sparse+http://127.0.0.1:4000/".to_owned())
        );
        let error = source_index(&lock("")).unwrap_err().to_string();
        assert!(error.contains("from a path"), "{error}");
        assert_eq!(source_index("version = 4\n").unwrap(), None);
        assert!(is_loopback("sparse+http://127.0.0.1:4000/"));
        assert!(!is_loopback("sparse+https://registry.example.com/"));
    }
}
