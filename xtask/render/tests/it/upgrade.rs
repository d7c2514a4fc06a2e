//! `cargo xtask upgrade` end to end: a project rendered at a previous release, edited as users
//! edit it, upgraded to this checkout's version through a registry that serves both packages.
//!
//! The previous release is made here, as a release is: a copy of this checkout whose crate is
//! version [`OLD`] and whose template differs in one line of the Dockerfile ([`OLD_LINE`]
//! instead of [`NEW_LINE`]), packaged with `cargo package`. Both packages are served on
//! loopback; the project is rendered from the copy's template, so it pins [`OLD`] and holds
//! what that release rendered, and its cargo finds both versions where a user's finds them on
//! crates.io.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use xtask::registry::{self, Registry};

use crate::support::{self, Rendered, heavy, run, step};

const OLD: &str = "0.0.9";
const NEW_LINE: &str = "# ---- recipe: what the dependency build needs, and nothing that changes with the sources ----";
const OLD_LINE: &str = "# ---- recipe: the dependency plan ----";

/// The user's edit in the Dockerfile's runtime section, and the user's own xtask command.
const USER_COPY: &str = "COPY config /config";
const USER_COMMAND: &str = r#"        Some("hello") => {
            println!("hello from my own command");
            ExitCode::SUCCESS
        }
"#;

/// The previous release's checkout (a copy of this one, made into version [`OLD`]) and the
/// registry serving both versions, with the directory whose cargo config points at it. Made
/// once per test process.
struct Releases {
    old_checkout: PathBuf,
    projects: PathBuf,
    _registry: Registry,
}

fn releases() -> &'static Releases {
    static RELEASES: OnceLock<Releases> = OnceLock::new();
    RELEASES.get_or_init(|| {
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("upgrade-e2e");
        let old_checkout = work.join("old-checkout");
        if old_checkout.exists() {
            fs::remove_dir_all(&old_checkout).unwrap();
        }
        registry::copy_tree(&support::repo_root(), &old_checkout).unwrap();
        make_previous_release(&old_checkout).unwrap_or_else(|error| panic!("{error}"));
        let old = registry::package(&old_checkout, &work.join("old"))
            .unwrap_or_else(|error| panic!("packaging {OLD}: {error:#}"));
        assert_eq!(old.version, OLD);
        // This checkout's package: the one every other test's registry serves.
        let new = support::registry().packages[0].clone();
        let registry = Registry::serve(vec![old, new], 0).unwrap();
        let projects =
            std::env::temp_dir().join(format!("rust-alpine-upgrade-tests-{}", std::process::id()));
        registry.configure(&projects).unwrap();
        Releases {
            old_checkout,
            projects,
            _registry: registry,
        }
    })
}

/// Turns the copy `dir` of this checkout into the previous release: the crate's version, every
/// pin of it in the template, and one line of the Dockerfile (template and the crate's copy).
fn make_previous_release(dir: &Path) -> Result<(), String> {
    let version = current_version();
    let version = version.as_str();
    let edits: &[(&str, &[(String, String)])] = &[
        (
            "xtask/rust-alpine/Cargo.toml",
            &[(
                format!("version = \"{version}\""),
                format!("version = \"{OLD}\""),
            )],
        ),
        (
            "template/xtask/Cargo.toml.liquid",
            &[
                (
                    format!("version = \"{version}\""),
                    format!("version = \"{OLD}\""),
                ),
                (format!("\"={version}\""), format!("\"={OLD}\"")),
            ],
        ),
        (
            "template/Dockerfile",
            &[
                (
                    format!("RUST_ALPINE_VERSION={version}"),
                    format!("RUST_ALPINE_VERSION={OLD}"),
                ),
                (NEW_LINE.to_owned(), OLD_LINE.to_owned()),
            ],
        ),
        (
            "xtask/rust-alpine/templates/Dockerfile",
            &[
                (
                    format!("RUST_ALPINE_VERSION={version}"),
                    format!("RUST_ALPINE_VERSION={OLD}"),
                ),
                (NEW_LINE.to_owned(), OLD_LINE.to_owned()),
            ],
        ),
    ];
    for (path, replacements) in edits {
        let path = dir.join(path);
        let mut text = support::read(&path)?;
        for (from, to) in *replacements {
            if !text.contains(from.as_str()) {
                return Err(format!("{} has no {from:?}", path.display()));
            }
            text = text.replacen(from.as_str(), to, 1);
        }
        fs::write(&path, text).map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// A service rendered by the previous release, with the user's edits: a config directory
/// copied into the image, and a command of their own in the xtask.
fn old_project(name: &str) -> Rendered {
    let releases = releases();
    let project = support::render_from(
        &releases.old_checkout,
        &releases.projects,
        name,
        &[("kind", "service"), ("runtime", "scratch")],
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let path = &project.path;
    let dockerfile = support::read(&path.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("ARG RUST_ALPINE_VERSION={OLD}")));
    assert!(dockerfile.contains(OLD_LINE));
    let marker = "# <<<\nARG VERSION=";
    assert!(dockerfile.contains(marker), "{dockerfile}");
    let edited = dockerfile.replacen(marker, &format!("{USER_COPY}\n{marker}"), 1);
    fs::write(path.join("Dockerfile"), edited).unwrap();
    fs::create_dir_all(path.join("config")).unwrap();
    fs::write(path.join("config/app.toml"), "greeting = \"hi\"\n").unwrap();
    let main = support::read(&path.join("xtask/src/main.rs")).unwrap();
    let anchor = "        _ => rust_alpine::run(args),";
    assert!(main.contains(anchor), "{main}");
    let main = main.replacen(anchor, &format!("{USER_COMMAND}{anchor}"), 1);
    fs::write(path.join("xtask/src/main.rs"), main).unwrap();
    project
}

/// `cargo xtask ARGS` in the project, as a user runs it.
fn xtask(project: &Path, args: &[&str]) -> Command {
    let mut command = support::cargo_command();
    command.arg("xtask").args(args).current_dir(project);
    command
}

/// `cargo xtask hello`, the user's own command, runs and says what they wrote.
fn users_command_runs(project: &Path) -> Result<(), String> {
    let ran = run(&mut xtask(project, &["hello"]))?;
    match ran.stdout.contains("hello from my own command") {
        true => Ok(()),
        false => Err(ran.stdout),
    }
}

/// This checkout's version of the crate: what the upgrade goes to.
fn current_version() -> String {
    support::registry().packages[0].version.clone()
}

fn recorded_version(project: &Path) -> String {
    let manifest: toml::Table = support::read(&project.join("xtask/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    manifest["package"]["metadata"]["rust-alpine"]["version"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Upgraded to this version, the project keeps the user's Dockerfile edit and xtask command,
/// gets the new version's line and pin, and a second run changes nothing; the image then builds
/// and passes the smoke test (with `RUST_ALPINE_DOCKER=1`).
#[test]
fn an_upgrade_keeps_the_users_edits_and_builds() {
    let _heavy = heavy();
    let project = old_project("upgraded");
    let path = &project.path;
    let version = current_version();
    let version = version.as_str();
    step("upgrade", "the user's command, before", || {
        users_command_runs(path)
    });
    let ran = step(
        "upgrade",
        &format!("cargo xtask upgrade --to {version}"),
        || run(&mut xtask(path, &["upgrade", "--to", version])),
    );
    let dockerfile = support::read(&path.join("Dockerfile")).unwrap();
    assert!(ran.stdout.contains("Dockerfile: merged"), "{}", ran.stdout);
    assert!(dockerfile.contains(USER_COPY), "{dockerfile}");
    assert!(dockerfile.contains(NEW_LINE), "{dockerfile}");
    assert!(!dockerfile.contains(OLD_LINE), "{dockerfile}");
    assert!(
        dockerfile.contains(&format!("ARG RUST_ALPINE_VERSION={version}")),
        "{dockerfile}"
    );
    assert_eq!(recorded_version(path), version);
    let pin = support::read(&path.join("xtask/Cargo.toml")).unwrap();
    assert!(pin.contains(&format!("\"={version}\"")), "{pin}");
    let main = support::read(&path.join("xtask/src/main.rs")).unwrap();
    assert!(main.contains(USER_COMMAND), "{main}");

    // Run again: nothing left to do, nothing written.
    let before = snapshot(path);
    let again = step("upgrade", "cargo xtask upgrade, again", || {
        run(&mut xtask(path, &["upgrade"]))
    });
    assert_eq!(snapshot(path), before, "{}", again.stdout);
    step("upgrade", "the user's command, after", || {
        users_command_runs(path)
    });

    if !crate::docker::enabled("an_upgrade_keeps_the_users_edits_and_builds (image)") {
        return;
    }
    let mut command = xtask(path, &["docker", "--json"]);
    command.env("CARGO_TARGET_DIR", support::rendered_target_dir());
    if let Ok(image) = std::env::var("RUST_ALPINE_BUILDER_IMAGE") {
        command.args(["--builder-image", &image]);
    }
    let built = step("upgrade", "cargo xtask docker (upgraded)", || {
        run(&mut command)
    });
    let report: serde_json::Value = serde_json::from_str(&built.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", built.stdout));
    assert_eq!(report["ok"], true, "{report:#}");
    let image = report["image"].as_str().unwrap().to_owned();
    let engine = crate::docker::engine();
    // The user's runtime file is in the image, where their COPY put it.
    let copied = engine
        .copy_out(&image, "/config/app.toml")
        .map_err(|error| format!("{error:#}"));
    engine.remove_image(&image);
    assert_eq!(copied.as_deref(), Ok(&b"greeting = \"hi\"\n"[..]));
    assert_eq!(crate::docker::leftover_containers(&engine), "");
}

/// An edit of the very line the new version changes: the Dockerfile gets conflict markers, the
/// command names it and fails, and nothing of the user's is lost.
#[test]
fn a_conflicting_edit_leaves_markers_and_fails() {
    let _heavy = heavy();
    let project = old_project("conflicted");
    let path = &project.path;
    let version = current_version();
    let version = version.as_str();
    let theirs = "# ---- recipe: our own words for this stage ----";
    let dockerfile = support::read(&path.join("Dockerfile")).unwrap();
    fs::write(
        path.join("Dockerfile"),
        dockerfile.replacen(OLD_LINE, theirs, 1),
    )
    .unwrap();
    let main_before = support::read(&path.join("xtask/src/main.rs")).unwrap();
    let failure = match run(&mut xtask(path, &["upgrade", "--to", version])) {
        Ok(ran) => panic!("the upgrade succeeded:\n{}", ran.stdout),
        Err(failure) => failure,
    };
    assert!(failure.contains("Dockerfile: CONFLICT"), "{failure}");
    assert!(failure.contains("Dockerfile has conflicts"), "{failure}");
    let dockerfile = support::read(&path.join("Dockerfile")).unwrap();
    for expected in ["<<<<<<<", ">>>>>>>", theirs, NEW_LINE, USER_COPY] {
        assert!(dockerfile.contains(expected), "{expected}:\n{dockerfile}");
    }
    assert_eq!(
        support::read(&path.join("xtask/src/main.rs")).unwrap(),
        main_before
    );
    // Until the markers are resolved, the image is not built.
    let refused = match run(&mut xtask(path, &["docker"])) {
        Ok(ran) => panic!("cargo xtask docker ran:\n{}", ran.stdout),
        Err(failure) => failure,
    };
    assert!(
        refused.contains("cargo xtask upgrade") || refused.contains("conflict"),
        "{refused}"
    );
}

/// Every file of the project but the build output, with its contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_name() == "target" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}
