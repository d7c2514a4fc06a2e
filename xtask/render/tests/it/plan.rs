//! The Dockerfile's dependency planner (`cargo xtask plan`, the generated project's own
//! xtask) on manifests written in every form cargo accepts. No engine: each case is a project
//! of our own, locked by cargo, planned, and the skeleton checked as the image build would use
//! it: `cargo metadata --locked` and `cargo check --locked` of every target on it, no source of
//! the project in it (but for [patch] targets, dependencies copied as they are), the named
//! binary and package, and the same bytes after a source-only change and after a version bump
//! of the workspace (so the image's dependency layer stays cached).

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use crate::support::{self, heavy, render, run, step};

/// Appended to every source file of a case: it must never reach the skeleton.
const MARKER: &str = "// real source, never in the skeleton";

/// A project: its files, and what the planner must make of it.
struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    /// The manifest (relative) and binary the image ships, or the planner's error.
    expect: Result<(&'static str, &'static str), &'static str>,
    /// After locking: Cargo.toml files and Cargo.lock get CRLF line endings.
    crlf: bool,
    /// After locking: `cargo vendor` and a `[source]` replacement in .cargo/config.toml.
    vendor: bool,
    /// With `vendor`: the other workspaces' manifests vendored too (`--sync`, as a project
    /// vendors its xtask's crates); their crates that the project does not use stay out of
    /// the skeleton.
    vendor_sync: &'static [&'static str],
    /// With `vendor`: crates deleted from vendor/ after vendoring (a directory vendored before
    /// the last change to Cargo.lock).
    unvendor: &'static [&'static str],
    /// Paths that must not be in the plan.
    absent: &'static [&'static str],
    /// Directories (`patches/`) of [patch] targets and their path dependencies: dependencies,
    /// in the skeleton as they are.
    real: &'static [&'static str],
    /// The cargo selection the recipe must hold (`args`, space-separated); "": not checked.
    args: &'static str,
}

const MAIN: &str = "fn main() {\n    println!(\"hi\");\n}\n";
const LIB: &str = "pub fn answer() -> u32 {\n    42\n}\n";

const fn case(
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    expect: Result<(&'static str, &'static str), &'static str>,
) -> Case {
    Case {
        name,
        files,
        expect,
        crlf: false,
        vendor: false,
        vendor_sync: &[],
        unvendor: &[],
        absent: &[],
        real: &[],
        args: "",
    }
}

const CASES: &[Case] = &[
    Case {
        args: "--manifest-path Cargo.toml --package server-app --package migrate --bin server \
               --bin migrate --features server-app/metrics,server-app/net --no-default-features",
        ..case(
            "several binaries of two members, features, a required feature pulling an optional dependency",
            &[
                (
                    "Cargo.toml",
                    "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n\n[workspace.metadata.docker]\nbins = [\"server\", \"migrate\"]\nfeatures = [\"metrics\"]\ndefault-features = false\ninclude = [\"migrations\"]\nzoneinfo = true\n",
                ),
                (
                    "crates/server/Cargo.toml",
                    "[package]\nname = \"server-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[features]\ndefault = [\"metrics\"]\nmetrics = []\nnet = [\"dep:itoa\"]\n\n[dependencies]\nitoa = { version = \"1\", optional = true }\n\n[[bin]]\nname = \"server\"\npath = \"src/main.rs\"\nrequired-features = [\"net\"]\n",
                ),
                ("crates/server/src/main.rs", MAIN),
                (
                    "crates/migrate/Cargo.toml",
                    "[package]\nname = \"migrate\"\nversion = \"0.2.0\"\nedition = \"2024\"\n",
                ),
                ("crates/migrate/src/main.rs", MAIN),
                ("migrations/001.sql", "create table t (id int);\n"),
            ],
            Ok(("Cargo.toml", "server")),
        )
    },
    case(
        "a feature the package does not have",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[features]\nfast = []\n\n[workspace]\n\n[workspace.metadata.docker]\nfeatures = [\"fats\"]\n",
            ),
            ("src/main.rs", MAIN),
        ],
        Err("names \"fats\", but package app has no feature \"fats\" (it has: fast)"),
    ),
    case(
        "an included path that is not there",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n[workspace.metadata.docker]\ninclude = [\"static\"]\n",
            ),
            ("src/main.rs", MAIN),
        ],
        Err(
            "include = [.., \"static\", ..] in [workspace.metadata.docker] of Cargo.toml: there is no",
        ),
    ),
    case(
        "a package with a build script, examples, tests and benches",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nitoa = \"1\"\n\n[build-dependencies]\nmemchr = \"2\"\n\n[[bench]]\nname = \"speed\"\nharness = false\n\n[workspace]\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            (
                "build.rs",
                "fn main() {\n    println!(\"cargo:rerun-if-changed=build.rs\");\n}\n",
            ),
            ("src/main.rs", MAIN),
            ("src/lib.rs", LIB),
            ("src/bin/tool.rs", MAIN),
            ("examples/demo.rs", MAIN),
            ("tests/it.rs", "#[test]\nfn works() {}\n"),
            ("benches/speed.rs", MAIN),
        ],
        Ok(("Cargo.toml", "app")),
    ),
    case(
        "a path dependency as a [dependencies.NAME] table with single quotes, and a multi-line inline table",
        &[
            (
                "Cargo.toml",
                "[package]\nname = 'app'\nversion = '0.1.0'\nedition = '2024'\n\n[dependencies.core]\npath = 'crates/core'\nversion = '0.1.0'\n\n[dev-dependencies]\nutil = {\n    path = \"crates/util\",\n    version = \"0.1\",\n}\n\n[workspace]\nmembers = ['crates/*']\n\n[workspace.metadata.docker]\nruntime = 'scratch'\nsize-budget = '8 MB'\n",
            ),
            ("src/main.rs", MAIN),
            (
                "crates/core/Cargo.toml",
                "[package]\nname = 'core'\nversion = '0.1.0'\nedition = '2024'\n\n[dependencies]\nitoa = '1'\n",
            ),
            ("crates/core/src/lib.rs", LIB),
            (
                "crates/util/Cargo.toml",
                "[package]\nname = \"util\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
            ),
            ("crates/util/src/lib.rs", LIB),
        ],
        Ok(("Cargo.toml", "app")),
    ),
    case(
        "bin = 'server' of a non-root member, a comment after the settings' header, and a multi-line metadata array",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[package.metadata.deb]\nassets = [\n    [\"target/release/app\", \"usr/bin/\", \"755\"],\n    [\"README.md\", \"usr/share/doc/app/\", \"644\"],\n]\n\n[workspace]\nmembers = [\"crates/server\"]\n\n[workspace.metadata.docker] # read by cargo xtask docker\nbin = 'server'\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            ("src/main.rs", MAIN),
            (
                "crates/server/Cargo.toml",
                "[package]\nname = \"server-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[[bin]]\nname = \"server\"\npath = \"main.rs\"\n\n[dependencies]\nitoa = \"1\"\n",
            ),
            ("crates/server/main.rs", MAIN),
        ],
        Ok(("crates/server/Cargo.toml", "server")),
    ),
    Case {
        crlf: true,
        ..case(
            "CRLF line endings in the manifests and the lock, a comment after [package]",
            &[
                (
                    "Cargo.toml",
                    "[package] # the service\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\ncore = { path = \"core\", version = \"0.1.0\" }\nitoa = \"1\"\n\n[workspace]\nmembers = [\"core\"]\n\n[workspace.metadata.docker] # settings\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
                ),
                ("src/main.rs", MAIN),
                (
                    "core/Cargo.toml",
                    "[package] # a library\nname = \"core\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
                ),
                ("core/src/lib.rs", LIB),
            ],
            Ok(("Cargo.toml", "app")),
        )
    },
    case(
        "dotted keys: package.version and the settings under [workspace], version.workspace in members",
        &[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"app\", \"core\"]\nresolver = \"3\"\npackage.version = \"0.1.0\"\npackage.edition = \"2024\"\nmetadata.docker.runtime = \"scratch\"\nmetadata.docker.size-budget = \"8 MB\"\ndependencies.itoa = \"1\"\n",
            ),
            (
                "app/Cargo.toml",
                "[package]\nname = \"app\"\nversion.workspace = true\nedition.workspace = true\n\n[dependencies]\ncore.path = \"../core\"\ncore.version = \"0.1.0\"\nitoa.workspace = true\n",
            ),
            ("app/src/main.rs", MAIN),
            (
                "core/Cargo.toml",
                "[package]\nname = \"core\"\nversion.workspace = true\nedition.workspace = true\n",
            ),
            ("core/src/lib.rs", LIB),
        ],
        Ok(("app/Cargo.toml", "app")),
    ),
    Case {
        real: &["patches/"],
        ..case(
            "[patch.crates-io] with a local path whose crate has a path dependency of its own",
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nitoa = \"1\"\n\n[patch.crates-io]\nitoa = { path = \"patches/itoa\" }\n\n[workspace]\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
                ),
                ("src/main.rs", MAIN),
                (
                    "patches/itoa/Cargo.toml",
                    "[package]\nname = \"itoa\"\nversion = \"1.99.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa-core = { path = \"../itoa-core\" }\n\n[[bin]]\nname = \"not-built\"\npath = \"src/not-built.rs\"\n",
                ),
                ("patches/itoa/src/lib.rs", LIB),
                ("patches/itoa/src/not-built.rs", MAIN),
                (
                    "patches/itoa-core/Cargo.toml",
                    "[package]\nname = \"itoa-core\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"gen.rs\"\n",
                ),
                ("patches/itoa-core/gen.rs", MAIN),
                ("patches/itoa-core/src/lib.rs", LIB),
            ],
            Ok(("Cargo.toml", "app")),
        )
    },
    case(
        "a path dependency on an excluded crate",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nhelper = { path = \"tools/helper\", version = \"0.1.0\" }\n\n[workspace]\nexclude = [\"tools/helper\"]\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            ("src/main.rs", MAIN),
            (
                "tools/helper/Cargo.toml",
                "[package]\nname = \"helper\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\npath = \"helper.rs\"\n",
            ),
            ("tools/helper/helper.rs", LIB),
        ],
        Ok(("Cargo.toml", "app")),
    ),
    Case {
        vendor: true,
        ..case(
            "vendored sources (`cargo vendor` and a [source] replacement)",
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nitoa = \"1\"\n\n[workspace]\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
                ),
                ("src/main.rs", MAIN),
            ],
            Ok(("Cargo.toml", "app")),
        )
    },
    Case {
        vendor: true,
        vendor_sync: &["tools/Cargo.toml"],
        absent: &["skeleton/vendor/memchr", "skeleton/tools"],
        ..case(
            "vendored with a tooling workspace's crates too (`cargo vendor --sync tools/Cargo.toml`), and cc (sources in src/target/)",
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nitoa = \"1\"\n\n[build-dependencies]\ncc = \"1\"\n\n[workspace]\nexclude = [\"tools\"]\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
                ),
                ("src/main.rs", MAIN),
                ("build.rs", MAIN),
                (
                    "tools/Cargo.toml",
                    "[package]\nname = \"tools\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nmemchr = \"2\"\n\n[workspace]\n",
                ),
                ("tools/src/main.rs", MAIN),
            ],
            Ok(("Cargo.toml", "app")),
        )
    },
    Case {
        vendor: true,
        unvendor: &["itoa"],
        ..case(
            "vendored before the last change to Cargo.lock (a crate missing from vendor/)",
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nitoa = \"1\"\n\n[workspace]\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
                ),
                ("src/main.rs", MAIN),
            ],
            Err(
                "that are not in vendor/, where .cargo/config.toml makes cargo take them from (`cargo vendor`): itoa 1.",
            ),
        )
    },
    case(
        "lints denied for members, and -D warnings -D missing-docs in [build] rustflags",
        &[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"app\"]\nresolver = \"3\"\n\n[workspace.lints.rust]\nmissing_docs = \"deny\"\nunsafe_code = \"forbid\"\nunused_crate_dependencies = \"deny\"\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            (
                ".cargo/config.toml",
                "[build]\nrustflags = [\"-D\", \"warnings\", \"-D\", \"missing-docs\", \"--cfg\", \"tokio_unstable\"]\n",
            ),
            (
                "app/Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lints]\nworkspace = true\n\n[dependencies]\nitoa = \"1\"\n",
            ),
            (
                "app/src/main.rs",
                "//! The app.\nfn main() {\n    println!(\"{}\", itoa::Buffer::new().format(1));\n}\n",
            ),
            (
                "app/src/lib.rs",
                "//! The library.\n/// The answer.\npub fn answer() -> u32 {\n    42\n}\n",
            ),
        ],
        Ok(("app/Cargo.toml", "app")),
    ),
    case(
        "a member named like a registry crate in the same lock (itoa)",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nitoa = \"1\"\nmy-itoa = { package = \"itoa\", path = \"crates/itoa\", version = \"0.1.0\" }\n\n[workspace]\nmembers = [\"crates/itoa\"]\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            ("src/main.rs", MAIN),
            (
                "crates/itoa/Cargo.toml",
                "[package]\nname = \"itoa\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
            ),
            ("crates/itoa/src/lib.rs", LIB),
        ],
        Ok(("Cargo.toml", "app")),
    ),
    case(
        "a renamed package whose only binary is named otherwise, settings under [package.metadata.docker]",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"fd-find\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[[bin]]\nname = \"fd\"\npath = \"src/main.rs\"\n\n[package.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            ("src/main.rs", MAIN),
        ],
        Ok(("Cargo.toml", "fd")),
    ),
    case(
        "a virtual workspace with two binaries, bin named",
        &[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"cli\", \"server\", \"shared\"]\nresolver = \"3\"\n\n[workspace.metadata.docker]\nbin = \"serverd\"\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            (
                "cli/Cargo.toml",
                "[package]\nname = \"cli\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nshared = { path = \"../shared\" }\n",
            ),
            ("cli/src/main.rs", MAIN),
            (
                "server/Cargo.toml",
                "[package]\nname = \"server\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[[bin]]\nname = \"serverd\"\npath = \"src/main.rs\"\n\n[dependencies]\nshared = { path = \"../shared\" }\n",
            ),
            ("server/src/main.rs", MAIN),
            (
                "shared/Cargo.toml",
                "[package]\nname = \"shared\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
            ),
            ("shared/src/lib.rs", LIB),
        ],
        Ok(("server/Cargo.toml", "serverd")),
    ),
    case(
        "a virtual workspace with two binaries, none named",
        &[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"a\", \"b\"]\nresolver = \"3\"\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            (
                "a/Cargo.toml",
                "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
            ),
            ("a/src/main.rs", MAIN),
            (
                "b/Cargo.toml",
                "[package]\nname = \"b\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
            ),
            ("b/src/main.rs", MAIN),
        ],
        Err(
            "The workspace has a, b: set bin = \"NAME\" in [workspace.metadata.docker] of Cargo.toml",
        ),
    ),
    case(
        "bin of the wrong type",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace.metadata.docker]\nbin = 5\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            ("src/main.rs", MAIN),
        ],
        Err(
            "bin = 5 in [workspace.metadata.docker] of Cargo.toml must be the binary the image ships, a string",
        ),
    ),
    case(
        "an unknown settings key",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace.metadata.docker]\nsize_budget = \"8 MB\"\nruntime = \"scratch\"\n",
            ),
            ("src/main.rs", MAIN),
        ],
        Err(
            "[workspace.metadata.docker] in Cargo.toml has an unknown key `size_budget`: the keys are runtime, size-budget, bin",
        ),
    ),
    case(
        "a path dependency outside the build context",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\noutside = { path = \"../outside\" }\n\n[workspace.metadata.docker]\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            ("src/main.rs", MAIN),
            (
                "../outside/Cargo.toml",
                "[package]\nname = \"outside\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
            ),
            ("../outside/src/lib.rs", LIB),
        ],
        Err("outside is outside the build context"),
    ),
    case(
        "bin naming no binary",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace.metadata.docker]\nbin = \"nope\"\nruntime = \"scratch\"\nsize-budget = \"8 MB\"\n",
            ),
            ("src/main.rs", MAIN),
        ],
        Err(
            "bin = \"nope\" in [workspace.metadata.docker] of Cargo.toml names no binary of the workspace (it has: app)",
        ),
    ),
];

/// The generated project's xtask binary, built once from a rendered project.
fn planner() -> &'static Path {
    static PLANNER: OnceLock<PathBuf> = OnceLock::new();
    PLANNER.get_or_init(|| {
        let project = render("cli", "scratch", "plan-suite");
        let target = support::rendered_target_dir().join("xtask");
        let manifest = project.path.join("xtask/Cargo.toml");
        let manifest = manifest.to_str().unwrap();
        step("planner", "build the generated xtask", || {
            support::cargo(
                &project.path,
                &[
                    "build",
                    "--locked",
                    "--manifest-path",
                    manifest,
                    "--target-dir",
                    target.to_str().unwrap(),
                ],
            )
        });
        target.join("debug/xtask")
    })
}

fn write_case(dir: &Path, case: &Case) {
    for (path, text) in case.files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = match path.extension().is_some_and(|ext| ext == "rs") {
            true => format!("{text}{MARKER}\n"),
            false => text.to_string(),
        };
        fs::write(path, text).unwrap();
    }
}

/// Every file under `dir`, relative path to contents.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                files.insert(
                    path.strip_prefix(root).unwrap().to_owned(),
                    fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

/// Runs the planner on `project` into `out`; its stderr on failure.
fn plan(project: &Path, out: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>, String> {
    let _ = fs::remove_dir_all(out);
    fs::create_dir_all(out).unwrap();
    let mut command = Command::new(planner());
    command.args(["plan"]).arg(project).arg(out);
    run(&mut command)?;
    Ok(tree(out))
}

fn rewrite(dir: &Path, file: &str, f: impl Fn(&str) -> String) {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, f(&text)).unwrap();
}

fn check_case(case: &Case) {
    let tag = case.name;
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    write_case(&project, case);
    step(tag, "lock", || {
        support::cargo(&project, &["generate-lockfile"])
    });
    if case.vendor {
        for manifest in case.vendor_sync {
            step(tag, &format!("lock {manifest}"), || {
                support::cargo(
                    &project,
                    &["generate-lockfile", "--manifest-path", manifest],
                )
            });
        }
        let mut args = vec!["vendor", "--locked"];
        for manifest in case.vendor_sync {
            args.extend(["--sync", manifest]);
        }
        args.push("vendor");
        let vendored = step(tag, "cargo vendor", || support::cargo(&project, &args));
        fs::create_dir_all(project.join(".cargo")).unwrap();
        fs::write(project.join(".cargo/config.toml"), vendored.stdout).unwrap();
        for name in case.unvendor {
            fs::remove_dir_all(project.join("vendor").join(name)).unwrap();
        }
    }
    if case.crlf {
        for file in case
            .files
            .iter()
            .map(|(path, _)| *path)
            .filter(|path| path.ends_with("Cargo.toml"))
            .chain(["Cargo.lock"])
        {
            rewrite(&project, file, |text| text.replace('\n', "\r\n"));
        }
    }
    let out = dir.path().join("plan");
    let (manifest, bin) = match case.expect {
        Err(message) => {
            let failure = plan(&project, &out).map(|_| ()).expect_err(tag);
            assert!(
                failure.contains(message),
                "[{tag}] expected {message:?} in:\n{failure}"
            );
            return;
        }
        Ok(expected) => expected,
    };
    let planned = step(tag, "plan", || plan(&project, &out));
    let text = |file: &str| {
        String::from_utf8_lossy(&planned[Path::new(file)])
            .trim()
            .to_owned()
    };
    let args = text("args");
    let args: Vec<&str> = args.lines().collect();
    let at = args.iter().position(|arg| *arg == "--manifest-path");
    let bins = text("bins");
    assert_eq!(
        (
            at.map_or("", |at| args[at + 1]),
            bins.lines().next().unwrap_or("")
        ),
        (manifest, bin),
        "[{tag}] {args:?}"
    );
    if !case.args.is_empty() {
        assert_eq!(args.join(" "), case.args, "[{tag}]");
    }
    // Vendored: every crate from vendor/, so the image's cargo runs with --offline.
    assert_eq!(
        text("vendored"),
        if case.vendor { "vendor" } else { "" },
        "[{tag}] vendored"
    );
    for path in case.absent {
        assert!(
            !planned.keys().any(|planned| planned.starts_with(path)),
            "[{tag}] {path} is in the plan"
        );
        // A vendored crate left out must have been vendored.
        if let Some(vendored) = path.strip_prefix("skeleton/vendor/") {
            assert!(
                project.join("vendor").join(vendored).is_dir(),
                "[{tag}] vendor/{vendored} was never vendored"
            );
        }
    }
    let real = |path: &str| case.real.iter().any(|dir| path.starts_with(dir));
    for (path, contents) in &planned {
        let dependency = path
            .strip_prefix("skeleton")
            .is_ok_and(|path| real(&path.to_string_lossy()));
        let contents = String::from_utf8_lossy(contents);
        assert!(
            dependency || !contents.contains(MARKER),
            "[{tag}] {} leaks the project's source",
            path.display()
        );
    }
    for (path, _) in case.files.iter().filter(|(path, _)| real(path)) {
        assert_eq!(
            planned.get(&Path::new("skeleton").join(path)),
            Some(&fs::read(project.join(path)).unwrap()),
            "[{tag}] the [patch] dependency's {path} is not in the skeleton as it is"
        );
    }
    let skeleton = out.join("skeleton");
    // A vendored skeleton must build from its own vendor/ alone.
    let locked: &[&str] = match case.vendor {
        true => &["--locked", "--offline"],
        false => &["--locked"],
    };
    step(tag, "cargo metadata --locked on the skeleton", || {
        support::cargo(
            &skeleton,
            &[locked, &["metadata", "--format-version", "1"]].concat(),
        )
    });
    step(
        tag,
        "cargo check --locked of the shipped binary and every target",
        || {
            // The recipe's selection, as `cook` passes it.
            let mut check = vec!["check"];
            check.extend(locked.iter().copied());
            check.extend(args.iter().copied());
            support::cargo(&skeleton, &check)?;
            support::cargo(
                &skeleton,
                &[&["check", "--workspace", "--all-targets"], locked].concat(),
            )
        },
    );

    // A source-only change and a version bump of the workspace (not of a [patch] dependency)
    // leave the plan byte for byte as it was.
    for (path, _) in case
        .files
        .iter()
        .filter(|(path, _)| path.ends_with(".rs") && !real(path))
    {
        rewrite(&project, path, |text| format!("{text}// changed\n"));
    }
    assert_eq!(
        plan(&project, &out).unwrap(),
        planned,
        "[{tag}] a source-only change moved the plan"
    );
    for (path, _) in case
        .files
        .iter()
        .filter(|(path, _)| path.ends_with("Cargo.toml") && !real(path))
    {
        rewrite(&project, path, |text| {
            text.replace("\"0.1.0\"", "\"0.1.1\"")
                .replace("'0.1.0'", "'0.1.1'")
        });
    }
    step(tag, "relock after the version bump", || {
        support::cargo(&project, &["metadata", "--format-version", "1"])
    });
    let lock = fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("version = \"0.1.1\""),
        "[{tag}] the bump did not reach Cargo.lock:\n{lock}"
    );
    assert_eq!(
        plan(&project, &out).unwrap(),
        planned,
        "[{tag}] a version bump moved the plan"
    );
}

#[test]
fn the_planner_reads_every_manifest_form_cargo_accepts() {
    let _heavy = heavy();
    for case in CASES {
        check_case(case);
    }
}
