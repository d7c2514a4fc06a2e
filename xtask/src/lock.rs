//! `cargo xtask lock`: refreshes the Cargo.lock each kind ships (`template/locks/<kind>.lock`,
//! renamed to `Cargo.lock` by the template's post hook), from a project rendered just for it,
//! and the tooling's own (`template/xtask/Cargo.lock`), which pins rust-alpine at the checksum of
//! the crate as `cargo package` makes it now (served by [`xtask::registry`]): what a release of
//! this checkout publishes.
//! Also the rust-alpine crate's copies of the files it owns in a project
//! (`xtask/rust-alpine/templates/`, what `cargo xtask upgrade` renders), from template/.

use std::path::Path;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::{
    flags::{self, Kind, Runtime, Update},
    render::{self, Answers},
};

/// The name the lock files are produced under; `templatize` turns it back into a placeholder.
const NAME: &str = "lock-refresh";

impl flags::Lock {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        // First: the rendered projects below take the crate as packaged, templates included.
        refresh_crate_templates(sh)?;
        let cargo = crate::cargo();
        let scratch = sh
            .create_temp_dir()
            .context("creating a temporary directory")?;
        // Rendering needs the hook this command writes: start one that takes no name.
        let hook = sh.current_dir().join("template/hooks/taken-names.rhai");
        if !sh.path_exists(&hook) {
            sh.write_file(&hook, taken_names_hook(&[]))?;
        }
        let registry =
            xtask::registry::package(&sh.current_dir(), &sh.current_dir().join("target/registry"))?;
        let registry = xtask::registry::Registry::serve(vec![registry], 0)?;
        registry.configure(scratch.path())?;
        let mut taken = Vec::new();
        for &kind in Kind::ALL {
            let parent = scratch.path().join(kind.as_str());
            sh.create_dir(&parent)?;
            // The runtime only shapes the image, never the dependencies.
            let answers = Answers {
                name: NAME,
                kind,
                runtime: Runtime::Scratch,
                port: None,
            };
            let project = render::render(sh, &answers, &parent)?;
            // The project's lock, and the tooling's (xtask/ is a workspace of its own and
            // the same in every kind).
            // rust-alpine's entry goes: its checksum changes with every edit of the crate, and
            // cargo refuses a lock whose checksum differs from the registry's.
            let xtask_lock = project.join("xtask/Cargo.lock");
            sh.write_file(
                &xtask_lock,
                without_rust_alpine(&sh.read_file(&xtask_lock)?)?,
            )?;
            for dir in [project.clone(), project.join("xtask")] {
                let _dir = sh.push_dir(&dir);
                match self.update {
                    // Resolving is enough to add what the manifests ask for and keep the rest.
                    Update::Minimal => cmd!(sh, "{cargo} metadata --format-version 1")
                        .ignore_stdout()
                        .run(),
                    Update::Upgrade => cmd!(sh, "{cargo} update").run(),
                }
                .with_context(|| format!("resolving the dependencies of {}", dir.display()))?;
            }
            let xtask_lock = sh.read_file(project.join("xtask/Cargo.lock"))?;
            write_if_changed(
                sh,
                &sh.current_dir().join("template/xtask/Cargo.lock"),
                &xtask_lock,
            )?;
            let lock = sh
                .read_file(project.join("Cargo.lock"))
                .context("reading the rendered project's Cargo.lock")?;
            let path = sh.current_dir().join(format!("template/locks/{kind}.lock"));
            let templated = templatize(&lock)?;
            write_if_changed(sh, &path, &templated)?;
            taken.push((kind, crate_names(&templated)));
        }
        write_if_changed(sh, &hook, &taken_names_hook(&taken))
    }
}

/// A Cargo.lock without the `[[package]]` entry of rust-alpine.
fn without_rust_alpine(lock: &str) -> anyhow::Result<String> {
    let mut doc: toml_edit::DocumentMut = lock.parse().context("parsing xtask/Cargo.lock")?;
    if let Some(packages) = doc
        .get_mut("package")
        .and_then(|packages| packages.as_array_of_tables_mut())
    {
        packages.retain(|package| {
            package.get("name").and_then(|name| name.as_str()) != Some(xtask::registry::CRATE)
        });
    }
    Ok(doc.to_string())
}

/// Copies each file rust-alpine owns in a project from template/ to the crate's templates/,
/// which the crate embeds (this version's) and reads from an older version's source (`cargo
/// xtask upgrade`).
fn refresh_crate_templates(sh: &Shell) -> anyhow::Result<()> {
    let root = sh.current_dir();
    for path in rust_alpine::upgrade::OWNED {
        let text = sh
            .read_file(root.join("template").join(path))
            .with_context(|| format!("reading template/{path}"))?;
        write_if_changed(
            sh,
            &root.join("xtask/rust-alpine/templates").join(path),
            &text,
        )?;
    }
    Ok(())
}

fn write_if_changed(sh: &Shell, path: &Path, contents: &str) -> anyhow::Result<()> {
    if sh.read_file(path).is_ok_and(|old| old == contents) {
        eprintln!("{}: up to date", path.display());
        return Ok(());
    }
    sh.write_file(path, contents)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("{}: updated; commit it", path.display());
    Ok(())
}

/// The packages in a templated lock file, but the project itself.
fn crate_names(lock: &str) -> Vec<String> {
    let mut names: Vec<String> = lock
        .lines()
        .filter_map(|line| line.strip_prefix("name = \"")?.strip_suffix('"'))
        .filter(|name| *name != "{{project-name}}")
        .map(str::to_owned)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The pre hook that refuses a project name a crate in that kind's lock already has: the lock
/// would become ambiguous (`--locked`, and so the image build, fails), and a direct
/// dependency's name would clash in the code too.
fn taken_names_hook(taken: &[(Kind, Vec<String>)]) -> String {
    let mut hook = String::from(HOOK_HEAD);
    for (kind, names) in taken {
        hook.push_str(&format!("    {kind}: [\n"));
        let mut line = String::new();
        for name in names {
            let item = format!("\"{}\",", name.replace('_', "-"));
            if !line.is_empty() && line.len() + 1 + item.len() > 92 {
                hook.push_str(&format!("        {line}\n"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&item);
        }
        if !line.is_empty() {
            hook.push_str(&format!("        {line}\n"));
        }
        hook.push_str("    ],\n");
    }
    hook.push_str(HOOK_TAIL);
    hook
}

const HOOK_HEAD: &str = "\
// Generated by `cargo xtask lock` from locks/<kind>.lock; do not edit.
// A project named like a crate in its own Cargo.lock makes that lock ambiguous (`--locked`, and
// so the image build, fails). Names compare with '_' and '-' alike, as crate names do.
let taken = #{
";

const HOOK_TAIL: &str = r#"};
// Under `--init` the project keeps its own lock: no name can collide with the template's.
if variable::get("is_init") {
    return;
}
let name = variable::get("project-name");
let key = name;
key.replace("_", "-");
let kind = variable::get("kind");
if taken.contains(kind) && taken[kind].contains(key) {
    abort(`invalid project name "${name}": a crate of that name is already in this template's dependency tree, and Cargo could not tell the two apart; pick another name`);
}
"#;

/// Turns the lock of the project named `NAME` back into a template that renders, for any
/// project name, the lock cargo itself would write: cargo sorts packages by name, so the
/// project's own entry (captured once as `own`) goes into the gap where the name sorts, chosen
/// by a Liquid comparison before every other package's first entry and after the last one.
/// Otherwise the first cargo command in a new project would rewrite its lock.
fn templatize(lock: &str) -> anyhow::Result<String> {
    let Some(start) = lock.find("\n\n[[package]]\n") else {
        bail!("the rendered Cargo.lock has no [[package]] entries");
    };
    let (header, entries) = lock.split_at(start + 1);
    // Every entry starts with the blank line before its `[[package]]`.
    let mut starts: Vec<usize> = entries
        .match_indices("\n[[package]]\n")
        .map(|(at, _)| at)
        .collect();
    starts.push(entries.len());
    let entries: Vec<(&str, &str)> = starts
        .windows(2)
        .map(|pair| {
            let entry = &entries[pair[0]..pair[1]];
            let name = entry
                .lines()
                .find_map(|line| line.strip_prefix("name = \"")?.strip_suffix('"'))
                .unwrap_or_default();
            (name, entry)
        })
        .collect();
    let own = entries.iter().filter(|(name, _)| *name == NAME).count();
    if own != 1 {
        bail!(
            "expected one `name = \"{NAME}\"` entry in the rendered Cargo.lock, found {own}; did the template's package name change?"
        );
    }
    let own = entries.iter().find(|(name, _)| *name == NAME).unwrap().1;
    let own = own[1..].replacen(
        &format!("name = \"{NAME}\"\n"),
        "name = \"{{project-name}}\"\n",
        1,
    );
    let mut out = String::from(header);
    out.push_str(
        "{% comment %}Generated by `cargo xtask lock`: the project's own entry goes where cargo sorts its name.{% endcomment %}",
    );
    out.push_str(&format!("{{% capture own %}}{own}{{% endcapture %}}"));
    let mut previous: Option<&str> = None;
    for (name, entry) in entries.iter().filter(|(name, _)| *name != NAME) {
        if previous == Some(*name) {
            out.push_str(entry);
            continue;
        }
        let after = previous.map_or(String::new(), |previous| {
            format!("project-name > \"{previous}\" and ")
        });
        out.push_str(&format!(
            "\n{{% if {after}project-name < \"{name}\" %}}{{{{ own }}}}\n{{% endif %}}"
        ));
        out.push_str(&entry[1..]);
        previous = Some(name);
    }
    if let Some(last) = previous {
        out.push_str(&format!(
            "{{% if project-name > \"{last}\" %}}\n{{{{ own }}}}{{% endif %}}"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templatize_puts_the_projects_entry_where_its_name_sorts() {
        let lock = "\
# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = \"anyhow\"
version = \"1.0.0\"

[[package]]
name = \"lock-refresh\"
version = \"0.1.0\"
dependencies = [
 \"anyhow\",
]

[[package]]
name = \"windows-sys\"
version = \"0.52.0\"

[[package]]
name = \"windows-sys\"
version = \"0.61.2\"
";
        let expected = r#"# This file is automatically @generated by Cargo.
version = 4
{% comment %}Generated by `cargo xtask lock`: the project's own entry goes where cargo sorts its name.{% endcomment %}{% capture own %}[[package]]
name = "{{project-name}}"
version = "0.1.0"
dependencies = [
 "anyhow",
]
{% endcapture %}
{% if project-name < "anyhow" %}{{ own }}
{% endif %}[[package]]
name = "anyhow"
version = "1.0.0"

{% if project-name > "anyhow" and project-name < "windows-sys" %}{{ own }}
{% endif %}[[package]]
name = "windows-sys"
version = "0.52.0"

[[package]]
name = "windows-sys"
version = "0.61.2"
{% if project-name > "windows-sys" %}
{{ own }}{% endif %}"#;
        assert_eq!(templatize(lock).unwrap(), expected);
    }

    #[test]
    fn taken_names_hook_lists_each_kinds_crates_once() {
        let lock = "name = \"tikv-jemalloc-sys\"\nname = \"{{project-name}}\"\nname = \"windows_x86_64_gnu\"\nname = \"anyhow\"\nname = \"anyhow\"\n";
        let names = crate_names(lock);
        assert_eq!(names, ["anyhow", "tikv-jemalloc-sys", "windows_x86_64_gnu"]);
        let hook = taken_names_hook(&[
            (Kind::Service, names),
            (Kind::Cli, vec!["xshell".to_owned()]),
        ]);
        let service = "    service: [\n        \"anyhow\", \"tikv-jemalloc-sys\", \"windows-x86-64-gnu\",\n    ],\n";
        assert!(hook.contains(service), "{hook}");
        assert!(
            hook.contains("    cli: [\n        \"xshell\",\n    ],\n};\n"),
            "{hook}"
        );
    }

    #[test]
    fn templatize_refuses_a_lock_without_the_project() {
        let error = templatize("version = 4\n\n[[package]]\nname = \"anyhow\"\n").unwrap_err();
        assert!(error.to_string().contains("found 0"), "{error}");
    }
}
