//! Edits to Cargo files, read and written as TOML (toml_edit keeps everything it does not
//! touch: comments, quoting; line endings become `\n`): versions in a manifest and in Cargo.lock,
//! a document's canonical spelling, and copying a tree. Needs only std, anyhow and toml_edit: the repository's bench compiles this file too.

use std::{fs, path::Path};

use anyhow::{Context, bail};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};

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

pub fn parse(text: &str, what: &str) -> anyhow::Result<DocumentMut> {
    text.parse()
        .with_context(|| format!("{what} is not valid TOML"))
}

/// `doc` in one spelling: what cargo reads, not how it was written. Keys sorted, every table a
/// `[table]` (`[[table]]` in arrays of them; inline only inside other arrays), keys and values
/// in their default form (`"x"`, `3`), no comments or blank lines: documents that hold the same
/// values give the same text.
pub fn canonical(doc: &DocumentMut) -> String {
    let mut out = DocumentMut::new();
    *out.as_table_mut() = canonical_table(doc.as_table());
    out.to_string()
}

fn canonical_table(table: &dyn TableLike) -> Table {
    let mut entries: Vec<(&str, &Item)> = table.iter().collect();
    entries.sort_by_key(|(key, _)| *key);
    let mut out = Table::new();
    for (key, item) in entries {
        let item = match item {
            Item::None => continue,
            Item::Table(table) => Item::Table(canonical_table(table)),
            Item::Value(Value::InlineTable(table)) => Item::Table(canonical_table(table)),
            Item::ArrayOfTables(tables) => {
                Item::ArrayOfTables(tables.iter().map(|table| canonical_table(table)).collect())
            }
            Item::Value(Value::Array(array))
                if !array.is_empty() && array.iter().all(Value::is_inline_table) =>
            {
                let tables = array.iter().filter_map(Value::as_inline_table);
                Item::ArrayOfTables(
                    tables
                        .map(|table| canonical_table(table))
                        .collect::<ArrayOfTables>(),
                )
            }
            Item::Value(value) => Item::Value(canonical_value(value)),
        };
        out.insert(key, item);
    }
    // A table of tables only needs no header of its own; an empty one keeps it (`[workspace]`).
    out.set_implicit(
        !out.is_empty()
            && out
                .iter()
                .all(|(_, item)| item.is_table() || item.is_array_of_tables()),
    );
    out
}

fn canonical_value(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::from(text.value().as_str()),
        Value::Integer(number) => Value::from(*number.value()),
        Value::Float(number) => Value::from(*number.value()),
        Value::Boolean(flag) => Value::from(*flag.value()),
        Value::Datetime(time) => Value::from(*time.value()),
        Value::Array(array) => Value::Array(array.iter().map(canonical_value).collect()),
        Value::InlineTable(table) => Value::InlineTable(canonical_table(table).into_inline_table()),
    }
}

/// The table at `path` (`["workspace", "package"]`), whatever the syntax: `[a.b]`, dotted keys,
/// inline tables.
pub fn table<'a>(
    doc: &'a mut DocumentMut,
    path: &[&str],
) -> Option<&'a mut dyn toml_edit::TableLike> {
    let mut item: &mut Item = doc.as_item_mut();
    for key in path {
        item = item.as_table_like_mut()?.get_mut(key)?;
    }
    item.as_table_like_mut()
}

/// Sets `version` of the table at `path` (`["package"]`, `["workspace", "package"]`) when it
/// is a literal string; `None` when it inherits its version (`version.workspace = true`), has
/// none or the file has no such table.
pub fn set_version(manifest: &str, path: &[&str], version: &str) -> anyhow::Result<Option<String>> {
    let mut doc = parse(manifest, "Cargo.toml")?;
    let Some(table) = table(&mut doc, path) else {
        return Ok(None);
    };
    match table.get_mut("version") {
        Some(item) if item.is_str() => {
            *item = toml_edit::value(version);
            Ok(Some(doc.to_string()))
        }
        _ => Ok(None),
    }
}

/// Rewrites Cargo.lock: every package without a `source` (the workspace's own and other path
/// packages) for which `change(name, version)` gives a new version gets it, in its entry and
/// wherever another entry names it with its version (`"itoa 0.3.0"`, which cargo writes when
/// two packages share a name). Returns the new lock and the `(name, old version)` it changed.
pub fn relock(
    lock: &str,
    mut change: impl FnMut(&str, &str) -> Option<String>,
) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let mut doc = parse(lock, "Cargo.lock")?;
    let mut moved: Vec<(String, String, String)> = Vec::new();
    let Some(packages) = doc
        .get_mut("package")
        .and_then(Item::as_array_of_tables_mut)
    else {
        bail!(
            "Cargo.lock has no [[package]] entries: regenerate it with `cargo generate-lockfile`"
        );
    };
    for package in packages.iter_mut() {
        if package.contains_key("source") {
            continue;
        }
        let name = package
            .get("name")
            .and_then(Item::as_str)
            .unwrap_or("")
            .to_owned();
        let version = package
            .get("version")
            .and_then(Item::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(new) = change(&name, &version) {
            package["version"] = toml_edit::value(new.as_str());
            moved.push((name, version, new));
        }
    }
    for package in packages.iter_mut() {
        let Some(dependencies) = package.get_mut("dependencies").and_then(Item::as_array_mut)
        else {
            continue;
        };
        for dependency in dependencies.iter_mut() {
            let Some(text) = dependency.as_str() else {
                continue;
            };
            // "name", "name version" or "name version (source)": only the sourceless form
            // names a path package.
            let mut words = text.split(' ');
            let (Some(name), Some(version), None) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            if let Some((_, _, new)) = moved.iter().find(|(n, v, _)| n == name && v == version) {
                let decor = dependency.decor().clone();
                *dependency = Value::from(format!("{name} {new}"));
                *dependency.decor_mut() = decor;
            }
        }
    }
    let changed = moved
        .into_iter()
        .map(|(name, old, _)| (name, old))
        .collect();
    Ok((doc.to_string(), changed))
}

/// The packages of a Cargo.lock without a `source` (the workspace's own and other path
/// packages): name and version.
pub fn path_packages(lock: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut packages = Vec::new();
    relock(lock, |name, version| {
        packages.push((name.to_owned(), version.to_owned()));
        None
    })?;
    Ok(packages)
}

/// Copies a project tree, leaving out build output and version control. The copy is what
/// BuildKit sees as the same content: directories keep their permissions (git checkouts and
/// tarballs have 775 ones, where a plain create gives 755) and symlinks stay symlinks, since
/// a `COPY . .` layer's cache key has both.
///
/// Build output is a `target` directory at the top of the copy, or one below it that cargo
/// marked (`CACHEDIR.TAG`): other `target` directories are sources (cc's `src/target/`, in a
/// vendored crate).
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    copy_tree_below(from, to, true)
}

fn copy_tree_below(from: &Path, to: &Path, top: bool) -> anyhow::Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())
        .with_context(|| format!("setting the permissions of {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let (source, destination) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        let output =
            name == "target" && kind.is_dir() && (top || source.join("CACHEDIR.TAG").is_file());
        if output || name == ".git" {
            continue;
        }
        if kind.is_dir() {
            copy_tree_below(&source, &destination, false)?;
        } else if kind.is_symlink() && cfg!(unix) {
            #[cfg(unix)]
            std::os::unix::fs::symlink(fs::read_link(&source)?, &destination)
                .with_context(|| format!("copying the symlink {}", source.display()))?;
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

    const LOCK: &str = "version = 4\r\n\r\n[[package]]\r\nname = \"anyhow\"\r\nversion = \"1.0.100\"\r\n\
                        source = \"registry+https://github.com/rust-lang/crates.io-index\"\r\n\r\n\
                        [[package]]\r\nname = \"demo\"\r\nversion = \"0.1.9\"\r\n\
                        dependencies = [\r\n \"anyhow\",\r\n \"itoa 0.3.0\",\r\n \"itoa 1.0.1\",\r\n]\r\n\r\n\
                        [[package]]\r\nname = \"itoa\"\r\nversion = \"0.3.0\"\r\n\r\n\
                        [[package]]\r\nname = \"itoa\"\r\nversion = \"1.0.1\"\r\n\
                        source = \"registry+https://github.com/rust-lang/crates.io-index\"\r\n";

    #[cfg(unix)]
    #[test]
    fn a_copied_tree_keeps_directory_modes_and_symlinks() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let base = std::env::temp_dir().join(format!("copy-tree-{}", std::process::id()));
        let (from, to) = (base.join("from"), base.join("to"));
        fs::create_dir_all(from.join("pkg/brew")).unwrap();
        fs::write(from.join("pkg/brew/formula.rb"), "x").unwrap();
        fs::set_permissions(from.join("pkg"), fs::Permissions::from_mode(0o775)).unwrap();
        symlink("pkg/brew", from.join("Formula")).unwrap();
        copy_tree(&from, &to).unwrap();
        let mode = fs::metadata(to.join("pkg")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o775);
        assert_eq!(
            fs::read_link(to.join("Formula")).unwrap(),
            Path::new("pkg/brew")
        );
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_copied_tree_leaves_out_build_output_not_sources_named_target() {
        let base = std::env::temp_dir().join(format!("copy-target-{}", std::process::id()));
        let (from, to) = (base.join("from"), base.join("to"));
        for file in [
            "target/debug/app",
            ".git/HEAD",
            "xtask/target/CACHEDIR.TAG",
            "xtask/target/debug/xtask",
            "vendor/cc/src/target/parser.rs",
            "vendor/cc/src/lib.rs",
        ] {
            fs::create_dir_all(from.join(file).parent().unwrap()).unwrap();
            fs::write(from.join(file), "x").unwrap();
        }
        copy_tree(&from, &to).unwrap();
        for (file, copied) in [
            ("target", false),
            (".git", false),
            ("xtask/target", false),
            ("vendor/cc/src/target/parser.rs", true),
            ("vendor/cc/src/lib.rs", true),
        ] {
            assert_eq!(to.join(file).exists(), copied, "{file}");
        }
        fs::remove_dir_all(&base).unwrap();
    }

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
    fn sets_the_version_of_one_table_in_any_spelling() {
        for (manifest, path, expected) in [
            (
                "[package] # the service\nname = 'demo'\nversion = '0.1.9'\n",
                &["package"][..],
                Some("[package] # the service\nname = 'demo'\nversion = \"0.2.0\"\n"),
            ),
            (
                "[workspace]\npackage.version = \"0.1.9\"\n",
                &["workspace", "package"],
                Some("[workspace]\npackage.version = \"0.2.0\"\n"),
            ),
            (
                "[package]\nname = \"demo\"\nversion.workspace = true\n",
                &["package"],
                None,
            ),
            ("[dependencies]\nversion = \"1\"\n", &["package"], None),
        ] {
            let set = set_version(manifest, path, "0.2.0").unwrap();
            assert_eq!(set.as_deref(), expected, "{manifest}");
        }
        assert!(set_version("[package\n", &["package"], "1.0.0").is_err());
    }

    #[test]
    fn relocks_path_packages_only_and_where_they_are_named() {
        let (lock, moved) = relock(LOCK, |_, _| Some("0.0.0".to_owned())).unwrap();
        assert_eq!(
            moved,
            [
                ("demo".into(), "0.1.9".into()),
                ("itoa".into(), "0.3.0".into())
            ]
        );
        let expected = LOCK
            .replace("\r\n", "\n")
            .replace(
                "\"demo\"\nversion = \"0.1.9\"",
                "\"demo\"\nversion = \"0.0.0\"",
            )
            .replace("\"itoa 0.3.0\"", "\"itoa 0.0.0\"")
            .replace(
                "\"itoa\"\nversion = \"0.3.0\"",
                "\"itoa\"\nversion = \"0.0.0\"",
            );
        assert_eq!(lock, expected);
        let local = path_packages(LOCK).unwrap();
        assert_eq!(
            local,
            [
                ("demo".into(), "0.1.9".into()),
                ("itoa".into(), "0.3.0".into())
            ]
        );
        let (same, moved) = relock(LOCK, |_, _| None).unwrap();
        assert!(moved.is_empty());
        assert_eq!(same, LOCK.replace("\r\n", "\n"));
        assert!(relock("version = 4\n", |_, _| None).is_err());
    }
}
