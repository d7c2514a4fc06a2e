//! `cargo generate ... template --init` in existing projects: layouts of real open-source
//! binaries, modelled by small fixtures of our own (inline files below). Each is adopted with the
//! pinned engine's CLI as a user would run it, and its tree compared before and after: additions
//! only, none inside the project's crates, and a second run changes nothing. With
//! `RUST_ALPINE_DOCKER=1` each is then built, smoke-tested and cache-checked with
//! `cargo xtask docker --check-cache --check-version-bump`.

use std::{
    collections::BTreeMap,
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

use crate::support::{self, engine, heavy, run, step};

/// One existing project: its files, and the binary the image must ship.
struct Fixture {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    /// `(binary, version)` the image ships; `None`: adoption must stop and name the setting.
    ships: Option<(&'static str, &'static str)>,
    /// The project has an `xtask/` of its own: adopted with `--define own_xtask=true`, which
    /// must leave it untouched and print the two lines to add to it.
    own_xtask: bool,
}

const JEMALLOC_MAIN: &str = r#"#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("--version") => println!("fdl {} (rev 0000000)", env!("CARGO_PKG_VERSION")),
        Some(other) => {
            eprintln!("fdl: unknown argument {other}");
            std::process::exit(2)
        }
        None => println!("{}", std::iter::repeat_n("x", 3).collect::<String>()),
    }
}
"#;

const FIXTURES: &[Fixture] = &[
    // Like fd (package fd-find, binary fd): a single crate whose binary is named unlike its
    // package, jemalloc already set up, its own .cargo/config.toml and no `self-check`.
    Fixture {
        name: "renamed",
        files: &[
            (
                "Cargo.toml",
                r#"[package]
name = "find-renamed"
version = "2.3.4"
edition = "2021"

[[bin]]
name = "fdl"
path = "src/main.rs"

[target.'cfg(target_env = "musl")'.dependencies]
tikv-jemallocator = "0.7"

[profile.release]
lto = true
codegen-units = 1
"#,
            ),
            ("src/main.rs", JEMALLOC_MAIN),
            (
                ".cargo/config.toml",
                "[build]\nrustflags = [\"--cfg\", \"renamed_build\"]\n",
            ),
            ("README.md", "# find-renamed\n"),
        ],
        ships: Some(("fdl", "2.3.4")),
        own_xtask: false,
    },
    // A `crates/*` workspace whose root package holds the binary.
    Fixture {
        name: "rootpkg",
        files: &[
            (
                "Cargo.toml",
                r#"[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.7.1"
edition = "2021"

[package]
name = "rootpkg"
version.workspace = true
edition.workspace = true

[dependencies]
rootpkg-core = { path = "crates/core" }
"#,
            ),
            (
                "src/main.rs",
                "fn main() {\n    println!(\"rootpkg {}\", rootpkg_core::VERSION);\n}\n",
            ),
            (
                "crates/core/Cargo.toml",
                "[package]\nname = \"rootpkg-core\"\nversion.workspace = true\nedition.workspace = true\n",
            ),
            (
                "crates/core/src/lib.rs",
                "pub const VERSION: &str = env!(\"CARGO_PKG_VERSION\");\n",
            ),
        ],
        ships: Some(("rootpkg", "0.7.1")),
        own_xtask: false,
    },
    // A virtual workspace with two binaries and a library: which one ships is the user's call.
    Fixture {
        name: "twobins",
        files: &[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"server\", \"client\", \"shared\"]\nresolver = \"2\"\n",
            ),
            (
                "server/Cargo.toml",
                "[package]\nname = \"server\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\n[dependencies]\nshared = { path = \"../shared\" }\n",
            ),
            (
                "server/src/main.rs",
                "fn main() {\n    println!(\"server {} ({})\", env!(\"CARGO_PKG_VERSION\"), shared::NAME);\n}\n",
            ),
            (
                "client/Cargo.toml",
                "[package]\nname = \"client\"\nversion = \"1.0.0\"\nedition = \"2021\"\n",
            ),
            ("client/src/main.rs", "fn main() {}\n"),
            (
                "shared/Cargo.toml",
                "[package]\nname = \"shared\"\nversion = \"1.0.0\"\nedition = \"2021\"\n",
            ),
            ("shared/src/lib.rs", "pub const NAME: &str = \"shared\";\n"),
        ],
        ships: None,
        own_xtask: false,
    },
    // A crate with a build script that the binary reads from.
    Fixture {
        name: "buildrs",
        files: &[
            (
                "Cargo.toml",
                "[package]\nname = \"buildrs\"\nversion = \"0.2.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n",
            ),
            (
                "build.rs",
                "fn main() {\n    println!(\"cargo:rustc-env=BUILT_BY=build.rs\");\n}\n",
            ),
            (
                "src/main.rs",
                "fn main() {\n    println!(\"buildrs {} built by {}\", env!(\"CARGO_PKG_VERSION\"), env!(\"BUILT_BY\"));\n}\n",
            ),
        ],
        ships: Some(("buildrs", "0.2.0")),
        own_xtask: false,
    },
    // A release profile that keeps debug info (`debug = 1`), and a Dockerfile of its own.
    Fixture {
        name: "debuginfo",
        files: &[
            (
                "Cargo.toml",
                "[package]\nname = \"debuginfo\"\nversion = \"3.0.0\"\nedition = \"2021\"\n\n[profile.release]\ndebug = 1\n",
            ),
            (
                "src/main.rs",
                "fn main() {\n    println!(\"debuginfo {}\", env!(\"CARGO_PKG_VERSION\"));\n}\n",
            ),
        ],
        ships: Some(("debuginfo", "3.0.0")),
        own_xtask: false,
    },
];

/// Like rust-analyzer's layout: a root package and an `xtask` member of its workspace with a
/// command of its own (`codegen`), and the `cargo xtask` alias in its own .cargo/config.toml.
const OWN_XTASK: Fixture = Fixture {
    name: "own-xtask",
    files: &[
        (
            "Cargo.toml",
            r#"[package]
name = "ownx"
version = "1.4.0"
edition = "2021"

[workspace]
members = ["xtask"]
"#,
        ),
        (
            "src/main.rs",
            "fn main() {\n    println!(\"ownx {}\", env!(\"CARGO_PKG_VERSION\"));\n}\n",
        ),
        (
            "xtask/Cargo.toml",
            "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n",
        ),
        ("xtask/src/main.rs", OWN_XTASK_MAIN),
        (
            ".cargo/config.toml",
            "[alias]\nxtask = \"run --package xtask --\"\n",
        ),
    ],
    ships: Some(("ownx", "1.4.0")),
    own_xtask: true,
};

/// The fallback arm of [`OWN_XTASK_MAIN`], which the documented edit replaces.
const OWN_XTASK_FALLBACK: &str = r#"        _ => {
            eprintln!("usage: cargo xtask codegen");
            ExitCode::from(2)
        }
"#;

const OWN_XTASK_MAIN: &str = r#"use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    match args.first().and_then(|command| command.to_str()) {
        Some("codegen") => codegen(),
        _ => {
            eprintln!("usage: cargo xtask codegen");
            ExitCode::from(2)
        }
    }
}

fn codegen() -> ExitCode {
    println!("codegen: 3 files up to date");
    ExitCode::SUCCESS
}
"#;

/// The one call a project's own xtask adds, as the adoption note and the crate's README give it.
const RUN_CALL: &str = "_ => rust_alpine::run(args),";

/// A line of a template file that starts with `prefix`.
fn template_line(file: &str, prefix: &str) -> String {
    let text = support::read(&support::template_dir().join(file)).unwrap();
    text.lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("template/{file} has no line starting with {prefix:?}"))
        .to_owned()
}

/// What `--init` adds, and nothing else (`.cargo/config.toml` only where there was none).
const ADDED: &[&str] = &[
    ".dockerignore",
    ".github/docker-summary.jq",
    ".github/workflows/docker.yml",
    "Dockerfile",
    "xtask/.gitignore",
    "xtask/Cargo.lock",
    "xtask/Cargo.toml",
    "xtask/src/main.rs",
];

/// An existing project in a fresh temporary directory, with its Cargo.lock.
struct Existing {
    path: PathBuf,
    own_xtask: bool,
    _dir: tempfile::TempDir,
}

impl Existing {
    fn write(fixture: &Fixture) -> Existing {
        let dir = tempfile::Builder::new()
            .prefix("rust-alpine-adopt-")
            .tempdir_in(support::projects_dir())
            .unwrap();
        let path = dir.path().join(fixture.name);
        for (file, text) in fixture.files {
            let file = path.join(file);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, text).unwrap();
        }
        let existing = Existing {
            path,
            own_xtask: fixture.own_xtask,
            _dir: dir,
        };
        step(fixture.name, "cargo generate-lockfile", || {
            support::run_in(&existing.path, "cargo", &["generate-lockfile", "--quiet"])
        });
        existing
    }

    /// `cargo generate --path <repo> template --init --silent --name <dir>` in the project
    /// (with `--define own_xtask=true` for a project with an xtask of its own).
    fn adopt(&self) -> Result<String, String> {
        let mut command = engine();
        command
            .args(["generate", "--path"])
            .arg(support::repo_root())
            .args(["template", "--init", "--silent", "--vcs", "none", "--name"])
            .arg(self.path.file_name().unwrap())
            .current_dir(&self.path);
        if self.own_xtask {
            command.args(["--define", "own_xtask=true"]);
        }
        run(&mut command).map(|ran| ran.stdout + &ran.stderr)
    }

    /// Every file under the project (but build output) and its contents.
    fn tree(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        walk(&self.path, &self.path, &mut files);
        files
    }
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if relative == "target" {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files);
        } else {
            files.insert(relative, fs::read(&path).unwrap());
        }
    }
}

/// Adopts `fixture` twice; checks that the first run only added the tooling and the second
/// changed nothing. Returns the adopted project.
fn adopt(fixture: &Fixture) -> Existing {
    let existing = Existing::write(fixture);
    let before = existing.tree();
    let log = step(fixture.name, "cargo generate --init", || existing.adopt());
    let after = existing.tree();
    let mut problems = Vec::new();
    for (path, contents) in &before {
        match after.get(path) {
            None => problems.push(format!("{path} was deleted")),
            Some(now) if now != contents => problems.push(format!("{path} was changed")),
            Some(_) => {}
        }
    }
    let had_config = before.contains_key(".cargo/config.toml");
    // A project's own xtask/ gets nothing: every addition there is a problem.
    let added_here: Vec<&str> = ADDED
        .iter()
        .copied()
        .filter(|path| !(fixture.own_xtask && path.starts_with("xtask/")))
        .collect();
    let added: Vec<&String> = after
        .keys()
        .filter(|path| !before.contains_key(*path))
        .collect();
    for path in &added {
        let expected =
            added_here.contains(&path.as_str()) || (*path == ".cargo/config.toml" && !had_config);
        if !expected {
            problems.push(format!("{path} was added"));
        }
    }
    for path in &added_here {
        if !after.contains_key(*path) {
            problems.push(format!("{path} is missing"));
        }
    }
    // The note of hooks/adopt.rhai: the alias line, for a project whose own
    // .cargo/config.toml is kept; for an xtask of its own, the pin and the call to add.
    let alias = template_line(".cargo/config.toml", "xtask = ");
    let pin = template_line("xtask/Cargo.toml.liquid", "rust-alpine = ");
    let mut said = vec![
        alias.as_str(),
        "under its [alias]",
        "no such command: xtask",
    ];
    if fixture.own_xtask {
        said.extend([
            pin.as_str(),
            UPGRADE_FEATURE,
            RUN_CALL,
            "xtask/ is the project's own and is left untouched",
        ]);
    } else {
        said.push("own_xtask=true");
    }
    for expected in said {
        if !log.contains(expected) {
            problems.push(format!("the adoption note does not say `{expected}`"));
        }
    }
    if !had_config {
        let config = String::from_utf8_lossy(&after[".cargo/config.toml"]).into_owned();
        if !config.contains("xtask = \"run --quiet --manifest-path xtask/Cargo.toml") {
            problems.push(format!(".cargo/config.toml has no xtask alias:\n{config}"));
        }
    }
    assert!(
        problems.is_empty(),
        "[{}] adoption did more than add the tooling:\n  {}\n--- log\n{log}",
        fixture.name,
        problems.join("\n  ")
    );

    let again = step(fixture.name, "cargo generate --init, again", || {
        existing.adopt()
    });
    assert_eq!(
        existing.tree(),
        after,
        "[{}] a second adoption changed the tree",
        fixture.name
    );
    for path in &added_here {
        assert!(
            again.contains(&format!(
                "[Skipping] File already exists `{}",
                existing.path.join(path).display()
            )),
            "[{}] the second run does not say {path} is already there:\n{again}",
            fixture.name
        );
    }
    existing
}

/// `cargo run` of the project's xtask, as the workflow runs it (no alias needed).
fn xtask(dir: &Path, args: &[&str]) -> Command {
    let mut command = support::cargo_command();
    command
        .args([
            "run",
            "--quiet",
            "--manifest-path",
            "xtask/Cargo.toml",
            "--",
        ])
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", support::rendered_target_dir());
    command
}

#[test]
fn adoption_adds_the_tooling_and_nothing_else() {
    for fixture in FIXTURES {
        adopt(fixture);
    }
}

/// A project with an xtask of its own keeps all of it (adopt() checks: nothing changed, nothing
/// added under xtask/, the note names the pin and the call). Then, as a user would, the two
/// documented additions: its `cargo xtask` (its own alias, `run --package xtask`) lists
/// rust-alpine's commands and still runs its own. Its xtask is a member of its workspace, so
/// rust-alpine enters the project's Cargo.lock: the planner takes it in its stride (the member
/// becomes a placeholder; the image builds only the shipped package, `--manifest-path --bin`,
/// so rust-alpine is resolved from the lock, never compiled, in the image).
#[test]
fn an_own_xtask_is_kept_and_takes_two_lines() {
    let _heavy = heavy();
    let fixture = &OWN_XTASK;
    let existing = adopt(fixture);
    let edit = |file: &str, from: &str, to: &str| {
        let path = existing.path.join(file);
        let text = support::read(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}:\n{text}");
        fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    let pin = template_line("xtask/Cargo.toml.liquid", "rust-alpine = ");
    edit(
        "xtask/Cargo.toml",
        "[dependencies]\n",
        &format!("[dependencies]\n{pin}\n"),
    );
    let manifest = support::read(&existing.path.join("xtask/Cargo.toml")).unwrap();
    fs::write(
        existing.path.join("xtask/Cargo.toml"),
        format!("{manifest}\n[features]\n{UPGRADE_FEATURE}\n"),
    )
    .unwrap();
    edit(
        "xtask/src/main.rs",
        OWN_XTASK_FALLBACK,
        &format!("        {RUN_CALL}\n"),
    );
    let help = step(fixture.name, "cargo xtask --help", || {
        support::cargo(&existing.path, &["xtask", "--help"])
    });
    assert!(
        help.stdout.contains("usage: cargo xtask docker"),
        "[{}] cargo xtask --help does not list docker:\n{}",
        fixture.name,
        help.stdout
    );
    // The image workflow runs it without the alias, as a member's manifest works too.
    let workflow = step(
        fixture.name,
        "cargo run --manifest-path xtask/Cargo.toml -- --help",
        || run(&mut xtask(&existing.path, &["--help"])),
    );
    assert!(
        workflow.stdout.contains("usage: cargo xtask docker"),
        "[{}] {}",
        fixture.name,
        workflow.stdout
    );
    let own = step(fixture.name, "cargo xtask codegen", || {
        support::cargo(&existing.path, &["xtask", "codegen"])
    });
    assert!(
        own.stdout.contains("codegen: 3 files up to date"),
        "[{}] its own command: {}",
        fixture.name,
        own.stdout
    );
    let lock = support::read(&existing.path.join("Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"rust-alpine\""), "{lock}");
    let out = tempfile::tempdir().unwrap();
    let plan = out.path().join("plan");
    step(fixture.name, "cargo xtask plan . OUT", || {
        support::cargo(
            &existing.path,
            &["xtask", "plan", ".", plan.to_str().unwrap()],
        )
    });
    assert_eq!(support::read(&plan.join("bins")).unwrap().trim(), "ownx");
    let skeleton = plan.join("skeleton");
    assert!(
        support::read(&skeleton.join("Cargo.lock"))
            .unwrap()
            .contains("name = \"rust-alpine\"")
    );
    let main = support::read(&skeleton.join("xtask/src/main.rs")).unwrap();
    assert!(main.contains("Placeholder"), "{main}");
}

/// Which binary ships is decided by the project, not by adoption: a virtual workspace with two
/// binaries stops with the list and the setting to add.
#[test]
fn adoption_of_two_binaries_names_the_setting() {
    let _heavy = heavy();
    let fixture = FIXTURES.iter().find(|f| f.ships.is_none()).unwrap();
    let existing = adopt(fixture);
    let failure = step(
        fixture.name,
        "cargo xtask docker (no bin set)",
        || match run(&mut xtask(&existing.path, &["docker"])) {
            Ok(ran) => Err(format!("it succeeded:\n{}", ran.stdout)),
            Err(failure) => Ok(failure),
        },
    );
    for expected in [
        "which binary does the image ship?",
        "server",
        "client",
        "set bin = \"NAME\" in [workspace.metadata.docker]",
    ] {
        assert!(failure.contains(expected), "{expected}: {failure}");
    }
}

/// A Dockerfile the project already has is kept, and `cargo xtask docker` says what to do.
#[test]
fn an_existing_dockerfile_is_kept_and_named() {
    let _heavy = heavy();
    let fixture = &FIXTURES[3];
    let existing = Existing::write(fixture);
    let own = "FROM rust:1\nCOPY . .\nRUN cargo build --release\n";
    fs::write(existing.path.join("Dockerfile"), own).unwrap();
    let log = step(fixture.name, "cargo generate --init", || existing.adopt());
    assert!(log.contains("[Skipping] File already exists"), "{log}");
    assert_eq!(
        support::read(&existing.path.join("Dockerfile")).unwrap(),
        own
    );
    let failure = match run(&mut xtask(&existing.path, &["docker"])) {
        Ok(ran) => panic!("cargo xtask docker succeeded:\n{}", ran.stdout),
        Err(failure) => failure,
    };
    assert!(
        failure.contains("Dockerfile is not rust-alpine's") && failure.contains("Dockerfile.old"),
        "{failure}"
    );
}

/// The feature an xtask of the project's own declares for `cargo xtask upgrade`, as the
/// template's does.
const UPGRADE_FEATURE: &str = "upgrade = [\"rust-alpine/upgrade\"]";

/// A `.dockerignore` the project already has is kept; when it lets the repository's history
/// into the build context (a real project we adopted ignores `target` alone), `cargo xtask
/// docker` names the line to add before it builds; with the line added it goes on.
#[test]
fn a_dockerignore_that_keeps_the_history_is_named() {
    let _heavy = heavy();
    let fixture = &FIXTURES[3];
    let existing = Existing::write(fixture);
    fs::write(existing.path.join(".dockerignore"), "target\n").unwrap();
    let log = step(fixture.name, "cargo generate --init", || existing.adopt());
    assert!(log.contains("[Skipping] File already exists"), "{log}");
    assert_eq!(
        support::read(&existing.path.join(".dockerignore")).unwrap(),
        "target\n"
    );
    let failure = match run(&mut xtask(
        &existing.path,
        &["docker", "--engine", "no-such-engine"],
    )) {
        Ok(ran) => panic!("cargo xtask docker succeeded:\n{}", ran.stdout),
        Err(failure) => failure,
    };
    assert!(
        failure.contains(".dockerignore does not leave .git/ out of the build context")
            && failure.contains("add this line to .dockerignore:\n  .git/"),
        "{failure}"
    );
    // With the line added, the next check is the engine's: the context passed.
    fs::write(existing.path.join(".dockerignore"), "target\n.git\n").unwrap();
    let failure = match run(&mut xtask(
        &existing.path,
        &["docker", "--engine", "no-such-engine"],
    )) {
        Ok(ran) => panic!("cargo xtask docker succeeded:\n{}", ran.stdout),
        Err(failure) => failure,
    };
    assert!(!failure.contains(".dockerignore"), "{failure}");
    assert!(failure.contains("no-such-engine"), "{failure}");
}

/// Each adoptable fixture builds, ships its own binary, passes the smoke test and the cache
/// checks, and its image is within 1.1x its binary plus the CA bundle (debug info stripped).
#[test]
fn adopted_projects_build_and_pass_the_smoke_test() {
    if !crate::docker::enabled("adopted_projects_build_and_pass_the_smoke_test") {
        return;
    }
    let _heavy = heavy();
    for fixture in FIXTURES {
        let Some((bin, version)) = fixture.ships else {
            continue;
        };
        let existing = adopt(fixture);
        let mut command = xtask(
            &existing.path,
            &["docker", "--json", "--check-cache", "--check-version-bump"],
        );
        command.env("DOCKER", crate::docker::engine().program);
        if let Ok(image) = env::var("RUST_ALPINE_BUILDER_IMAGE") {
            command.args(["--builder-image", &image]);
        }
        let output = step(fixture.name, "cargo xtask docker --check-cache", || {
            command.output().map_err(|error| error.to_string())
        });
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|error| {
            panic!(
                "[{}] not a JSON report ({error}):\n{stdout}\n{}",
                fixture.name,
                String::from_utf8_lossy(&output.stderr)
            )
        });
        let tag = report["image"].as_str().unwrap_or_default().to_owned();
        crate::docker::engine().remove_image(&tag);
        assert_eq!(report["ok"], true, "[{}] {report:#}", fixture.name);
        assert_eq!(report["bin"], bin, "[{}]", fixture.name);
        let steps = report["steps"].as_array().unwrap();
        let detail = |name: &str| {
            steps
                .iter()
                .find(|step| step["name"] == name)
                .and_then(|step| step["detail"].as_str())
                .unwrap_or_default()
        };
        assert!(
            detail("version").contains(version),
            "[{}] {report:#}",
            fixture.name
        );
        assert!(
            !detail("binary").contains("debug info"),
            "[{}] {report:#}",
            fixture.name
        );
        assert!(
            !steps.iter().any(|step| step["name"] == "self-check"),
            "[{}] self-check ran on a binary that does not declare it",
            fixture.name
        );
        let (image, binary) = (
            report["image_bytes"].as_u64().unwrap(),
            report["binary_bytes"].as_u64().unwrap(),
        );
        // The CA bundle of the builder image (Debian's, about 220 kB) and the user files.
        let ceiling = (binary + 225_000) * 11 / 10;
        eprintln!(
            "[{}] image {image} B, binary {binary} B, ceiling {ceiling} B, build {} s",
            fixture.name, report["build_seconds"]
        );
        assert!(image <= ceiling, "[{}] {report:#}", fixture.name);
    }
}
