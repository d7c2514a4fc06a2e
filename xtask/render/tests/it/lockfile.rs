//! A clean first commit: the Cargo.lock a new project gets is byte for byte the one cargo writes
//! for it, whatever its name sorts next to, so the first cargo command leaves it unchanged.

use crate::support::{self, KINDS, cargo, read, render, step};

/// Names that sort before every crate of the locks, between two of them (right next to tokio's
/// own crates), and after them all.
const NAMES: [&str; 4] = ["aaa", "my-app", "tokio-app", "zzzz"];

#[test]
fn the_rendered_lock_is_what_cargo_writes_for_any_name() {
    for kind in KINDS {
        for name in NAMES {
            let tag = format!("{kind}/{name}");
            let project = step(&tag, "render", || Ok(render(kind, "scratch", name)));
            let lock = project.path.join("Cargo.lock");
            let rendered = step(&tag, "read Cargo.lock", || read(&lock));
            step(&tag, "cargo metadata", || {
                cargo(&project.path, &["metadata", "--format-version", "1"])
            });
            let after = step(&tag, "read Cargo.lock again", || read(&lock));
            assert!(
                rendered == after,
                "[{tag}] cargo rewrote the rendered Cargo.lock: the template's lock does not put \
                 the project where cargo sorts it; run `cargo xtask lock`\n--- rendered\n{}\n--- cargo\n{}",
                excerpt(&rendered, name),
                excerpt(&after, name)
            );
        }
    }
}

/// The lines around the project's own entry.
fn excerpt(lock: &str, name: &str) -> String {
    let lines: Vec<&str> = lock.lines().collect();
    let own = format!("name = \"{name}\"");
    let at = lines.iter().position(|line| *line == own).unwrap_or(0);
    lines[at.saturating_sub(6)..(at + 12).min(lines.len())].join("\n")
}

/// The tooling's lock pins rust-alpine at the checksum of the crate as `cargo package` makes it
/// from this checkout: what a release publishes, and what every rendered project's cargo checks.
#[test]
fn the_tooling_lock_pins_the_packaged_crate() {
    let lock: toml::Table = support::read(&support::template_dir().join("xtask/Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let package = &support::registry().packages[0];
    let pinned = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"].as_str() == Some("rust-alpine"))
        .expect("template/xtask/Cargo.lock has no rust-alpine: run `cargo xtask lock`");
    assert_eq!(
        pinned["version"].as_str(),
        Some(package.version.as_str()),
        "template/xtask/Cargo.lock pins another version than xtask/rust-alpine/Cargo.toml's: \
         run `cargo xtask lock`"
    );
    assert_eq!(
        pinned["source"].as_str(),
        Some("registry+https://github.com/rust-lang/crates.io-index")
    );
    assert_eq!(
        pinned["checksum"].as_str(),
        Some(package.checksum.as_str()),
        "template/xtask/Cargo.lock pins another rust-alpine than the crate as packaged now: run \
         `cargo xtask lock` and commit it"
    );
}
