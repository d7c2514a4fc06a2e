//! `cargo xtask lock`: refreshes the Cargo.lock each kind ships (`template/locks/<kind>.lock`,
//! renamed to `Cargo.lock` by the template's post hook), from a project rendered just for it.

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
        let cargo = crate::cargo();
        let scratch = sh
            .create_temp_dir()
            .context("creating a temporary directory")?;
        for kind in Kind::ALL {
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
            {
                let _dir = sh.push_dir(&project);
                match self.update {
                    // Resolving is enough to add what the manifests ask for and keep the rest.
                    Update::Minimal => cmd!(sh, "{cargo} metadata --format-version 1")
                        .ignore_stdout()
                        .run(),
                    Update::Upgrade => cmd!(sh, "{cargo} update").run(),
                }
                .with_context(|| format!("resolving the dependencies of a {kind} project"))?;
            }
            let lock = sh
                .read_file(project.join("Cargo.lock"))
                .context("reading the rendered project's Cargo.lock")?;
            let path = sh.current_dir().join(format!("template/locks/{kind}.lock"));
            let old = sh.read_file(&path).unwrap_or_default();
            let new = templatize(&lock)?;
            if old == new {
                eprintln!("{}: up to date", path.display());
            } else {
                sh.write_file(&path, &new)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("{}: updated; commit it", path.display());
            }
        }
        Ok(())
    }
}

/// Turns the lock of the project named `NAME` back into a template: its own `[[package]]` entry
/// gets the `{{project-name}}` placeholder. Cargo compares lock files by content with `--locked`,
/// so the entry's place in the sorted list does not matter for other names.
fn templatize(lock: &str) -> anyhow::Result<String> {
    let own = format!("name = \"{NAME}\"");
    let count = lock.lines().filter(|line| *line == own).count();
    if count != 1 {
        bail!(
            "expected one `{own}` line in the rendered Cargo.lock, found {count}; did the template's package name change?"
        );
    }
    let mut out = String::with_capacity(lock.len());
    for line in lock.split_inclusive('\n') {
        if line.trim_end_matches(['\r', '\n']) == own {
            out.push_str(&line.replacen(NAME, "{{project-name}}", 1));
        } else {
            out.push_str(line);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templatize_replaces_only_the_projects_own_name() {
        let lock = "\
[[package]]
name = \"lock-refresh\"
version = \"0.1.0\"
dependencies = [
 \"anyhow\",
]

[[package]]
name = \"lock-refresh-helper\"
version = \"1.0.0\"
";
        let expected = lock.replacen(
            "name = \"lock-refresh\"\n",
            "name = \"{{project-name}}\"\n",
            1,
        );
        assert_eq!(templatize(lock).unwrap(), expected);
    }

    #[test]
    fn templatize_refuses_a_lock_without_the_project() {
        let error = templatize("[[package]]\nname = \"anyhow\"\n").unwrap_err();
        assert!(error.to_string().contains("found 0"), "{error}");
    }
}
