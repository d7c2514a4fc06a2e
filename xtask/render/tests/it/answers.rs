//! Answers: what the template accepts, what it refuses with a message stating the rule, and that
//! a refused render through `cargo xtask render` leaves nothing behind.

use std::{env, fs, path::Path, process::Command};

use crate::support::{self, KINDS, RUNTIMES, engine, read, render_with, repo_root, run};

/// The rule the template's validate hook states for every malformed project name.
const NAME_RULE: &str = "it must start with a lowercase letter, contain only lowercase letters, digits, '-' and '_', not end with '-' or '_', and be at most 48 characters long";

/// Refusals through `cargo xtask render --kind service --runtime alpine --name ok <ROW ARGS> DEST`
/// (later flags win). Names are refused by the template's own hook, so these are the engine's
/// messages; kind, runtime and port by the xtask, because the engine's refusal of those does not
/// state the rule (see `engine_refusals` below).
fn refusals() -> Vec<(Vec<String>, String)> {
    let long = "a".repeat(49);
    let name = |name: &str| {
        (
            vec!["--name".to_owned(), name.to_owned()],
            format!("invalid project name \"{name}\": {NAME_RULE}"),
        )
    };
    let flag = |flag: &str, value: &str, message: &str| {
        (vec![flag.to_owned(), value.to_owned()], message.to_owned())
    };
    vec![
        name("1bad"),
        name("Bad!"),
        name("my--app"),
        name("app-"),
        name(&long),
        flag(
            "--name",
            "fn",
            "invalid project name \"fn\": it is reserved (a Rust keyword or a crate this template already uses); pick another name",
        ),
        flag(
            "--name",
            "tokio",
            "invalid project name \"tokio\": a crate of that name is already in this template's dependency tree, and Cargo could not tell the two apart; pick another name",
        ),
        flag(
            "--name",
            "http",
            "invalid project name \"http\": a crate of that name is already in this template's dependency tree",
        ),
        flag(
            "--port",
            "0",
            "invalid --port \"0\": a port is a number from 1 to 65535",
        ),
        flag(
            "--port",
            "70000",
            "invalid --port \"70000\": a port is a number from 1 to 65535",
        ),
        flag(
            "--port",
            "http",
            "invalid --port \"http\": a port is a number from 1 to 65535",
        ),
        flag(
            "--runtime",
            "ubuntu",
            "invalid --runtime \"ubuntu\": choose scratch, alpine or distroless",
        ),
        flag(
            "--kind",
            "lib",
            "invalid --kind \"lib\": choose service or cli",
        ),
    ]
}

#[test]
fn bad_answers_are_refused_with_the_rule_and_leave_nothing_behind() {
    let mut failures = Vec::new();
    for (args, expected) in refusals() {
        let parent = tempfile::tempdir().unwrap();
        let mut command_args = vec!["--kind", "service", "--runtime", "alpine", "--name", "ok"];
        command_args.extend(args.iter().map(String::as_str));
        let dest = parent.path().join("project");
        let output = xtask_render(&command_args, &dest);
        let printed = format!("{}{}", output.stdout, output.stderr);
        if output.success {
            failures.push(format!("{args:?}: accepted"));
        } else if !printed.contains(&expected) {
            failures.push(format!(
                "{args:?}: the message lacks {expected:?}; it printed:\n{printed}"
            ));
        }
        let left: Vec<_> = fs::read_dir(parent.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        if !left.is_empty() {
            failures.push(format!("{args:?}: left {left:?} behind"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What cargo-generate itself does with the same answers (`cargo generate --silent`): the names
/// the hook sees are refused with the rule, but the engine first renames some names without
/// asking, and its own refusals of kind, runtime and port do not state the rule.
#[test]
fn engine_refusals() {
    enum Outcome {
        Refused(&'static str),
        Renamed(&'static str),
    }
    use Outcome::{Refused, Renamed};
    let cases: &[(&str, &[&str], Outcome)] = &[
        (
            "1bad",
            &[],
            Refused("invalid project name \"1bad\": it must start with a lowercase letter"),
        ),
        (
            "fn",
            &[],
            Refused("invalid project name \"fn\": it is reserved"),
        ),
        (
            "bytes",
            &["kind=cli"],
            Refused(
                "invalid project name \"bytes\": a crate of that name is already in this template's dependency tree",
            ),
        ),
        ("Bad!", &[], Renamed("bad")),
        ("my--app", &[], Renamed("my-app")),
        ("app-", &[], Renamed("app")),
        (
            "demo",
            &["port=0"],
            Refused("Sorry, \"0\" is not a valid value for port"),
        ),
        (
            "demo",
            &["port=70000"],
            Refused("Sorry, \"70000\" is not a valid value for port"),
        ),
        (
            "demo",
            &["port=http"],
            Refused("Sorry, \"http\" is not a valid value for port"),
        ),
        (
            "demo",
            &["runtime=ubuntu"],
            Refused("Sorry, \"ubuntu\" is not a valid value for runtime"),
        ),
        (
            "demo",
            &["kind=lib"],
            Refused("Sorry, \"lib\" is not a valid value for kind"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, defines, outcome) in cases {
        let parent = tempfile::tempdir().unwrap();
        let mut command = engine();
        command.args(["generate", "--path"]).arg(repo_root());
        command
            .args(["--name", name, "--silent", "--vcs", "none", "--destination"])
            .arg(parent.path());
        for define in *defines {
            command.args(["--define", define]);
        }
        let result = run(&mut command);
        match (outcome, result) {
            (Refused(expected), Err(message)) if message.contains(expected) => {}
            (Refused(expected), other) => failures.push(format!(
                "{name} {defines:?}: expected a refusal with {expected:?}, got {:?}",
                other.map(|ran| ran.stdout + &ran.stderr)
            )),
            (Renamed(renamed), Err(message)) => failures.push(format!(
                "{name}: expected a rename to {renamed}, got {message}"
            )),
            (Renamed(renamed), Ok(ran)) => {
                let warning = format!("Renaming project called `{name}` to `{renamed}`");
                let printed = ran.stdout + &ran.stderr;
                if !printed.contains(&warning) || !parent.path().join(renamed).is_dir() {
                    failures.push(format!(
                        "{name}: expected {warning:?} and a directory {renamed}; it printed:\n{printed}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `cargo xtask render` accepts exactly the template's choices, and its port rule is the template's
/// regex: both take and refuse the same ports.
#[test]
fn xtask_render_agrees_with_the_template() {
    let mut failures = Vec::new();
    let mut check = |args: &[&str], engine_values: &[(&str, &str)]| {
        let parent = tempfile::tempdir().unwrap();
        let xtask = xtask_render(args, &parent.path().join("demo")).success;
        let engine = render_with("demo", engine_values).is_ok();
        if xtask != engine {
            failures.push(format!(
                "{args:?}: cargo xtask render {} it, the template {} it",
                verb(xtask),
                verb(engine)
            ));
        }
    };
    for kind in KINDS {
        for runtime in RUNTIMES {
            check(
                &["--kind", kind, "--runtime", runtime],
                &[("kind", kind), ("runtime", runtime)],
            );
        }
    }
    for port in [
        "1", "80", "8080", "65535", "0", "65536", "70000", "08080", "+80", "-1", "http", "",
    ] {
        let values = [("kind", "service"), ("runtime", "scratch"), ("port", port)];
        check(
            &["--kind", "service", "--runtime", "scratch", "--port", port],
            &values,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `cargo generate --silent` with nothing but a name: the defaults are kind=service,
/// runtime=scratch, port 8080.
#[test]
fn silent_render_uses_the_defaults() {
    let project = render_with("demo", &[]).unwrap();
    let mut failures = Vec::new();
    for line in [
        "kind: \"service\" (default value from template)",
        "runtime: \"scratch\" (default value from template)",
        "port: \"8080\" (default value from template)",
    ] {
        if !project.log.contains(line) {
            failures.push(format!("the engine did not print {line:?}"));
        }
    }
    let dir = &project.path;
    if !dir.join("src/serve.rs").is_file() || dir.join("src/fetch.rs").exists() {
        failures.push("the files are not those of kind service".to_owned());
    }
    match read(&dir.join("src/serve.rs")) {
        Ok(serve) if serve.contains("pub const DEFAULT_PORT: u16 = 8080;") => {}
        other => failures.push(format!(
            "src/serve.rs does not default to port 8080: {other:?}"
        )),
    }
    if let Err(message) = support::check_runtime_recorded(dir, "scratch") {
        failures.push(message);
    }
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        project.log
    );
}

struct Rendering {
    success: bool,
    stdout: String,
    stderr: String,
}

/// `cargo xtask render ARGS DEST`, with the engine this test binary was built with.
fn xtask_render(args: &[&str], dest: &Path) -> Rendering {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command
        .args([
            "run",
            "--quiet",
            "--locked",
            "--package",
            "xtask",
            "--",
            "render",
        ])
        .args(args)
        .arg(dest)
        .current_dir(repo_root())
        .env("RUST_ALPINE_ENGINE", env!("CARGO_BIN_EXE_render"))
        .env("USER", "rust-alpine-test")
        .env_remove("RUST_BACKTRACE");
    match run(&mut command) {
        Ok(ran) => Rendering {
            success: true,
            stdout: ran.stdout,
            stderr: ran.stderr,
        },
        Err(message) => Rendering {
            success: false,
            stdout: String::new(),
            stderr: message,
        },
    }
}

fn verb(accepted: bool) -> &'static str {
    if accepted { "accepts" } else { "refuses" }
}
