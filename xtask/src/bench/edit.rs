//! The changes a rebuild is timed after, applied to a copy of the rendered project: a comment
//! appended to src/main.rs, or the package's patch version bumped in Cargo.toml and Cargo.lock.

use std::{fs, path::Path};

use anyhow::{Context, bail};

/// `source` with one more comment line: a source-only change that compiles to the same code.
pub(crate) fn append_comment(source: &str, rebuild: usize) -> String {
    let mut source = source.to_owned();
    if !source.ends_with('\n') {
        source.push('\n');
    }
    source.push_str(&format!(
        "// cargo xtask bench: source-only change {rebuild}\n"
    ));
    source
}

/// The `version` of the `[package]` table of a Cargo.toml.
pub(crate) fn package_version(manifest: &str) -> anyhow::Result<String> {
    let mut section = "";
    for line in manifest.lines() {
        if line.starts_with('[') {
            section = line.trim();
        } else if section == "[package]"
            && let Some(value) = line.strip_prefix("version")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return Ok(value.trim().trim_matches('"').to_owned());
        }
    }
    bail!("no version in the [package] table of Cargo.toml")
}

/// `MAJOR.MINOR.PATCH` with the patch number one higher.
pub(crate) fn bump_patch(version: &str) -> anyhow::Result<String> {
    let parts: Vec<u64> = version
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("version {version:?} is not MAJOR.MINOR.PATCH"))?;
    let [major, minor, patch] = parts[..] else {
        bail!("version {version:?} is not MAJOR.MINOR.PATCH");
    };
    Ok(format!("{major}.{minor}.{}", patch + 1))
}

/// Sets `version` in the `[package]` table of a Cargo.toml; nothing else changes.
pub(crate) fn set_package_version(manifest: &str, version: &str) -> anyhow::Result<String> {
    let mut section = String::new();
    let mut done = false;
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.split_inclusive('\n') {
        if line.starts_with('[') {
            section = line.trim().to_owned();
        } else if !done && section == "[package]" && line.starts_with("version") {
            done = true;
            out.push_str(&format!("version = \"{version}\"\n"));
            continue;
        }
        out.push_str(line);
    }
    if !done {
        bail!("no version in the [package] table of Cargo.toml");
    }
    Ok(out)
}

/// Sets the version of `package`'s own entry in a Cargo.lock (the `version` line right after
/// its `name` line); without it `--locked` builds refuse the bumped manifest.
pub(crate) fn set_locked_version(
    lock: &str,
    package: &str,
    version: &str,
) -> anyhow::Result<String> {
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

/// Appends a comment to `project`/src/main.rs.
pub(crate) fn change_source(project: &Path, rebuild: usize) -> anyhow::Result<()> {
    let path = project.join("src/main.rs");
    let source =
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    fs::write(&path, append_comment(&source, rebuild))
        .with_context(|| format!("writing {}", path.display()))
}

/// Bumps the patch version of `package` in `project`'s Cargo.toml and Cargo.lock and returns
/// the new version.
pub(crate) fn bump_version(project: &Path, package: &str) -> anyhow::Result<String> {
    let manifest_path = project.join("Cargo.toml");
    let lock_path = project.join("Cargo.lock");
    let manifest = fs::read_to_string(&manifest_path).context("reading Cargo.toml")?;
    let lock = fs::read_to_string(&lock_path).context("reading Cargo.lock")?;
    let version = bump_patch(&package_version(&manifest)?)?;
    fs::write(&manifest_path, set_package_version(&manifest, &version)?)
        .context("writing Cargo.toml")?;
    fs::write(&lock_path, set_locked_version(&lock, package, &version)?)
        .context("writing Cargo.lock")?;
    Ok(version)
}

/// Copies a project tree, leaving out build output and version control.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
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

    const MANIFEST: &str = "\
[package]
name = \"bench-app\"
version = \"0.1.9\"

[dependencies]
anyhow = { version = \"1\" }

[workspace.package]
version = \"7.0.0\"
";

    const LOCK: &str = "\
[[package]]
name = \"anyhow\"
version = \"1.0.100\"

[[package]]
name = \"bench-app\"
version = \"0.1.9\"
dependencies = [
 \"anyhow\",
]
";

    #[test]
    fn bumps_the_package_version_and_nothing_else() {
        assert_eq!(package_version(MANIFEST).unwrap(), "0.1.9");
        let version = bump_patch("0.1.9").unwrap();
        assert_eq!(version, "0.1.10");
        let manifest = set_package_version(MANIFEST, &version).unwrap();
        assert_eq!(manifest, MANIFEST.replace("0.1.9", "0.1.10"));
        let lock = set_locked_version(LOCK, "bench-app", &version).unwrap();
        assert_eq!(lock, LOCK.replace("0.1.9", "0.1.10"));
    }

    #[test]
    fn refuses_what_it_cannot_bump() {
        assert!(bump_patch("1.2").is_err());
        assert!(bump_patch("1.2.x").is_err());
        assert!(package_version("[dependencies]\nversion = \"1\"\n").is_err());
        assert!(set_locked_version(LOCK, "other", "1.0.0").is_err());
    }

    #[test]
    fn a_source_change_is_one_more_comment_line() {
        assert_eq!(
            append_comment("fn main() {}", 2),
            "fn main() {}\n// cargo xtask bench: source-only change 2\n"
        );
    }
}
