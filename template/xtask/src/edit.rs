//! Edits to a copy of the project, as a developer would make them: a version bump in Cargo.toml
//! and Cargo.lock, and copying the tree. Plain text in, text out, so that nothing else in the
//! files moves. Needs only std and anyhow: the repository's bench compiles this file too.

use std::{fs, path::Path};

use anyhow::{Context, bail};

/// `MAJOR.MINOR.PATCH` (any pre-release or build suffix dropped) with the patch one higher.
pub fn bump_patch(version: &str) -> anyhow::Result<String> {
    let core = version.split(['-', '+']).next().unwrap_or(version);
    let parts: Vec<u64> = core
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("version {version:?} is not MAJOR.MINOR.PATCH"))?;
    let [major, minor, patch] = parts[..] else {
        bail!("version {version:?} is not MAJOR.MINOR.PATCH");
    };
    Ok(format!("{major}.{minor}.{}", patch + 1))
}

/// Sets a literal `version` in `table` (`[package]`, `[workspace.package]`) of a Cargo.toml;
/// `None` when the table inherits its version (`version.workspace = true`) or has none.
pub fn set_version(manifest: &str, table: &str, version: &str) -> Option<String> {
    let mut section = String::new();
    let mut done = false;
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
        } else if !done && section == table {
            let literal = trimmed
                .strip_prefix("version")
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix('='))
                .is_some_and(|value| value.trim_start().starts_with('"'));
            if literal {
                done = true;
                out.push_str(&format!("version = \"{version}\"\n"));
                continue;
            }
        }
        out.push_str(line);
    }
    done.then_some(out)
}

/// Sets the version of `package`'s own entry in a Cargo.lock (the `version` line right after
/// its `name` line); without it `--locked` builds refuse the bumped manifest.
pub fn set_locked_version(lock: &str, package: &str, version: &str) -> anyhow::Result<String> {
    let name_line = format!("name = \"{package}\"");
    let mut after_name = false;
    let mut done = false;
    let mut out = String::with_capacity(lock.len());
    for line in lock.split_inclusive('\n') {
        if after_name && line.starts_with("version = ") {
            done = true;
            out.push_str(&format!("version = \"{version}\"\n"));
        } else {
            out.push_str(line);
        }
        after_name = line.trim_end() == name_line;
    }
    if !done {
        bail!("no entry for {package} in Cargo.lock");
    }
    Ok(out)
}

/// Copies a project tree, leaving out build output and version control.
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (source, destination) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            copy_tree(&source, &destination)?;
        } else {
            fs::copy(&source, &destination)
                .with_context(|| format!("copying {}", source.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "[package]\nname = \"demo\"\nversion = \"0.1.9\"\n\n\
                            [dependencies]\nanyhow = { version = \"1\" }\n";
    const LOCK: &str = "[[package]]\nname = \"anyhow\"\nversion = \"1.0.100\"\n\n\
                        [[package]]\nname = \"demo\"\nversion = \"0.1.9\"\n";

    #[test]
    fn bumps_the_patch_whatever_the_suffix() {
        for (version, bumped) in [
            ("0.1.9", "0.1.10"),
            ("1.0.0-rc.1", "1.0.1"),
            ("2.3.4+check.7", "2.3.5"),
        ] {
            assert_eq!(bump_patch(version).unwrap(), bumped, "{version}");
        }
        for bad in ["1.2", "1.2.x", ""] {
            assert!(bump_patch(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sets_the_version_of_one_table_and_nothing_else() {
        let bumped = set_version(MANIFEST, "[package]", "0.1.10").unwrap();
        assert_eq!(bumped, MANIFEST.replace("0.1.9", "0.1.10"));
        let inherits = "[package]\nname = \"demo\"\nversion.workspace = true\n\n\
                        [workspace.package]\n  version = \"2.0.0\"\n";
        assert_eq!(set_version(inherits, "[package]", "9.9.9"), None);
        let bumped = set_version(inherits, "[workspace.package]", "2.0.1").unwrap();
        assert_eq!(
            bumped,
            inherits.replace("  version = \"2.0.0\"", "version = \"2.0.1\"")
        );
        assert_eq!(
            set_version("[dependencies]\nversion = \"1\"\n", "[package]", "1.0.0"),
            None
        );
    }

    #[test]
    fn sets_the_locked_version_of_one_package() {
        let bumped = set_locked_version(LOCK, "demo", "0.1.10").unwrap();
        assert_eq!(bumped, LOCK.replace("0.1.9", "0.1.10"));
        assert!(set_locked_version(LOCK, "missing", "1.0.0").is_err());
    }
}
