//! The matrix: every kind x runtime rendered and checked as its own CI would check it (formatted,
//! clippy-clean, tests passing), plus its dependency tree: no OpenSSL anywhere, jemalloc for musl.

use std::{collections::BTreeSet, fs, path::Path};

use crate::support::{
    self, KINDS, RUNTIMES, cargo, heavy, read, render, render_with, run_in, step, template_dir,
};

/// The target the Dockerfile builds.
const MUSL: &str = "x86_64-unknown-linux-musl";

macro_rules! matrix {
    ($($test:ident: $kind:literal x $runtime:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_combination($kind, $runtime);
            }
        )*
        const COMBINATIONS: &[(&str, &str)] = &[$(($kind, $runtime)),*];
    };
}

matrix! {
    service_scratch: "service" x "scratch",
    service_alpine: "service" x "alpine",
    service_distroless: "service" x "distroless",
    cli_scratch: "cli" x "scratch",
    cli_alpine: "cli" x "alpine",
    cli_distroless: "cli" x "distroless",
}

fn check_combination(kind: &str, runtime: &str) {
    let tag = format!("{kind}/{runtime}");
    let project = render(kind, runtime, &format!("{kind}-{runtime}"));
    let dir = &project.path;
    step(&tag, "no Liquid left", || check_fully_rendered(dir));
    step(&tag, "runtime recorded", || {
        support::check_runtime_recorded(dir, runtime)
    });
    step(&tag, "fmt", || cargo(dir, &["fmt", "--check"]));
    step(&tag, "dependency tree", || check_dependency_tree(dir));
    let _heavy = heavy();
    step(&tag, "clippy", || {
        cargo(
            dir,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        )
    });
    step(&tag, "test", || {
        cargo(dir, &["test", "--workspace", "--locked"])
    });
    // The tooling is a workspace of its own (xtask/), with its own lock.
    let xtask = ["--manifest-path", "xtask/Cargo.toml"];
    step(&tag, "xtask: fmt, clippy, test", || {
        cargo(dir, &[&["fmt", "--check"][..], &xtask].concat())?;
        let clippy = [
            &["clippy", "--all-targets", "--locked"][..],
            &xtask,
            &["--", "-D", "warnings"],
        ];
        cargo(dir, &clippy.concat())?;
        cargo(dir, &[&["test", "--locked"][..], &xtask].concat())
    });
}

/// The longest name the template accepts must not push a line over rustfmt's width (the
/// template is not reformatted when rendered), and a custom port must reach the code.
#[test]
fn longest_name_and_a_custom_port_stay_formatted() {
    let name = "long-service-name-".repeat(3)[..48].to_owned();
    for kind in KINDS {
        let tag = format!("{kind}/48-char name");
        let mut values = vec![("kind", kind), ("runtime", "alpine")];
        if kind == "service" {
            values.push(("port", "65535"));
        }
        let project = step(&tag, "render", || render_with(&name, &values));
        let dir = &project.path;
        if kind == "service" {
            step(&tag, "port", || {
                let serve = read(&dir.join("src/serve.rs"))?;
                let expected = "pub const DEFAULT_PORT: u16 = 65535;";
                serve
                    .contains(expected)
                    .then_some(())
                    .ok_or(format!("src/serve.rs lacks {expected:?}"))
            });
        }
        step(&tag, "fmt", || cargo(dir, &["fmt", "--check"]));
        step(&tag, "metadata", || {
            cargo(dir, &["metadata", "--locked", "--format-version", "1"])
        });
    }
}

/// A lock that no longer matches the manifests (here: a version bump without its lock entry)
/// fails `--locked` with a message that says how to refresh the template's locks.
#[test]
fn a_stale_lock_says_to_run_cargo_xtask_lock() {
    let project = render("cli", "scratch", "stale-lock");
    let manifest = project.path.join("Cargo.toml");
    let bumped = read(&manifest)
        .unwrap()
        .replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1);
    fs::write(&manifest, bumped).unwrap();
    let failure = cargo(
        &project.path,
        &["metadata", "--locked", "--format-version", "1"],
    )
    .err();
    let message = failure.expect("cargo metadata --locked accepted a stale lock");
    assert!(
        message.starts_with("the template's lock file is stale"),
        "{message}"
    );
    assert!(message.contains("run `cargo xtask lock`"), "{message}");
}

#[test]
fn matrix_and_choices_match_the_template() {
    let config: toml::Table = read(&template_dir().join("cargo-generate.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let choices = |name: &str| -> Vec<String> {
        // Asked always, or for a new project only (`is_init == false`).
        let new_project = &config["conditional"]["is_init == false"]["placeholders"];
        let table = config["placeholders"].get(name).or(new_project.get(name));
        let placeholders = &table.expect("a placeholder of the template")["choices"];
        placeholders
            .as_array()
            .unwrap()
            .iter()
            .map(|choice| choice.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(choices("kind"), KINDS, "support::KINDS");
    assert_eq!(choices("runtime"), RUNTIMES, "support::RUNTIMES");
    for kind in KINDS {
        for runtime in RUNTIMES {
            assert!(
                COMBINATIONS.contains(&(kind, runtime)),
                "matrix! lacks {kind} x {runtime}"
            );
        }
    }
}

/// Nothing of the template's machinery in the output: no Liquid left (such as a whole file
/// skipped after a Liquid error, which cargo-generate does without failing) and no empty
/// directories.
fn check_fully_rendered(project: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut dirs = vec![project.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries: Vec<_> = fs::read_dir(&dir)
            .map_err(|error| format!("{}: {error}", dir.display()))?
            .collect();
        let relative = dir.strip_prefix(project).unwrap().display().to_string();
        if entries.is_empty() {
            problems.push(format!(
                "{relative}/: an empty directory (template machinery left behind?)"
            ));
        }
        for entry in entries {
            let path = entry.map_err(|error| error.to_string())?.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            let file = path.strip_prefix(project).unwrap().display().to_string();
            problems.extend(unrendered(&file, &text));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The lines of a rendered file that still hold Liquid: any `{%`, and any `{{` except the
/// `${{ ... }}` expressions GitHub Actions workflows need (the template escapes those with
/// `{% raw %}`, so they are meant to be there).
fn unrendered(file: &str, text: &str) -> Vec<String> {
    let workflow = file.starts_with(".github/");
    let mut problems = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let braces = line
            .match_indices("{{")
            .any(|(at, _)| !(workflow && line[..at].ends_with('$')));
        if braces || line.contains("{%") {
            problems.push(format!(
                "{file}:{}: unrendered Liquid: {}",
                number + 1,
                line.trim()
            ));
        }
    }
    problems
}

#[test]
fn unrendered_liquid_is_found_but_workflow_expressions_are_not() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("src/main.rs", "use demo::serve;\nlet x = 1;\n", &[]),
        (
            "src/main.rs",
            "use {{crate_name}}::serve;\n",
            &["src/main.rs:1: unrendered Liquid: use {{crate_name}}::serve;"],
        ),
        (
            "README.md",
            "a\n{% if kind == \"cli\" %}\n",
            &["README.md:2: unrendered Liquid: {% if kind == \"cli\" %}"],
        ),
        (
            ".github/workflows/ci.yml",
            "group: ${{ github.workflow }}-${{ github.ref }}\n",
            &[],
        ),
        (
            ".github/workflows/ci.yml",
            "image: {{project-name}}\n",
            &[".github/workflows/ci.yml:1: unrendered Liquid: image: {{project-name}}"],
        ),
        (
            "Dockerfile",
            "RUN echo ${{ x }}\n",
            &["Dockerfile:1: unrendered Liquid: RUN echo ${{ x }}"],
        ),
    ];
    for (file, text, expected) in cases {
        assert_eq!(unrendered(file, text), *expected, "{file}: {text:?}");
    }
}

fn check_dependency_tree(project: &Path) -> Result<(), String> {
    let host = run_in(project, "rustc", &["-vV"])?;
    let host = host
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .ok_or("`rustc -vV` printed no host line")?
        .to_owned();
    let openssl = ["openssl-sys", "openssl"];
    let rules: [(&str, &[&str], &[&str]); 3] = [
        (&host, &[], &["openssl-sys", "openssl", "tikv-jemalloc-sys"]),
        (MUSL, &["tikv-jemalloc-sys"], &openssl),
        ("all", &[], &openssl),
    ];
    let mut problems = Vec::new();
    for (target, required, forbidden) in rules {
        let args = [
            "tree",
            "--locked",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--target",
            target,
        ];
        let tree = cargo(project, &args)?;
        problems.extend(tree_problems(&tree.stdout, target, required, forbidden));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Checks the output of `cargo tree --prefix none --format {p}` (one `name version` a line).
fn tree_problems(tree: &str, target: &str, required: &[&str], forbidden: &[&str]) -> Vec<String> {
    let packages: BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    let mut problems = Vec::new();
    for name in forbidden.iter().filter(|name| packages.contains(*name)) {
        problems.push(format!("--target {target}: {name} is in the dependency tree; `cargo tree --target {target} --invert {name}` shows who pulls it in"));
    }
    for name in required.iter().filter(|name| !packages.contains(*name)) {
        problems.push(format!(
            "--target {target}: {name} is missing from the dependency tree"
        ));
    }
    problems
}

#[test]
fn tree_problems_name_the_package_and_the_target() {
    let tree =
        "demo v0.1.0 (/tmp/demo)\nreqwest v0.12.28\nopenssl-sys v0.9.109\ntokio v1.48.0 (*)\n";
    assert_eq!(
        tree_problems(
            tree,
            MUSL,
            &["tikv-jemalloc-sys", "tokio"],
            &["openssl-sys", "openssl"]
        ),
        [
            "--target x86_64-unknown-linux-musl: openssl-sys is in the dependency tree; `cargo tree --target x86_64-unknown-linux-musl --invert openssl-sys` shows who pulls it in",
            "--target x86_64-unknown-linux-musl: tikv-jemalloc-sys is missing from the dependency tree",
        ]
    );
    assert_eq!(
        tree_problems(tree, "all", &["reqwest"], &["openssl"]),
        Vec::<String>::new()
    );
}

#[test]
fn final_base_resolves_the_runtime_image_argument() {
    let cases = [
        (
            "FROM rust AS builder\nFROM scratch\nCOPY x /x\n",
            Some("scratch"),
        ),
        (
            "ARG RUNTIME_IMAGE=alpine:3.22\nFROM rust AS builder\nFROM ${RUNTIME_IMAGE}\n",
            Some("alpine:3.22"),
        ),
        (
            "ARG RUNTIME_IMAGE=\"gcr.io/distroless/static\"\nfrom --platform=linux/amd64 $RUNTIME_IMAGE AS runtime\n",
            Some("gcr.io/distroless/static"),
        ),
        ("FROM ${UNDECLARED}\n", None),
        ("RUN true\n", None),
    ];
    for (dockerfile, expected) in cases {
        assert_eq!(
            support::final_base(dockerfile).as_deref(),
            expected,
            "{dockerfile}"
        );
    }
}
