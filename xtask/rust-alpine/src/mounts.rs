//! `--cache-mounts DIR`: the Dockerfile's cache mounts (every cargo target directory of the
//! build) carried between machines as files, for a CI cache to keep (actions/cache).
//!
//! A BuildKit cache mount never leaves the engine that holds it, and a fresh CI runner starts
//! with none: one added dependency then recompiles every crate (sccache serves the compiles,
//! but build scripts run again and binaries link again). Before the build, each mount that is
//! empty on this engine is filled from DIR/<id>.tar; after it, each mount that is not empty is
//! written back to DIR. Both are builds of a one-step Dockerfile of our own that mounts the
//! same cache ids, the only way into a cache mount. Docker's BuildKit only: the save exports
//! through `--output`.

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};

use crate::{
    engine::{Engine, Flavor},
    report::Mounts,
};

/// What the helper steps print, one line per mount: `rust-alpine-mount: <status> <id>`. The
/// scripts build it with printf, so that the step's own command line (also in the log) never
/// contains it.
const MARK: &str = "rust-alpine-mount: ";

/// The cache ids of the Dockerfile's `RUN --mount=type=cache` options, in order, once each
/// (an id that names a build argument cannot be mounted from outside, and is left out).
pub fn cache_ids(dockerfile: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for option in dockerfile
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("--mount="))
    {
        let fields: Vec<(&str, &str)> = option
            .split(',')
            .filter_map(|field| field.split_once('='))
            .collect();
        let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        if field("type") != Some("cache") {
            continue;
        }
        // Without an id, BuildKit keys the mount by its target.
        let Some(id) = field("id").or_else(|| field("target")) else {
            continue;
        };
        if !id.contains('$') && !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    ids
}

/// The Dockerfile's default builder image (`ARG BUILDER_IMAGE=...`).
pub fn default_builder(dockerfile: &str) -> Option<String> {
    dockerfile.lines().find_map(|line| {
        let value = line.trim().strip_prefix("ARG BUILDER_IMAGE=")?.trim();
        (!value.is_empty()).then(|| value.trim_matches('"').to_owned())
    })
}

/// The file in DIR that holds the mount `id`.
fn file_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || "._-".contains(c) {
            true => c,
            false => '_',
        })
        .collect();
    format!("{safe}.tar")
}

/// `RUN --mount=...` of every id, mount `n` at /mounts/n.
fn mount_options(ids: &[String]) -> String {
    ids.iter()
        .enumerate()
        .map(|(n, id)| {
            format!("--mount=type=cache,id={id},target=/mounts/{n},sharing=locked \\\n    ")
        })
        .collect()
}

/// A line of the step's output for the log: `printf` of the mark, split so that the command
/// line itself never matches.
const SAY: &str = r#"say() { printf '%s-mount: %s %s\n' rust-alpine "$1" "$2"; }"#;

/// `restore ID FILE N`: mount N, when empty, gets FILE of the context, if there is one.
const RESTORE: &str = r#"restore() { if [ ! -f "/saved/$2" ]; then say none "$1"; elif [ -n "$(ls -A "/mounts/$3")" ]; then say kept "$1"; else tar -xf "/saved/$2" -C "/mounts/$3" && say restored "$1"; fi; }"#;

/// `save ID FILE N`: mount N, unless empty, as /saved/FILE.
const SAVE: &str = r#"save() { if [ -z "$(ls -A "/mounts/$3")" ]; then say empty "$1"; else tar -cf "/saved/$2" -C "/mounts/$3" . && say saved "$1"; fi; }"#;

/// The one step of both: `function` called for every mount. `nonce` keeps the step out of the
/// layer cache (it must run every time); the text never holds two braces in a row, which
/// cargo-generate would take for its own.
fn step(builder: &str, ids: &[String], first: &str, function: &str, nonce: u128) -> String {
    let name = &function[..function.find('(').unwrap_or(0)];
    let calls: String = ids
        .iter()
        .enumerate()
        .map(|(n, id)| format!(" && {name} {id} {} {n}", file_name(id)))
        .collect();
    format!(
        "FROM {builder}\nRUN {mounts}{first}{SAY} \\\n && {function} \\\n && : {name} {nonce}{calls}\n",
        mounts = mount_options(ids),
    )
}

/// The restore step: every mount that is empty gets its file from the context (bound at
/// /saved), if it has one.
fn restore_dockerfile(builder: &str, ids: &[String], nonce: u128) -> String {
    step(
        builder,
        ids,
        "--mount=type=bind,target=/saved \\\n    ",
        RESTORE,
        nonce,
    )
}

/// The save step: every mount that is not empty, as a tar in /saved, the only content of the
/// final stage (exported with `--output`).
fn save_dockerfile(builder: &str, ids: &[String], nonce: u128) -> String {
    let step = step(builder, ids, "mkdir /saved && ", SAVE, nonce);
    let step = step.replacen("\n", " AS save\n", 1);
    format!("{step}FROM scratch\nCOPY --from=save /saved /\n")
}

/// `(status, id)` of each mark in the log, for the ids asked about.
fn marks<'a>(log: &'a [String], ids: &[String]) -> Vec<(&'a str, &'a str)> {
    log.iter()
        .filter_map(|line| {
            let (status, id) = line.split_once(MARK)?.1.trim().split_once(' ')?;
            ids.iter().any(|known| known == id).then_some((status, id))
        })
        .collect()
}

fn nonce() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |time| time.as_nanos())
}

/// `--cache-mounts DIR`, absolute; refused inside the build context (`root`) but for target/
/// (which .dockerignore leaves out). Checked before the engine is asked anything.
pub fn checked_dir(dir: &Path, root: &Path) -> anyhow::Result<PathBuf> {
    let dir = std::path::absolute(dir)?;
    // Compared through symlinks (cargo gives the root's real path): the deepest part of DIR
    // that exists, resolved, and the rest as it is.
    let real = dir
        .ancestors()
        .find_map(|known| {
            let rest = dir.strip_prefix(known).ok()?;
            Some(known.canonicalize().ok()?.join(rest))
        })
        .unwrap_or_else(|| dir.clone());
    if real.starts_with(root) && !real.starts_with(root.join("target")) {
        bail!(
            "--cache-mounts: the directory must lie outside the build context (this project), \
             which every build sends to the engine and `COPY . .` copies, or under target/: \
             {} (CI: $RUNNER_TEMP/cache-mounts)",
            dir.display()
        );
    }
    Ok(dir)
}

/// `--cache-mounts DIR`: where, which mounts, and what the restore and save steps build with.
pub struct Carry {
    dir: PathBuf,
    ids: Vec<String>,
    builder: String,
    /// The build's `--builder` flags: the steps must reach the mounts of the builder the build
    /// uses (a buildx builder by name; `BUILDX_BUILDER` they inherit).
    args: Vec<String>,
}

impl Carry {
    /// Checked before any build: the engine can do it, the Dockerfile has mounts, and a builder
    /// image is known (`builder_image`, else the Dockerfile's default).
    pub fn new(
        engine: &Engine,
        dockerfile: &str,
        dir: PathBuf,
        builder_image: Option<&str>,
        build_flags: &[String],
    ) -> anyhow::Result<Carry> {
        if engine.flavor == Flavor::Podman {
            bail!(
                "--cache-mounts needs Docker's BuildKit (it exports the mounts with `build \
                 --output`); podman keeps its cache mounts on the host: drop --cache-mounts there"
            );
        }
        let ids = cache_ids(dockerfile);
        if ids.is_empty() {
            bail!(
                "--cache-mounts: the Dockerfile has no `RUN --mount=type=cache` with a fixed id, \
                 so there is nothing to carry"
            );
        }
        let builder = builder_image
            .map(str::to_owned)
            .or_else(|| default_builder(dockerfile))
            .context(
                "--cache-mounts: the Dockerfile names no default BUILDER_IMAGE: pass \
                 --builder-image",
            )?;
        let mut args = Vec::new();
        let mut flags = build_flags.iter();
        while let Some(flag) = flags.next() {
            if flag == "--builder" {
                args.push(flag.clone());
                args.extend(flags.next().cloned());
            } else if flag.starts_with("--builder=") {
                args.push(flag.clone());
            }
        }
        Ok(Carry {
            dir,
            ids,
            builder,
            args,
        })
    }

    /// Fills each mount that is empty on this engine from DIR, before the build. A restore
    /// that fails leaves the build cold, not failed: the outcome then restored nothing, and the
    /// warning to report comes beside it.
    pub fn restore(&self, engine: &Engine) -> (Mounts, Option<String>) {
        let started = Instant::now();
        let mut mounts = Mounts {
            dir: self.dir.display().to_string(),
            ..Mounts::default()
        };
        let mut warning = None;
        if self
            .ids
            .iter()
            .any(|id| self.dir.join(file_name(id)).is_file())
        {
            let text = restore_dockerfile(&self.builder, &self.ids, nonce());
            match engine.build_text(&text, &self.dir, &self.args) {
                Ok(log) => {
                    for (status, id) in marks(&log, &self.ids) {
                        match status {
                            "restored" => mounts.restored.push(id.to_owned()),
                            "kept" => mounts.kept.push(id.to_owned()),
                            _ => {}
                        }
                    }
                }
                Err(error) => {
                    warning = Some(format!(
                        "cache mounts: restoring them from {} (a damaged file? delete it and \
                         build again: the build then starts cold): {error:#}",
                        self.dir.display()
                    ))
                }
            }
        }
        mounts.restore_seconds = started.elapsed().as_secs_f64();
        (mounts, warning)
    }

    /// Writes each mount that is not empty to DIR (replacing its file there), after the build.
    pub fn save(&self, engine: &Engine, mounts: &mut Mounts) -> anyhow::Result<()> {
        let (dir, ids) = (&self.dir, &self.ids);
        let started = Instant::now();
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // The export lands beside the files it replaces (same file system: each is renamed in).
        let out = dir.join(format!(".saving-{}", std::process::id()));
        let context = dir.join(format!(".context-{}", std::process::id()));
        fs::create_dir_all(&context)?;
        let mut args = self.args.clone();
        args.push(format!("--output=type=local,dest={}", out.display()));
        let text = save_dockerfile(&self.builder, ids, nonce());
        let result = engine.build_text(&text, &context, &args);
        let _ = fs::remove_dir(&context);
        let outcome = (|| {
            let log = result?;
            for (status, id) in marks(&log, ids) {
                if status != "saved" {
                    continue;
                }
                let name = file_name(id);
                let file = out.join(&name);
                mounts.saved_bytes += fs::metadata(&file)
                    .with_context(|| format!("the export has no {name}"))?
                    .len();
                fs::rename(&file, dir.join(&name))
                    .with_context(|| format!("moving {name} into {}", dir.display()))?;
                mounts.saved.push(id.to_owned());
            }
            anyhow::Ok(())
        })();
        let _ = fs::remove_dir_all(&out);
        mounts.save_seconds = started.elapsed().as_secs_f64();
        outcome.with_context(|| format!("saving the cache mounts to {}", dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERFILE: &str = "\
ARG BUILDER_IMAGE=rust:1.96-bookworm
FROM ${BUILDER_IMAGE} AS planner
RUN --mount=type=cache,id=app-planner,target=/xtask/target,sharing=locked \\
    --mount=type=secret,id=sccache \\
    cargo build
RUN --mount=type=cache,target=/usr/local/cargo/registry cargo fetch
RUN --mount=type=cache,id=app-target,target=/cache/target,sharing=locked cargo build
RUN --mount=type=cache,id=app-target,target=/cache/target cargo test
RUN --mount=type=cache,id=$ARCH-x,target=/x true
RUN --mount=type=bind,target=/src true
";

    #[test]
    fn every_fixed_cache_id_once_in_order() {
        assert_eq!(
            cache_ids(DOCKERFILE),
            ["app-planner", "/usr/local/cargo/registry", "app-target"]
        );
        assert_eq!(
            default_builder(DOCKERFILE).as_deref(),
            Some("rust:1.96-bookworm")
        );
        assert_eq!(default_builder("FROM scratch\n"), None);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name("app-target"), "app-target.tar");
        assert_eq!(
            file_name("/usr/local/cargo/registry"),
            "_usr_local_cargo_registry.tar"
        );
    }

    #[test]
    fn the_steps_mount_every_id_and_never_match_their_own_command_line() {
        let ids = vec!["app-planner".to_owned(), "app-target".to_owned()];
        for text in [
            restore_dockerfile("b:1", &ids, 7),
            save_dockerfile("b:1", &ids, 7),
        ] {
            assert!(text.starts_with("FROM b:1"), "{text}");
            assert!(text.contains("--mount=type=cache,id=app-planner,target=/mounts/0,"));
            assert!(text.contains("--mount=type=cache,id=app-target,target=/mounts/1,"));
            assert!(text.contains(" 7 && "), "the nonce: {text}");
            assert!(!text.contains(MARK), "{text}");
            // The command line, as the plain log shows it, yields no mark.
            let log: Vec<String> = text.lines().map(|line| format!("#5 {line}")).collect();
            assert!(marks(&log, &ids).is_empty(), "{text}");
        }
        assert!(save_dockerfile("b:1", &ids, 7).ends_with("COPY --from=save /saved /\n"));
    }

    #[test]
    fn marks_are_read_for_known_ids_only() {
        let ids = vec!["app-planner".to_owned(), "app-target".to_owned()];
        let log: Vec<String> = [
            "#5 0.31 rust-alpine-mount: restored app-target",
            "#5 0.32 rust-alpine-mount: kept app-planner",
            "#5 0.33 rust-alpine-mount: restored other",
            "#5 0.34 unrelated",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            marks(&log, &ids),
            [("restored", "app-target"), ("kept", "app-planner")]
        );
    }
}
