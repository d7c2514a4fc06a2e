//! Shared helpers: render a project with the pinned engine into a temporary directory outside the
//! repository, run commands in it with readable failures, and keep heavy tests one at a time.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
    sync::{Mutex, MutexGuard, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use xtask::registry::Registry;

/// The template's `kind` choices, as template/cargo-generate.toml declares them.
pub const KINDS: [&str; 2] = ["service", "cli"];
/// The template's `runtime` choices, as template/cargo-generate.toml declares them.
pub const RUNTIMES: [&str; 3] = ["scratch", "alpine", "distroless"];

/// Held by every test that compiles or builds something (use [`heavy`]): on two cores, two
/// such tests at once only make each other slower and their timings meaningless.
pub static HEAVY: Mutex<()> = Mutex::new(());

/// Takes [`HEAVY`], also after a test that held it panicked.
pub fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The repository root (this package is `xtask/render`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The template: `template/` in the repository.
pub fn template_dir() -> PathBuf {
    repo_root().join("template")
}

/// The cargo target directory every rendered project builds into, so that the dependencies
/// compile once for all of them (and survive between runs).
pub fn rendered_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("rendered-target")
}

/// A project rendered into a fresh temporary directory, deleted with everything in it on drop.
pub struct Rendered {
    /// The project's root directory, `<temporary directory>/<name>`.
    pub path: PathBuf,
    /// What the engine printed: it lists every answer and where it came from.
    pub log: String,
    _dir: tempfile::TempDir,
}

/// Renders `kind` x `runtime` as the project `name`, everything else the template's default;
/// panics with the engine's output if the template refuses.
pub fn render(kind: &str, runtime: &str, name: &str) -> Rendered {
    render_with(name, &[("kind", kind), ("runtime", runtime)])
        .unwrap_or_else(|error| panic!("{error}"))
}

/// Renders the project `name` with `--define key=value` for each of `values` (none: the
/// template's defaults), like `cargo generate --path <repo> --name <name> --silent` would.
/// The error is a failure message with the engine's output.
pub fn render_with(name: &str, values: &[(&str, &str)]) -> Result<Rendered, String> {
    render_from(&repo_root(), projects_dir(), name, values)
}

/// [`render_with`] from the template of the checkout `repo` (this one, or a copy of it made
/// into another version), into a new temporary directory below `parent`.
pub fn render_from(
    repo: &Path,
    parent: &Path,
    name: &str,
    values: &[(&str, &str)],
) -> Result<Rendered, String> {
    let dir = tempfile::Builder::new()
        .prefix("rust-alpine-test-")
        .tempdir_in(parent)
        .map_err(|error| format!("creating a temporary directory: {error}"))?;
    // Rendering inside a cargo workspace would add the project to that workspace.
    if dir.path().starts_with(repo_root()) {
        return Err(format!(
            "{} is inside the repository; point TMPDIR elsewhere",
            dir.path().display()
        ));
    }
    let mut command = engine();
    command.args(["generate", "--path"]).arg(repo);
    command
        .args(["--name", name, "--silent", "--vcs", "none", "--destination"])
        .arg(dir.path());
    for (key, value) in values {
        command.args(["--define", &format!("{key}={value}")]);
    }
    let ran = run(&mut command)?;
    let path = dir.path().join(name);
    if !path.is_dir() {
        return Err(format!(
            "the engine succeeded but {} does not exist:\n{}",
            path.display(),
            ran.stdout
        ));
    }
    Ok(Rendered {
        path,
        log: ran.stdout + &ran.stderr,
        _dir: dir,
    })
}

/// The pinned engine (`render`, which is `cargo generate`), with the `$USER` it insists on.
pub fn engine() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_render"));
    command.env("USER", "rust-alpine-test");
    command
}

/// What a command that succeeded printed, and how long it took.
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `command` to completion. The error, when it cannot start or exits non-zero, is a
/// message with the command line, its directory, the exit status, stdout and stderr.
pub fn run(command: &mut Command) -> Result<Ran, String> {
    let started = Instant::now();
    let described = describe(command);
    let output = command
        .output()
        .map_err(|error| format!("cannot run {described}: {error}"))?;
    let ran = Ran {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    };
    if output.status.success() {
        return Ok(ran);
    }
    Err(format!(
        "{described} failed ({}) after {:.1} s\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        ran.elapsed.as_secs_f64(),
        ran.stdout.trim_end(),
        ran.stderr.trim_end()
    ))
}

/// Runs `program args...` in `dir`; see [`run`].
pub fn run_in(dir: &Path, program: &str, args: &[&str]) -> Result<Ran, String> {
    run(Command::new(program).args(args).current_dir(dir))
}

/// Runs `$CARGO args...` in the rendered project `dir`, building into [`rendered_target_dir`].
/// A failure caused by a lock file that no longer matches the template says so first.
pub fn cargo(dir: &Path, args: &[&str]) -> Result<Ran, String> {
    let mut command = cargo_command();
    command
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", rendered_target_dir())
        // Every render is new source: incremental state would only be written, never reused.
        .env("CARGO_INCREMENTAL", "0");
    run(&mut command).map_err(|failure| {
        if failure.contains("checksum for `rust-alpine") {
            format!(
                "template/xtask/Cargo.lock pins another rust-alpine than the crate as packaged \
                 now: run `cargo xtask lock` and commit it\n{failure}"
            )
        } else if failure.contains("--locked was passed") {
            format!(
                "the template's lock file is stale (it no longer satisfies the template's manifests): \
                 run `cargo xtask lock` and commit template/locks/*.lock\n{failure}"
            )
        } else {
            failure
        }
    })
}

/// `$CARGO`, the cargo that runs the tests. In a project under [`projects_dir`] it takes
/// rust-alpine from [`registry`].
pub fn cargo_command() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

/// Where every test project lives (each in a temporary directory of its own): below a
/// `.cargo/config.toml` that points cargo at [`registry`], so they build as a user's project
/// will once this checkout is released. One per test process, left behind (one small file).
pub fn projects_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = env::temp_dir().join(format!("rust-alpine-tests-{}", std::process::id()));
        registry()
            .configure(&dir)
            .unwrap_or_else(|error| panic!("{error:#}"));
        dir
    })
}

/// The registry that stands in for crates.io in every rendered project: rust-alpine packaged
/// from this checkout (`cargo package`), every other crate redirected to crates.io; started
/// once per test process, on loopback (`cargo xtask registry` serves the same by hand).
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("registry");
        let package = xtask::registry::package(&repo_root(), &work)
            .unwrap_or_else(|error| panic!("packaging rust-alpine: {error:#}"));
        Registry::serve(vec![package], 0)
            .unwrap_or_else(|error| panic!("serving the registry: {error:#}"))
    })
}

/// Runs one step of a scenario: prints `[tag] what ok (1.2 s)` on success, panics with
/// `[tag] what failed: <message>` otherwise.
pub fn step<T>(tag: &str, what: &str, f: impl FnOnce() -> Result<T, String>) -> T {
    let started = Instant::now();
    match f() {
        Ok(value) => {
            eprintln!(
                "[{tag}] {what} ok ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
            value
        }
        Err(message) => panic!("[{tag}] {what} failed: {message}"),
    }
}

/// Checks that `project` was rendered for `runtime`: `[workspace.metadata.docker] runtime` in its
/// Cargo.toml (what its `cargo xtask docker` reads) and the base of its Dockerfile's final stage.
pub fn check_runtime_recorded(project: &Path, runtime: &str) -> Result<(), String> {
    let manifest = read(&project.join("Cargo.toml"))?;
    let manifest: toml::Table = manifest
        .parse()
        .map_err(|error| format!("Cargo.toml: {error}"))?;
    let recorded = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("metadata"))
        .and_then(|metadata| metadata.get("docker"))
        .and_then(|docker| docker.get("runtime"))
        .and_then(|runtime| runtime.as_str());
    if recorded != Some(runtime) {
        return Err(format!(
            "Cargo.toml: [workspace.metadata.docker] runtime is {recorded:?}, expected {runtime:?}"
        ));
    }
    let dockerfile = read(&project.join("Dockerfile"))?;
    let base = final_base(&dockerfile).ok_or("Dockerfile: no FROM line")?;
    let expected = match runtime {
        "scratch" => base == "scratch",
        "alpine" => base.starts_with("alpine:") || base.contains("/alpine:"),
        "distroless" => base.contains("/distroless/"),
        _ => false,
    };
    if !expected {
        return Err(format!(
            "Dockerfile: the final stage is FROM {base}, not a {runtime} image"
        ));
    }
    Ok(())
}

/// The base image of a Dockerfile's last stage, with `${ARG}` resolved from the ARG's default.
pub fn final_base(dockerfile: &str) -> Option<String> {
    let line = dockerfile.lines().map(str::trim).rfind(|line| {
        line.get(..5)
            .is_some_and(|from| from.eq_ignore_ascii_case("FROM "))
    })?;
    let image = line
        .split_whitespace()
        .find(|word| !word.starts_with("--") && !word.eq_ignore_ascii_case("FROM"))?;
    let Some(arg) = image
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .or(image.strip_prefix('$'))
    else {
        return Some(image.to_owned());
    };
    let declaration = format!("{arg}=");
    dockerfile
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ARG "))
        .find_map(|rest| rest.trim().strip_prefix(&declaration))
        .map(|default| default.trim_matches('"').to_owned())
}

/// Reads a text file, with the path in the error.
pub fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|error| format!("reading {}: {error}", path.display()))
}

fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    match command.get_current_dir() {
        Some(dir) => format!("`{line}` in {}", dir.display()),
        None => format!("`{line}`"),
    }
}
