//! `cargo xtask render`: one project from the template with the pinned engine (the `render`
//! package), leaving nothing behind when the template refuses an answer.

use std::{
    env,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::flags::{self, Kind, Runtime};

/// Set to the path of a built `render` binary to skip `cargo run --package render` (the tests
/// do, so that they exercise the engine they were built with).
const ENGINE_VAR: &str = "RUST_ALPINE_ENGINE";

/// What the template asks; `port: None` takes the template's default.
pub(crate) struct Answers<'a> {
    pub(crate) name: &'a str,
    pub(crate) kind: Kind,
    pub(crate) runtime: Runtime,
    pub(crate) port: Option<u16>,
}

impl flags::Render {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let name = match &self.name {
            Some(name) => name.as_str(),
            None => self
                .dest
                .file_name()
                .and_then(|name| name.to_str())
                .with_context(|| {
                    format!(
                        "cannot name the project after {}; pass --name",
                        self.dest.display()
                    )
                })?,
        };
        if self.dest.exists() {
            bail!(
                "{} already exists; render into a new directory",
                self.dest.display()
            );
        }
        let parent = self
            .dest
            .parent()
            .context("DEST is a root directory; pick a new directory")?;
        sh.create_dir(parent)
            .with_context(|| format!("creating {}", parent.display()))?;

        // The engine creates `<destination>/<name>` and leaves it behind, empty, when it refuses
        // an answer: render into a private directory next to DEST and move the project on
        // success, so that DEST appears complete or not at all.
        let staging = Staging(parent.join(format!(".{name}.rendering-{}", std::process::id())));
        sh.create_dir(&staging.0)
            .with_context(|| format!("creating {}", staging.0.display()))?;
        let answers = Answers {
            name,
            kind: self.kind,
            runtime: self.runtime,
            port: self.port,
        };
        let project = render(sh, &answers, &staging.0)?;
        std::fs::rename(&project, &self.dest)
            .with_context(|| format!("moving {} to {}", project.display(), self.dest.display()))?;
        eprintln!(
            "rendered {}/{} project {name} into {}",
            self.kind,
            self.runtime,
            self.dest.display()
        );
        Ok(())
    }
}

/// Renders `answers` into `parent/<name>` (`parent` must exist) and returns that path.
///
/// The engine checks the project name as given (`--force`; without it, it would silently rename
/// `my--app` to `my-app` before the template's rules see it) and never edits a workspace that
/// `parent` may be in (`--no-workspace`).
pub(crate) fn render(sh: &Shell, answers: &Answers<'_>, parent: &Path) -> anyhow::Result<PathBuf> {
    let Answers {
        name,
        kind,
        runtime,
        port,
    } = *answers;
    let template = sh.current_dir();
    let kind_value = format!("kind={kind}");
    let runtime_value = format!("runtime={runtime}");
    let port_value: Vec<String> = match port {
        Some(port) => vec!["-d".to_owned(), format!("port={port}")],
        None => Vec::new(),
    };
    let (engine, engine_args) = match env::var(ENGINE_VAR) {
        Ok(engine) => (engine, Vec::new()),
        Err(_) => (
            crate::cargo(),
            vec!["run", "--locked", "--package", "render", "--"],
        ),
    };
    let mut generate = cmd!(
        sh,
        "{engine} {engine_args...} generate --path {template} --name {name} --force --silent --vcs none --no-workspace --destination {parent} -d {kind_value} -d {runtime_value} {port_value...}"
    );
    // The engine wants an author even though the template uses none.
    if env::var_os("USER").is_none() && env::var_os("CARGO_NAME").is_none() {
        generate = generate.env("CARGO_NAME", "rust-alpine");
    }
    generate.run().with_context(|| {
        format!("rendering a {kind}/{runtime} project named {name:?} failed; the engine's message above says which answer the template refused and why")
    })?;
    Ok(parent.join(name))
}

/// A directory that is removed with everything in it when this goes out of scope.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        // Best effort: nothing useful can be done about a failure while already failing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
