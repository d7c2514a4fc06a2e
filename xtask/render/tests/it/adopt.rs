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
    },
];

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
        let existing = Existing { path, _dir: dir };
        step(fixture.name, "cargo generate-lockfile", || {
            support::run_in(&existing.path, "cargo", &["generate-lockfile", "--quiet"])
        });
        existing
    }

    /// `cargo generate --path <repo> template --init --silent --name <dir>` in the project.
    fn adopt(&self) -> Result<String, String> {
        let mut command = engine();
        command
            .args(["generate", "--path"])
            .arg(support::repo_root())
            .args(["template", "--init", "--silent", "--vcs", "none", "--name"])
            .arg(self.path.file_name().unwrap())
            .current_dir(&self.path);
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
    let added: Vec<&String> = after
        .keys()
        .filter(|path| !before.contains_key(*path))
        .collect();
    for path in &added {
        let expected =
            ADDED.contains(&path.as_str()) || (*path == ".cargo/config.toml" && !had_config);
        if !expected {
            problems.push(format!("{path} was added"));
        }
    }
    for path in ADDED {
        if !after.contains_key(*path) {
            problems.push(format!("{path} is missing"));
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
    for path in ADDED {
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
