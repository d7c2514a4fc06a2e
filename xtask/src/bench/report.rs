//! The pure half of `cargo xtask bench`: parsing what the engine prints, medians, the issue's
//! targets with their verdicts, and the Markdown report. Nothing here runs a process.

use std::fmt::Write as _;

use anyhow::{Context, bail};

use super::budget::format_size;
use crate::flags::BenchPart;

/// One timed `docker build` and what its image ran.
#[derive(Debug, Clone)]
pub(crate) struct Build {
    pub(crate) seconds: f64,
    /// The crates cargo compiled, from its `Compiling NAME vX.Y.Z` lines.
    pub(crate) compiled: Vec<String>,
    /// What the image's binary printed for `--version`, trimmed (or why it could not run).
    pub(crate) printed: String,
    /// What the real binary prints: `NAME VERSION`.
    pub(crate) expected: String,
    /// Seconds the Dockerfile's `planner` stage took (its steps' `DONE` times), when it ran.
    pub(crate) planner_seconds: Option<f64>,
}

/// The seconds the steps of one stage took in a BuildKit plain log (`#N [stage 2/5] ...` then
/// `#N DONE 1.2s`); `None` when no step of that stage ran (absent, or every step cached).
pub(crate) fn stage_seconds(log: &str, stage: &str) -> Option<f64> {
    let prefix = format!("[{stage} ");
    let steps: Vec<&str> = log
        .lines()
        .filter(|line| line.starts_with('#') && line.contains(&prefix))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    let done: Vec<f64> = log
        .lines()
        .filter_map(|line| {
            let (step, rest) = line.split_once(' ')?;
            let seconds = rest.strip_prefix("DONE ")?.strip_suffix('s')?;
            steps
                .contains(&step)
                .then(|| seconds.parse().ok())
                .flatten()
        })
        .collect();
    (!done.is_empty()).then(|| done.iter().sum())
}

/// The planner's share of a cold build: installing the tool (stage `tool`, which compiles
/// rust-alpine) and planning (stage `recipe`).
pub(crate) fn planner_seconds(log: &str) -> Option<f64> {
    match (stage_seconds(log, "tool"), stage_seconds(log, "recipe")) {
        (None, None) => None,
        (tool, recipe) => Some(tool.unwrap_or(0.0) + recipe.unwrap_or(0.0)),
    }
}

impl Build {
    pub(crate) fn real(&self) -> bool {
        self.printed == self.expected
    }
}

/// One strategy's builds, in the order they ran.
#[derive(Debug, Clone)]
pub(crate) struct StrategyRun {
    pub(crate) cold: Build,
    pub(crate) source: Vec<Build>,
    pub(crate) bump: Vec<Build>,
    /// After adding one small crate, the build cache kept since the cold build.
    pub(crate) add: Vec<Build>,
    /// The same after emptying the cache mounts first (what CI gets); `ours` only.
    pub(crate) add_no_mount: Vec<Build>,
    /// Of the image after the source-only rebuilds.
    pub(crate) image_bytes: u64,
    pub(crate) binary_bytes: u64,
}

/// Incremental rebuild times (seconds) after a source-only change, no Docker involved.
#[derive(Debug, Clone, Default)]
pub(crate) struct Native {
    pub(crate) release: Vec<f64>,
    pub(crate) container: Vec<f64>,
}

/// Wall times (milliseconds) of the allocation workload, per allocator.
#[derive(Debug, Clone, Default)]
pub(crate) struct Alloc {
    pub(crate) jemalloc: Vec<u64>,
    pub(crate) musl: Vec<u64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Machine {
    pub(crate) date: String,
    pub(crate) nproc: String,
    pub(crate) memory: String,
    pub(crate) docker: String,
    pub(crate) builder_image: String,
    pub(crate) builder_id: String,
    pub(crate) rustc: String,
    pub(crate) cargo_chef: String,
}

/// Ours on fresh machines (no layer, no cache mount: `--no-cache` and a cache-mount id of its
/// own per build) with and without a shared sccache.
#[derive(Debug, Clone)]
pub(crate) struct Sccache {
    /// The builder image (with sccache) and where the shared cache is.
    pub(crate) builder: String,
    pub(crate) backend: String,
    /// No SCCACHE_* set: the build as without this feature.
    pub(crate) cold: Build,
    /// sccache with an empty cache: every compile a miss, written to the cache.
    pub(crate) fill: (Build, Option<Stats>),
    /// A fresh machine, the shared cache warm.
    pub(crate) warm: (Build, Option<Stats>),
    /// A fresh machine, the shared cache warm, one dependency added.
    pub(crate) add: (Build, Option<Stats>),
    /// `cargo xtask docker --cache-mounts`, the engine's build cache emptied before each: the
    /// first machine (saves the mounts), a fresh one (restores them), and a fresh one after
    /// one dependency was added.
    pub(crate) mounts_first: Carried,
    pub(crate) mounts_full: Carried,
    pub(crate) mounts_add: Carried,
}

/// One `cargo xtask docker --cache-mounts DIR --json`, from its report.
#[derive(Debug, Clone)]
pub(crate) struct Carried {
    /// `seconds`: the restore and the build, what a fresh machine waits for.
    pub(crate) build: Build,
    pub(crate) restore_seconds: f64,
    /// The mounts it restored (empty: nothing saved yet).
    pub(crate) restored: usize,
    /// After the build, for the next machine (a CI cache uploads it).
    pub(crate) save_seconds: f64,
    pub(crate) saved_bytes: u64,
    pub(crate) stats: Option<Stats>,
}

/// Reads the JSON report of `cargo xtask docker --cache-mounts`, which must be OK. Its smoke
/// test's `version` step proves the binary is the one just built (it compares `--version` with
/// Cargo.toml), so `printed` is that step's detail and `expected` equals it when the step passed.
pub(crate) fn parse_carried(json: &str) -> anyhow::Result<Carried> {
    let report: serde_json::Value =
        serde_json::from_str(json).context("cargo xtask docker printed no JSON report")?;
    if report["ok"] != true {
        bail!("the report is not OK: {}", report["errors"]);
    }
    let mounts = &report["cache_mounts"];
    let number = |value: &serde_json::Value, name: &str| {
        value[name]
            .as_f64()
            .with_context(|| format!("the report has no number {name}"))
    };
    let restore_seconds = number(mounts, "restore_seconds")?;
    let version = report["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|step| step["name"] == "version"))
        .context("the report has no version step")?;
    let printed = version["detail"].as_str().unwrap_or_default().to_owned();
    let cache = &report["compile_cache"];
    Ok(Carried {
        build: Build {
            seconds: restore_seconds + number(&report, "build_seconds")?,
            compiled: report["compiled"]
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|name| name.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            expected: match version["ok"] == true {
                true => printed.clone(),
                false => "the version step's NAME VERSION".to_owned(),
            },
            printed,
            planner_seconds: None,
        },
        restore_seconds,
        restored: mounts["restored"].as_array().map_or(0, Vec::len),
        save_seconds: number(mounts, "save_seconds")?,
        saved_bytes: mounts["saved_bytes"].as_u64().unwrap_or(0),
        stats: cache.is_object().then(|| Stats {
            hits: cache["hits"].as_u64().unwrap_or(0),
            misses: cache["misses"].as_u64().unwrap_or(0),
            not_cacheable: 0,
            backend: cache["backend"].as_str().unwrap_or_default().to_owned(),
        }),
    })
}

pub(crate) use super::sccache::Stats;

/// Everything one `cargo xtask bench` measured; a part that was not selected is absent, a part
/// that failed holds its error.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub(crate) machine: Machine,
    pub(crate) app: String,
    pub(crate) reps: usize,
    pub(crate) command: String,
    pub(crate) ca_bundle_bytes: u64,
    pub(crate) native: Option<Result<Native, String>>,
    pub(crate) strategies: Vec<(BenchPart, Result<StrategyRun, String>)>,
    pub(crate) alloc: Option<Result<Alloc, String>>,
    pub(crate) sccache: Option<Result<Sccache, String>>,
    /// What the generated app holds of rust-alpine's.
    pub(crate) generated: Generated,
}

/// How much of rust-alpine a generated project carries: counted in the rendered app.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Generated {
    /// Non-blank lines before any `#[cfg(test)]` in xtask/ and docker/ (not locks).
    pub(crate) tooling_lines: usize,
    /// Lines of the rendered Dockerfile.
    pub(crate) dockerfile_lines: usize,
}

impl Generated {
    /// Counts them in the rendered project `dir`.
    pub(crate) fn count(dir: &std::path::Path) -> anyhow::Result<Generated> {
        fn walk(dir: &std::path::Path, lines: &mut usize) -> anyhow::Result<()> {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return Ok(());
            };
            for entry in entries {
                let path = entry?.path();
                let name = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .unwrap_or("");
                if path.is_dir() {
                    if name != "target" {
                        walk(&path, lines)?;
                    }
                } else if name != "Cargo.lock" && name != ".gitignore" {
                    let text = std::fs::read_to_string(&path)?;
                    let code = text.split("#[cfg(test)]").next().unwrap_or("");
                    *lines += code.lines().filter(|line| !line.trim().is_empty()).count();
                }
            }
            Ok(())
        }
        let mut tooling_lines = 0;
        walk(&dir.join("xtask"), &mut tooling_lines)?;
        walk(&dir.join("docker"), &mut tooling_lines)?;
        let dockerfile = std::fs::read_to_string(dir.join("Dockerfile"))?;
        Ok(Generated {
            tooling_lines,
            dockerfile_lines: dockerfile.lines().count(),
        })
    }
}

impl Results {
    fn strategy(&self, part: BenchPart) -> Option<&StrategyRun> {
        self.strategies
            .iter()
            .find(|(p, _)| *p == part)
            .and_then(|(_, run)| run.as_ref().ok())
    }
}

pub(crate) fn label(part: BenchPart) -> &'static str {
    match part {
        BenchPart::Native => "native floor",
        BenchPart::Seed => "seed",
        BenchPart::CargoChef => "cargo-chef",
        BenchPart::CargoChefContainer => "cargo-chef, container profile",
        BenchPart::CacheMounts => "cache-mounts",
        BenchPart::CacheMountsContainer => "cache-mounts, container profile",
        BenchPart::Ours => "ours",
        BenchPart::OursRelease => "ours (release profile)",
        BenchPart::Alloc => "allocator",
        BenchPart::Sccache => "sccache on fresh machines",
    }
}

/// The cargo profile each strategy builds: the app's `container` (release without cross-crate
/// LTO, the template's default) or `release` (fat LTO, one codegen unit).
pub(crate) fn profile(part: BenchPart) -> &'static str {
    match part {
        BenchPart::Ours | BenchPart::CargoChefContainer | BenchPart::CacheMountsContainer => {
            "container"
        }
        _ => "release",
    }
}

// ---- parsing ----

/// The `Id` and `Size` of the one image in `docker image inspect` output.
/// The native floor script's `native PROFILE REBUILD MILLISECONDS` lines; other lines (cargo's
/// progress) are skipped.
pub(crate) fn parse_native(output: &str) -> anyhow::Result<Native> {
    let mut native = Native::default();
    for line in output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["native", profile, _, millis] = words[..] else {
            continue;
        };
        let seconds = millis
            .parse::<u64>()
            .with_context(|| format!("bad timing line {line:?}"))? as f64
            / 1000.0;
        match profile {
            "release" => native.release.push(seconds),
            "container" => native.container.push(seconds),
            _ => bail!("unknown profile in timing line {line:?}"),
        }
    }
    if native.release.is_empty() || native.container.is_empty() {
        bail!("the native floor printed no timings for both profiles");
    }
    Ok(native)
}

/// The `elapsed_ms N` the allocation workload prints.
pub(crate) fn parse_alloc(output: &str) -> anyhow::Result<u64> {
    let mut words = output.split_whitespace();
    while let Some(word) = words.next() {
        if word == "elapsed_ms" {
            let value = words.next().unwrap_or_default();
            return value
                .parse()
                .with_context(|| format!("bad elapsed_ms {value:?} in {output:?}"));
        }
    }
    bail!("no elapsed_ms in the workload's output {output:?}")
}

/// The tag of the builder plus cargo-chef: a tag next to the builder's own
/// (`local/rust-musl-builder:1.96-bookworm-cargo-chef-0.1.78`), so it names what it was made from.
pub(crate) fn chef_tag(builder: &str, version: &str) -> String {
    let name = builder.split('@').next().unwrap_or(builder);
    match name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => {
            format!("{repository}:{tag}-cargo-chef-{version}")
        }
        _ => format!("{name}:cargo-chef-{version}"),
    }
}

/// `MemTotal` of /proc/meminfo, as GiB.
pub(crate) fn parse_meminfo(meminfo: &str) -> Option<String> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.1} GiB", kib / 1024.0 / 1024.0))
}

// ---- statistics ----

pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn seconds(builds: &[Build]) -> Vec<f64> {
    builds.iter().map(|build| build.seconds).collect()
}

/// `12.3 (12.1, 12.3, 14.0)`: the median, then every run in order.
fn median_and_all(values: &[f64]) -> String {
    match median(values) {
        None => "-".to_owned(),
        Some(m) if values.len() == 1 => format!("{m:.1}"),
        Some(m) => {
            let all: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
            format!("{m:.1} ({})", all.join(", "))
        }
    }
}

/// The crate counts of each build, once if they agree: `1` or `94, 1, 1`.
fn crate_counts(builds: &[Build]) -> String {
    let counts: Vec<usize> = builds.iter().map(|build| build.compiled.len()).collect();
    match counts.first() {
        None => "-".to_owned(),
        Some(first) if counts.iter().all(|count| count == first) => first.to_string(),
        Some(_) => {
            let all: Vec<String> = counts.iter().map(usize::to_string).collect();
            all.join(", ")
        }
    }
}

fn real_binary(builds: &[Build]) -> &'static str {
    match builds.iter().filter(|build| build.real()).count() {
        0 if !builds.is_empty() => "NO",
        n if n == builds.len() => "yes",
        _ => "NOT ALWAYS",
    }
}

// ---- targets ----

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Met(String),
    Missed(String),
    NotMeasured(String),
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Met(_) => "met",
            Verdict::Missed(_) => "MISSED",
            Verdict::NotMeasured(_) => "not measured",
        }
    }

    /// `**met**, DETAIL`, as the report lists it.
    pub(crate) fn line(&self) -> String {
        format!("**{}**, {}", self.word(), self.detail())
    }

    fn detail(&self) -> &str {
        match self {
            Verdict::Met(detail) | Verdict::Missed(detail) | Verdict::NotMeasured(detail) => detail,
        }
    }
}

fn verdict(met: bool, detail: String) -> Verdict {
    if met {
        Verdict::Met(detail)
    } else {
        Verdict::Missed(detail)
    }
}

/// Source-only rebuild of the default app under `limit` seconds, with its image no larger than
/// `max_ratio` times the smallest (fat-LTO) image.
pub(crate) fn rebuild_target(
    source_median: f64,
    image: u64,
    smallest: Option<u64>,
    limit: f64,
    max_ratio: f64,
) -> Verdict {
    let fast = source_median < limit;
    let time = if fast {
        format!(
            "{source_median:.1} s, {:.1} s under {limit:.0} s",
            limit - source_median
        )
    } else {
        format!(
            "{source_median:.1} s, {:.1} s over {limit:.0} s",
            source_median - limit
        )
    };
    let Some(smallest) = smallest else {
        return Verdict::NotMeasured(format!(
            "{time}; the fat-LTO image was not built (run ours-release too)"
        ));
    };
    let ratio = image as f64 / smallest as f64;
    let small = ratio <= max_ratio;
    verdict(
        fast && small,
        format!(
            "{time}; image {} = {ratio:.3}x the fat-LTO image's {} (limit {max_ratio}x, {})",
            format_size(image),
            format_size(smallest),
            if small { "within" } else { "over" }
        ),
    )
}

/// Cold build no slower than cargo-chef's (with the same profile).
pub(crate) fn cold_target(ours: f64, chef: f64) -> Verdict {
    let difference = ours - chef;
    verdict(
        ours <= chef,
        format!(
            "{ours:.1} s vs cargo-chef's {chef:.1} s: {:.1} s ({:+.0}%) {}",
            difference.abs(),
            difference / chef * 100.0,
            if difference <= 0.0 {
                "faster"
            } else {
                "slower"
            }
        ),
    )
}

/// A source-only rebuild within `max_ratio` times the native floor's (medians, same profile).
pub(crate) fn native_target(source: &[Build], native: &[f64], max_ratio: f64) -> Verdict {
    let (Some(source), Some(native)) = (median(&seconds(source)), median(native)) else {
        return Verdict::NotMeasured("needs source-only rebuilds and the native floor".to_owned());
    };
    let ratio = source / native;
    verdict(
        ratio <= max_ratio,
        format!(
            "{source:.1} s vs the native floor's {native:.1} s: {ratio:.2}x (limit {max_ratio}x)"
        ),
    )
}

/// Adding one small dependency costs at most `max_share` (0.25 = 25%) of the cold build, with
/// the build cache kept (medians); what the same change costs without the cache mount (CI) is
/// given beside it.
pub(crate) fn add_target(
    adds: &[Build],
    cold: &Build,
    no_mount: &[Build],
    max_share: f64,
) -> Verdict {
    let Some(add) = median(&seconds(adds)) else {
        return Verdict::NotMeasured("needs add-one-dependency rebuilds".to_owned());
    };
    let share = add / cold.seconds;
    let ci = match median(&seconds(no_mount)) {
        Some(ci) => format!(
            "without the cache mount (CI, layer cache only): {ci:.1} s, {} crates compiled = {:.0}% of the cold build",
            crate_counts(no_mount),
            ci / cold.seconds * 100.0
        ),
        None => "without the cache mount (CI): not measured".to_owned(),
    };
    verdict(
        share <= max_share,
        format!(
            "{add:.1} s, {} crates compiled = {:.0}% of the cold build's {:.1} s (limit {:.0}%); {ci}",
            crate_counts(adds),
            share * 100.0,
            cold.seconds,
            max_share * 100.0
        ),
    )
}

/// A version bump recompiles no dependency (only `app`) and costs no more than a source-only
/// rebuild (medians; the source-only runs' spread is given to judge the noise).
pub(crate) fn bump_target(bumps: &[Build], sources: &[Build], app: &str) -> Verdict {
    let (Some(bump), Some(source)) = (median(&seconds(bumps)), median(&seconds(sources))) else {
        return Verdict::NotMeasured("needs version bumps and source-only rebuilds".to_owned());
    };
    let mut dependencies: Vec<&str> = bumps
        .iter()
        .flat_map(|build| &build.compiled)
        .map(String::as_str)
        .filter(|name| *name != app)
        .collect();
    dependencies.sort_unstable();
    dependencies.dedup();
    let compiled = if dependencies.is_empty() {
        format!("no dependency recompiled (only {app})")
    } else {
        format!(
            "{} dependencies recompiled ({})",
            dependencies.len(),
            dependencies.join(", ")
        )
    };
    let difference = bump - source;
    let source_times = seconds(sources);
    let spread = source_times.iter().copied().fold(f64::MIN, f64::max)
        - source_times.iter().copied().fold(f64::MAX, f64::min);
    let cost = format!(
        "bump {bump:.1} s vs source-only {source:.1} s: {:.1} s {} (source-only runs spread over {spread:.1} s)",
        difference.abs(),
        if difference <= 0.0 {
            "cheaper or equal"
        } else {
            "dearer"
        }
    );
    verdict(
        dependencies.is_empty() && difference <= 0.0,
        format!("{compiled}; {cost}"),
    )
}

/// The scratch image within `max_over` (0.05 = 5%) of the binary plus the CA bundle.
pub(crate) fn size_target(image: u64, binary: u64, ca_bundle: u64, max_over: f64) -> Verdict {
    let payload = binary + ca_bundle;
    let over = image as f64 / payload as f64 - 1.0;
    verdict(
        over <= max_over,
        format!(
            "image {image} B vs binary {binary} B + CA bundle {ca_bundle} B = {payload} B: {:+.2}% (limit +{:.0}%)",
            over * 100.0,
            max_over * 100.0
        ),
    )
}

/// The issue's targets, each judged on what was measured.
pub(crate) fn targets(results: &Results) -> Vec<(&'static str, Verdict)> {
    let ours = results.strategy(BenchPart::Ours);
    let release = results.strategy(BenchPart::OursRelease);
    let chef = results.strategy(BenchPart::CargoChef);
    let chef_container = results.strategy(BenchPart::CargoChefContainer);
    let native = results
        .native
        .as_ref()
        .and_then(|native| native.as_ref().ok());
    let missing = |what: &str| Verdict::NotMeasured(format!("needs {what} in the run"));
    let cold =
        |ours: Option<&StrategyRun>, chef: Option<&StrategyRun>, what: &str| match (ours, chef) {
            (Some(ours), Some(chef)) => cold_target(ours.cold.seconds, chef.cold.seconds),
            _ => missing(what),
        };
    let floor =
        |ours: Option<&StrategyRun>, native: Option<&Vec<f64>>, what: &str| match (ours, native) {
            (Some(ours), Some(native)) => native_target(&ours.source, native, 1.3),
            _ => missing(what),
        };
    let generated = results.generated;
    let at_most = |value: usize, limit: usize, before: &str| {
        let detail =
            format!("{value} lines (limit {limit}; {before} before the tool became a crate)");
        match value <= limit {
            true => Verdict::Met(detail),
            false => Verdict::Missed(detail),
        }
    };
    vec![
        (
            "non-test lines of rust-alpine code in the generated project (xtask/ and docker/) at most 100",
            at_most(generated.tooling_lines, 100, "4,649"),
        ),
        (
            "rendered Dockerfile (service, scratch) at most 100 lines",
            at_most(generated.dockerfile_lines, 100, "203-238"),
        ),
        (
            "the planner's stages (tool: cargo install rust-alpine; recipe: rust-alpine plan) take at most 20 s of a cold build",
            match ours.map(|ours| ours.cold.planner_seconds) {
                Some(Some(seconds)) if seconds <= 20.0 => Verdict::Met(format!(
                    "{seconds:.1} s, {:.1} s under 20 s",
                    20.0 - seconds
                )),
                Some(Some(seconds)) => Verdict::Missed(format!(
                    "{seconds:.1} s, {:.1} s over 20 s (it runs beside the builder's tool installs: \
                     the two share the cores)",
                    seconds - 20.0
                )),
                Some(None) => missing("the tool and recipe stages in the cold build's log"),
                None => missing("ours"),
            },
        ),
        (
            "source-only rebuild of the default app under 10 s, image no larger than 1.25x the smallest (fat-LTO) image",
            match ours {
                Some(ours) => match median(&seconds(&ours.source)) {
                    Some(source) => rebuild_target(
                        source,
                        ours.image_bytes,
                        release.map(|run| run.image_bytes),
                        10.0,
                        1.25,
                    ),
                    None => missing("source-only rebuilds"),
                },
                None => missing("ours"),
            },
        ),
        (
            "cold build no slower than cargo-chef's, container profile (ours vs cargo-chef-container)",
            cold(ours, chef_container, "ours and cargo-chef-container"),
        ),
        (
            "cold build no slower than cargo-chef's, release profile (ours-release vs cargo-chef)",
            cold(release, chef, "ours-release and cargo-chef"),
        ),
        (
            "source-only rebuild within 1.3x the native floor, container profile",
            floor(
                ours,
                native.map(|native| &native.container),
                "ours and native",
            ),
        ),
        (
            "source-only rebuild within 1.3x the native floor, release profile",
            floor(
                release,
                native.map(|native| &native.release),
                "ours-release and native",
            ),
        ),
        (
            "adding one small dependency costs at most 25% of a cold build (locally, build cache kept; container profile)",
            match ours {
                Some(ours) => add_target(&ours.add, &ours.cold, &ours.add_no_mount, 0.25),
                None => missing("ours"),
            },
        ),
        (
            "a version bump recompiles no dependency and costs no more than a source-only rebuild",
            match ours {
                Some(ours) => bump_target(&ours.bump, &ours.source, &results.app),
                None => missing("ours"),
            },
        ),
        (
            "scratch image within 5% of binary + CA bundle (default profile)",
            match ours {
                Some(ours) => size_target(
                    ours.image_bytes,
                    ours.binary_bytes,
                    results.ca_bundle_bytes,
                    0.05,
                ),
                None => missing("ours"),
            },
        ),
        (
            "scratch image within 5% of binary + CA bundle (release profile)",
            match release {
                Some(release) => size_target(
                    release.image_bytes,
                    release.binary_bytes,
                    results.ca_bundle_bytes,
                    0.05,
                ),
                None => missing("ours-release"),
            },
        ),
    ]
}

// ---- output ----

/// The results table (Markdown, also what the terminal shows).
pub(crate) fn table(results: &Results) -> String {
    let mut out = String::new();
    out.push_str(
        "| strategy | profile | cold s | source-only rebuild s | crates | version bump s | crates | add dependency s | crates | image | binary | real binary (cold / source / bump / add) |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    if let Some(Ok(native)) = &results.native {
        for (profile, times) in [
            ("release", &native.release),
            ("container", &native.container),
        ] {
            let _ = writeln!(
                out,
                "| native floor, no Docker | {profile} | - | {} | - | - | - | - | - | - | - | - |",
                median_and_all(times)
            );
        }
    }
    for (part, run) in &results.strategies {
        let Ok(run) = run else {
            let _ = writeln!(
                out,
                "| {} | {} | failed | | | | | | | | | |",
                label(*part),
                profile(*part)
            );
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} / {} |",
            label(*part),
            profile(*part),
            run.cold.seconds,
            median_and_all(&seconds(&run.source)),
            crate_counts(&run.source),
            median_and_all(&seconds(&run.bump)),
            crate_counts(&run.bump),
            median_and_all(&seconds(&run.add)),
            crate_counts(&run.add),
            format_size(run.image_bytes),
            format_size(run.binary_bytes),
            real_binary(std::slice::from_ref(&run.cold)),
            real_binary(&run.source),
            real_binary(&run.bump),
            real_binary(&run.add),
        );
        if !run.add_no_mount.is_empty() {
            let _ = writeln!(
                out,
                "| {}: add dependency, no cache mount (CI) | {} | - | - | - | - | - | {} | {} | - | - | {} |",
                label(*part),
                profile(*part),
                median_and_all(&seconds(&run.add_no_mount)),
                crate_counts(&run.add_no_mount),
                real_binary(&run.add_no_mount),
            );
        }
    }
    out
}

/// The allocator comparison, if it ran.
pub(crate) fn alloc_table(alloc: &Alloc) -> String {
    let as_seconds =
        |millis: &[u64]| -> Vec<f64> { millis.iter().map(|&ms| ms as f64 / 1000.0).collect() };
    let (jemalloc, musl) = (as_seconds(&alloc.jemalloc), as_seconds(&alloc.musl));
    let mut out = String::from("| allocator | wall s |\n|---|---|\n");
    let _ = writeln!(
        out,
        "| tikv-jemallocator | {} |",
        median_and_all_precise(&jemalloc)
    );
    let _ = writeln!(out, "| musl malloc | {} |", median_and_all_precise(&musl));
    if let (Some(j), Some(m)) = (median(&jemalloc), median(&musl)) {
        let _ = writeln!(out, "\nmusl malloc / jemalloc (medians): {:.2}x", m / j);
    }
    out
}

fn median_and_all_precise(values: &[f64]) -> String {
    let all: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
    match median(values) {
        Some(m) => format!("{m:.2} ({})", all.join(", ")),
        None => "-".to_owned(),
    }
}

/// What each strategy is, and what its builds showed beyond the table.
fn notes(results: &Results) -> String {
    let mut out = String::new();
    for (part, run) in &results.strategies {
        let _ = writeln!(out, "- **{}**: {}", label(*part), description(*part));
        match run {
            Err(error) => {
                let _ = writeln!(out, "  - FAILED: {error}");
            }
            Ok(run) => {
                let builds = std::iter::once(("cold build", &run.cold))
                    .chain(
                        run.source
                            .iter()
                            .map(|build| ("source-only rebuild", build)),
                    )
                    .chain(run.bump.iter().map(|build| ("version bump", build)))
                    .chain(run.add.iter().map(|build| ("added dependency", build)))
                    .chain(
                        run.add_no_mount
                            .iter()
                            .map(|build| ("added dependency without the cache mount", build)),
                    );
                for (what, build) in builds.filter(|(_, build)| !build.real()) {
                    let _ = writeln!(
                        out,
                        "  - after a {what} ({:.1} s, {} crates compiled) the image's binary printed {:?} for --version, not {:?}: it ships {}",
                        build.seconds,
                        build.compiled.len(),
                        build.printed,
                        build.expected,
                        if build.printed.is_empty() {
                            "the dummy `fn main(){}`"
                        } else {
                            "a stale binary"
                        }
                    );
                }
            }
        }
    }
    out
}

fn description(part: BenchPart) -> &'static str {
    match part {
        BenchPart::Seed => {
            "the blog post's Dockerfile as published (xtask/src/bench/seed.Dockerfile): only Cargo.toml copied (no Cargo.lock, no --locked: every dependency build re-resolves), a dummy main, no touch after `COPY ./src`, `cargo build --release`. Adapted only to build here: the builder image is a build argument (no rustup/apt lines), the app's name in the paths, the xtask member's manifest plus a dummy main, no `update-ca-certificates` (it would drop this machine's proxy CA from the builder's bundle and cargo could not reach crates.io), and FROM scratch instead of alpine (alpine cannot be pulled here) with the CA bundle alpine would bring copied in and `COPY --chown` for `RUN chown`. Its CMD points at /usr/app/my_app, where nothing is, so `docker run` of the image as published fails: the bench runs /opt/APP instead. Its dummy-main bug (no touch after `COPY ./src`, so cargo may keep the dummy binary) is masked in this app: the dummy build had no src/lib.rs, so after `COPY ./src` the binary gains a dependency on the new library and cargo rebuilds it whatever the mtimes; an app with only a src/main.rs ships the dummy `fn main(){}` (the cargo-chef README and rust-lang/cargo#2644 report it). With no Cargo.lock copied, it resolves its own dependency versions, and a version bump invalidates the dependency layer: every dependency is resolved and compiled again."
        }
        BenchPart::CargoChef => {
            "cargo-chef's documented planner / `cargo chef cook --target x86_64-unknown-linux-musl --recipe-path recipe.json` / `cargo build --bin APP` pattern (xtask/src/bench/cargo-chef.Dockerfile) with `--profile release` (the README's `--release`), on the builder plus `cargo install cargo-chef --locked` (xtask/src/bench/chef-builder.Dockerfile, built once, tagged so the prunes keep it). cargo-chef masks the package version in its recipe. Adding a dependency changes the recipe, so `cargo chef cook` compiles every dependency again."
        }
        BenchPart::CargoChefContainer => {
            "the same cargo-chef Dockerfile with `--build-arg PROFILE=container`: `cargo chef cook --profile container` and `cargo build --profile container` (the app's Cargo.toml defines the profile), to compare cargo-chef with `ours` like for like."
        }
        BenchPart::CacheMounts => {
            "one `RUN` with the sources bind-mounted and cargo's target directory and registry in BuildKit cache mounts, in the style of `docker init` for Rust (xtask/src/bench/cache-mounts.Dockerfile); `--package APP` and the xtask member mounted, `--profile release`. Every rebuild re-runs that RUN, and cargo's own incremental state does the caching; nothing of it is in a layer, so CI without the mounts builds cold every time."
        }
        BenchPart::CacheMountsContainer => {
            "the same cache-mounts Dockerfile with `--build-arg PROFILE=container`."
        }
        BenchPart::Ours => {
            "the generated project's own Dockerfile, unchanged. A planner stage compiles the project's own xtask (from xtask/ alone) and its `cargo xtask plan` writes a skeleton from `cargo metadata` and the manifests parsed as TOML: every member's manifest and Cargo.lock with the workspace's own versions masked and metadata, lints and descriptive keys removed, other path packages, .cargo/config.toml and vendored sources, and a placeholder for every target. The dependency build compiles that skeleton with cargo's target directory in a BuildKit cache mount (`id=PROJECT-target`) and copies it into the layer; then the sources are copied, touched (so that no placeholder's artifact passes for them) and the binary built. Default profile `container` (release without cross-crate LTO). The cache mount outlives the layer: when a dependency is added, the dependency layer is rebuilt but only the new crate (and what depends on it) compiles, as long as the engine's build cache is not pruned (the bench prunes only between strategies, never between a strategy's builds). The \"add dependency, no cache mount (CI)\" row empties the cache mounts first (`docker builder prune --filter type=exec.cachemount --force`) and keeps the layers: what a CI runner that restores layers but not mounts gets, every dependency compiled again."
        }
        BenchPart::OursRelease => {
            "the same Dockerfile with `--build-arg CARGO_PROFILE=release` (fat LTO, one codegen unit): the smallest image; compare it with cargo-chef and cache-mounts (release) like for like."
        }
        BenchPart::Native | BenchPart::Alloc | BenchPart::Sccache => "",
    }
}

/// The whole BENCHMARKS.md.
/// `hits/(hits+misses)` as a percentage, and the counts.
fn hit_rate(stats: Option<&Stats>) -> String {
    match stats {
        None => "no sccache statistics".to_owned(),
        Some(stats) => match stats.hit_rate() {
            Some(rate) => format!(
                "{:.0}% ({} hits, {} misses)",
                rate * 100.0,
                stats.hits,
                stats.misses
            ),
            None => "no cacheable compile".to_owned(),
        },
    }
}

/// The issue's targets for a shared compile cache: `(target, met, detail)`, for sccache alone
/// and for sccache with the saved cache mounts (`--cache-mounts`, what the workflow uses).
pub(crate) fn sccache_targets(run: &Sccache) -> Vec<(&'static str, Verdict)> {
    let cold = run.cold.seconds;
    let ratio = |build: &Build, limit: f64| {
        let ratio = build.seconds / cold;
        verdict(
            ratio <= limit,
            format!("{ratio:.2}x ({:.1} s against {cold:.1} s)", build.seconds),
        )
    };
    let rate = |stats: Option<&Stats>| {
        verdict(
            stats.and_then(Stats::hit_rate).unwrap_or(0.0) >= 0.8,
            hit_rate(stats),
        )
    };
    vec![
        (
            "sccache alone, fresh machine, warm shared cache: at most 0.35x the cold build",
            ratio(&run.warm.0, 0.35),
        ),
        (
            "sccache alone, fresh machine, warm shared cache: at least 80% of compile requests hits",
            rate(run.warm.1.as_ref()),
        ),
        (
            "sccache alone, fresh machine, one dependency added: at most 0.25x the cold build",
            ratio(&run.add.0, 0.25),
        ),
        (
            "sccache and --cache-mounts, fresh machine: at most 0.35x the cold build",
            ratio(&run.mounts_full.build, 0.35),
        ),
        (
            "sccache and --cache-mounts, fresh machine: at least 80% of compile requests hits",
            rate(run.mounts_full.stats.as_ref()),
        ),
        (
            "sccache and --cache-mounts, fresh machine, one dependency added: at most 0.25x the cold build",
            ratio(&run.mounts_add.build, 0.25),
        ),
    ]
}

/// The section on sccache: every build of the part, its ratio to the cold build, the targets.
pub(crate) fn sccache_section(run: &Sccache) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## A shared compile cache (sccache) on fresh machines
"
    );
    let _ = writeln!(
        out,
        "`cargo xtask bench --only sccache`: ours (profile container) with `SCCACHE_*` set, so that every cargo step of the Dockerfile compiles under sccache, backend {} on this machine's loopback (`--network=host`), builder image {}. Every build is a fresh machine: `--no-cache` (no layer from the engine's cache) and a cache-mount id of its own (an empty target directory), so that the only thing a build can reuse is the shared cache and the builder image (the engine's build cache is not pruned: the same isolation without emptying everyone else's). Ratios are to the cold build without sccache, measured in the same run.
",
        run.backend, run.builder
    );
    let _ = writeln!(
        out,
        "| build | seconds | ratio to cold | crates | sccache hits | real binary |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---|");
    let rows = [
        (
            "cold, no SCCACHE_* set (as without sccache)",
            &run.cold,
            None,
        ),
        (
            "cold, sccache with an empty cache (fills it)",
            &run.fill.0,
            Some(run.fill.1.as_ref()),
        ),
        (
            "fresh machine, warm shared cache",
            &run.warm.0,
            Some(run.warm.1.as_ref()),
        ),
        (
            "fresh machine, warm shared cache, one dependency added",
            &run.add.0,
            Some(run.add.1.as_ref()),
        ),
    ];
    let carried = [
        (
            "first machine, `--cache-mounts` (saves the mounts)",
            &run.mounts_first,
        ),
        (
            "fresh machine, warm shared cache, mounts restored",
            &run.mounts_full,
        ),
        (
            "fresh machine, warm shared cache, mounts restored, one dependency added",
            &run.mounts_add,
        ),
    ];
    let carried_rows = carried
        .iter()
        .map(|(name, carried)| (*name, &carried.build, Some(carried.stats.as_ref())));
    for (name, build, stats) in rows.into_iter().chain(carried_rows) {
        let _ = writeln!(
            out,
            "| {name} | {:.1} | {:.2}x | {} | {} | {} |",
            build.seconds,
            build.seconds / run.cold.seconds,
            build.compiled.len(),
            stats.map_or("-".to_owned(), hit_rate),
            if build.real() { "yes" } else { "NO" }
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "The last three rows are `cargo xtask docker --cache-mounts DIR` with the same sccache, the engine's whole build cache pruned before each (a fresh machine) and DIR kept, as a CI cache (actions/cache) hands it over; their seconds are the restore and the build (the report's `cache_mounts.restore_seconds` and `build_seconds`).\n"
    );
    for (name, carried) in carried {
        let _ = writeln!(
            out,
            "- {name}: restored {} mount(s) in {:.1} s; saved {} in {:.1} s after the build",
            carried.restored,
            carried.restore_seconds,
            format_size(carried.saved_bytes),
            carried.save_seconds
        );
    }
    out.push('\n');
    for (target, verdict) in sccache_targets(run) {
        let _ = writeln!(
            out,
            "- {target}: **{}**, {}",
            verdict.word(),
            verdict.detail()
        );
    }
    out.push('\n');
    out
}

pub(crate) fn markdown(results: &Results) -> String {
    let machine = &results.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks: rebuild speed you can prove\n");
    let _ = writeln!(
        out,
        "Written by `{}` on {} (reproduce with `cargo xtask bench`; the engine needs BuildKit, e.g. `DOCKER=/usr/bin/docker`; every engine log lands in target/bench/). Every strategy builds the same generated app ({}, kind service, runtime scratch, rendered once) with the same builder image, each from a cold engine cache (`docker builder prune --all --force`, its images removed). Times are wall-clock seconds of `docker build`; each change is rebuilt {} time{}: the median, then every run in order. \"crates\" counts cargo's `Compiling` lines in the build's plain log. \"real binary\" means the image's binary printed `{} VERSION` for `--version`, with the version just built.\n",
        results.command,
        machine.date,
        results.app,
        results.reps,
        if results.reps == 1 { "" } else { "s" },
        results.app
    );
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(out, "- CPUs (nproc): {}", machine.nproc);
    let _ = writeln!(out, "- memory: {}", machine.memory);
    let _ = writeln!(out, "- Docker engine: {} (BuildKit)", machine.docker);
    let _ = writeln!(
        out,
        "- builder image: {} ({})",
        machine.builder_image, machine.builder_id
    );
    let _ = writeln!(out, "- rustc in the builder: {}", machine.rustc);
    let _ = writeln!(out, "- cargo-chef: {}", machine.cargo_chef);
    let _ = writeln!(
        out,
        "- CA bundle (the builder's /etc/ssl/certs/ca-certificates.crt): {} B\n",
        results.ca_bundle_bytes
    );
    let _ = writeln!(out, "## Results\n");
    out.push_str(&table(results));
    out.push('\n');
    let _ = writeln!(
        out,
        "Image and binary sizes are those of the image after the source-only rebuilds. Each strategy's changes are applied in this order to its own copy of the project, with the build cache kept from its cold build on. Source-only change: a comment line appended to src/main.rs. Version bump: the patch version in Cargo.toml and the package's Cargo.lock entry. Add dependency: one small crate with no dependencies of its own that the app's Cargo.lock did not have (fastrand, then unicode-width, hex, oorandom, adler2: xtask/src/bench/edit.rs) added to [dependencies] and called from `fn main`, locked on the host with `cargo metadata` (it adds the crate and moves nothing else) so that `--locked` builds pass; its \"crates\" count includes the workspace's own packages, which the dependency layers of ours and cargo-chef compile once more as placeholders. The native floor is the source-only change rebuilt with cargo inside the builder image (`docker run`, warmed by one full build), no image involved: what is left of a rebuild once Docker's share is gone.\n\nProfiles: seed builds `--release` as published, which for this app is fat LTO with one codegen unit. cargo-chef and cache-mounts build with `--profile release` (their documentation's `--release`) and with `--profile container` (the rows marked container profile), so that every strategy has rows with the same profile: compare `ours (release profile)` with the release rows and `ours` (the template's default, `container`: release without cross-crate LTO) with the container rows.\n"
    );
    let _ = writeln!(out, "## Targets\n");
    for (target, verdict) in targets(results) {
        let _ = writeln!(
            out,
            "- {target}: **{}**, {}",
            verdict.word(),
            verdict.detail()
        );
    }
    out.push('\n');
    if !results.strategies.is_empty() {
        let _ = writeln!(out, "## Strategies\n");
        out.push_str(&notes(results));
        out.push('\n');
    }
    match &results.sccache {
        Some(Ok(sccache)) => out.push_str(&sccache_section(sccache)),
        Some(Err(error)) => {
            let _ = writeln!(
                out,
                "## A shared compile cache (sccache)\n\nFAILED: {error}\n"
            );
        }
        None => {}
    }
    match &results.alloc {
        Some(Ok(alloc)) => {
            let _ = writeln!(out, "## Allocator: tikv-jemallocator vs musl's malloc\n");
            let _ = writeln!(
                out,
                "xtask/src/bench/alloc_main.rs: 4 threads each replace random slots of a 4096-slot live set with Vec<u8> (8 B to 32 KiB), Box<[u64; 16]> and String allocations, 4 million times each; release profile, static musl, FROM scratch, run {} time{} per allocator. Wall time as the workload measures it.\n",
                results.reps,
                if results.reps == 1 { "" } else { "s" }
            );
            out.push_str(&alloc_table(alloc));
            out.push('\n');
        }
        Some(Err(error)) => {
            let _ = writeln!(out, "## Allocator\n\nFAILED: {error}\n");
        }
        None => {}
    }
    if let Some(Err(error)) = &results.native {
        let _ = writeln!(out, "## Native floor\n\nFAILED: {error}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(seconds: f64, compiled: &[&str], printed: &str, expected: &str) -> Build {
        Build {
            seconds,
            compiled: compiled.iter().map(|name| (*name).to_owned()).collect(),
            printed: printed.to_owned(),
            expected: expected.to_owned(),
            planner_seconds: None,
        }
    }

    #[test]
    fn a_carried_build_is_read_from_the_xtask_report() {
        let json = r#"{
            "ok": true, "build_seconds": 8.1, "compiled": ["demo", "fastrand", "demo"],
            "compile_cache": {"hits": 2, "misses": 0, "backend": "redis"},
            "cache_mounts": {"dir": "m", "restored": ["a", "b", "c"], "kept": [],
                "restore_seconds": 3.3, "saved": ["a"], "saved_bytes": 467, "save_seconds": 4.4},
            "steps": [{"name": "user", "ok": true, "detail": "x"},
                      {"name": "version", "ok": true, "detail": "demo 0.1.0"}]
        }"#;
        let carried = parse_carried(json).unwrap();
        assert!((carried.build.seconds - 11.4).abs() < 1e-9);
        assert_eq!(carried.build.compiled, ["demo", "fastrand", "demo"]);
        assert!(carried.build.real());
        assert_eq!(carried.restored, 3);
        assert_eq!((carried.saved_bytes, carried.save_seconds), (467, 4.4));
        assert_eq!(carried.stats.unwrap().hits, 2);
        let failed = json.replace(
            r#""name": "version", "ok": true"#,
            r#""name": "version", "ok": false"#,
        );
        assert!(!parse_carried(&failed).unwrap().build.real());
        let error = parse_carried(&json.replace(
            r#""ok": true, "build"#,
            r#""ok": false, "errors": ["size"], "build"#,
        ))
        .unwrap_err();
        assert!(error.to_string().contains("size"), "{error}");
        assert!(parse_carried("error: no engine").is_err());
    }

    #[test]
    fn stage_seconds_add_up_one_stages_done_steps() {
        let log = "#9 [planner 2/3] COPY xtask/src ./src\n#10 [builder 3/9] RUN cargo install\n\
                   #9 DONE 0.1s\n#11 [planner 3/3] RUN cargo build --locked\n#11 DONE 12.4s\n\
                   #10 DONE 30.0s\n";
        assert_eq!(stage_seconds(log, "planner"), Some(12.5));
        assert_eq!(stage_seconds(log, "recipe"), None);
        assert_eq!(
            stage_seconds("#9 [planner 2/3] COPY\n#9 CACHED\n", "planner"),
            None
        );
    }

    #[test]
    fn medians_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median_and_all(&[9.0, 7.0, 8.0]), "8.0 (9.0, 7.0, 8.0)");
        assert_eq!(median_and_all(&[7.25]), "7.2");
    }

    #[test]
    fn reads_native_timings_and_workload_output() {
        let native = parse_native(
            "   Compiling x v0.1.0\nnative release 1 29876\nnative container 1 4012\nnative container 2 3990\n",
        )
        .unwrap();
        assert_eq!(native.release, [29.876]);
        assert_eq!(native.container, [4.012, 3.99]);
        assert!(parse_native("native release 1 100\n").is_err());
        assert_eq!(
            parse_alloc("allocator musl threads 4 elapsed_ms 2171 checksum 1").unwrap(),
            2171
        );
        assert!(parse_alloc("nothing").is_err());
        assert_eq!(
            parse_meminfo("MemTotal:       24576000 kB\nMemFree: 1 kB\n").as_deref(),
            Some("23.4 GiB")
        );
    }

    #[test]
    fn the_chef_builder_is_tagged_next_to_the_builder() {
        assert_eq!(
            chef_tag("local/rust-musl-builder:1.96-bookworm", "0.1.78"),
            "local/rust-musl-builder:1.96-bookworm-cargo-chef-0.1.78"
        );
        assert_eq!(
            chef_tag("registry:5000/rust", "0.1.78"),
            "registry:5000/rust:cargo-chef-0.1.78"
        );
        assert_eq!(
            chef_tag("rust@sha256:abc", "0.1.78"),
            "rust:cargo-chef-0.1.78"
        );
    }

    #[test]
    fn the_rebuild_target_needs_speed_and_size() {
        let verdict = rebuild_target(6.0, 4_000_000, Some(3_600_000), 10.0, 1.25);
        assert_eq!(
            verdict,
            Verdict::Met(
                "6.0 s, 4.0 s under 10 s; image 4.00 MB = 1.111x the fat-LTO image's 3.60 MB (limit 1.25x, within)".to_owned()
            )
        );
        assert!(matches!(
            rebuild_target(12.5, 4_000_000, Some(3_600_000), 10.0, 1.25),
            Verdict::Missed(detail) if detail.starts_with("12.5 s, 2.5 s over 10 s")
        ));
        assert!(matches!(
            rebuild_target(6.0, 5_000_000, Some(3_600_000), 10.0, 1.25),
            Verdict::Missed(detail) if detail.contains("1.389x") && detail.contains("over)")
        ));
        assert!(matches!(
            rebuild_target(6.0, 5_000_000, None, 10.0, 1.25),
            Verdict::NotMeasured(_)
        ));
    }

    #[test]
    fn cold_and_size_targets_say_by_how_much() {
        assert_eq!(
            cold_target(120.0, 150.0),
            Verdict::Met("120.0 s vs cargo-chef's 150.0 s: 30.0 s (-20%) faster".to_owned())
        );
        assert!(
            matches!(cold_target(165.0, 150.0), Verdict::Missed(d) if d.contains("(+10%) slower"))
        );
        assert_eq!(
            size_target(1_040, 800, 200, 0.05),
            Verdict::Met(
                "image 1040 B vs binary 800 B + CA bundle 200 B = 1000 B: +4.00% (limit +5%)"
                    .to_owned()
            )
        );
        assert!(matches!(
            size_target(1_060, 800, 200, 0.05),
            Verdict::Missed(_)
        ));
    }

    #[test]
    fn source_only_is_judged_against_the_native_floor() {
        let sources: Vec<Build> = [6.0, 5.0, 7.0]
            .iter()
            .map(|&s| build(s, &["app"], "", ""))
            .collect();
        assert_eq!(
            native_target(&sources, &[4.0, 5.0, 4.5], 1.3),
            Verdict::Missed("6.0 s vs the native floor's 4.5 s: 1.33x (limit 1.3x)".to_owned())
        );
        assert!(matches!(
            native_target(&sources, &[5.0], 1.3),
            Verdict::Met(d) if d == "6.0 s vs the native floor's 5.0 s: 1.20x (limit 1.3x)"
        ));
        assert!(matches!(
            native_target(&[], &[5.0], 1.3),
            Verdict::NotMeasured(_)
        ));
    }

    #[test]
    fn adding_a_dependency_is_a_share_of_the_cold_build_and_ci_is_told() {
        let cold = build(100.0, &[], "", "");
        let adds: Vec<Build> = [20.0, 24.0, 22.0]
            .iter()
            .map(|&s| build(s, &["fastrand", "app"], "", ""))
            .collect();
        let ci = vec![build(90.0, &["tokio", "libc", "fastrand", "app"], "", "")];
        assert_eq!(
            add_target(&adds, &cold, &ci, 0.25),
            Verdict::Met(
                "22.0 s, 2 crates compiled = 22% of the cold build's 100.0 s (limit 25%); without the cache mount (CI, layer cache only): 90.0 s, 4 crates compiled = 90% of the cold build".to_owned()
            )
        );
        assert!(matches!(
            add_target(&adds[1..2], &cold, &[], 0.2),
            Verdict::Missed(d) if d.starts_with("24.0 s, 2 crates compiled = 24%") && d.ends_with("(CI): not measured")
        ));
        assert!(matches!(
            add_target(&[], &cold, &ci, 0.25),
            Verdict::NotMeasured(_)
        ));
    }

    #[test]
    fn cold_builds_are_compared_with_cargo_chef_of_the_same_profile() {
        let run = |cold: f64, no_mount: bool| StrategyRun {
            cold: build(cold, &[], "", ""),
            source: vec![build(5.0, &["bench-app"], "", "")],
            bump: Vec::new(),
            add: vec![build(cold / 5.0, &["fastrand", "bench-app"], "", "")],
            add_no_mount: if no_mount {
                vec![build(cold, &["tokio", "fastrand", "bench-app"], "", "")]
            } else {
                Vec::new()
            },
            image_bytes: 1,
            binary_bytes: 1,
        };
        let results = Results {
            app: "bench-app".to_owned(),
            reps: 1,
            native: Some(Ok(Native {
                release: vec![20.0],
                container: vec![4.0],
            })),
            strategies: vec![
                (BenchPart::CargoChef, Ok(run(150.0, false))),
                (BenchPart::CargoChefContainer, Ok(run(100.0, false))),
                (BenchPart::Ours, Ok(run(110.0, true))),
                (BenchPart::OursRelease, Ok(run(140.0, false))),
            ],
            ..Results::default()
        };
        let targets = targets(&results);
        let find = |prefix: &str| {
            targets
                .iter()
                .find(|(name, _)| name.starts_with(prefix))
                .map(|(_, verdict)| verdict.clone())
                .unwrap_or_else(|| panic!("no target {prefix}"))
        };
        assert!(matches!(
            find("cold build no slower than cargo-chef's, container"),
            Verdict::Missed(d) if d.starts_with("110.0 s vs cargo-chef's 100.0 s")
        ));
        assert!(matches!(
            find("cold build no slower than cargo-chef's, release"),
            Verdict::Met(d) if d.starts_with("140.0 s vs cargo-chef's 150.0 s")
        ));
        assert!(matches!(
            find("source-only rebuild within 1.3x the native floor, container"),
            Verdict::Met(d) if d.contains("1.25x")
        ));
        assert!(matches!(
            find("source-only rebuild within 1.3x the native floor, release"),
            Verdict::Met(d) if d.contains("0.25x")
        ));
        assert!(matches!(
            find("adding one small dependency"),
            Verdict::Met(d) if d.starts_with("22.0 s, 2 crates compiled = 20%") && d.contains("(CI, layer cache only): 110.0 s, 3 crates")
        ));
        let table = table(&results);
        assert!(
            table.contains("| ours: add dependency, no cache mount (CI) | container | - | - | - | - | - | 110.0 | 3 | - | - | yes |"),
            "{table}"
        );
        assert!(
            table.contains("| cargo-chef, container profile | container | 100.0 |"),
            "{table}"
        );
    }

    #[test]
    fn a_bump_may_compile_only_the_app_and_cost_no_more() {
        let app = "bench-app";
        let bumps = |seconds: &[f64], compiled: &[&str]| -> Vec<Build> {
            seconds
                .iter()
                .map(|&s| build(s, compiled, "", ""))
                .collect()
        };
        let sources = bumps(&[5.3, 5.0, 5.6], &[app]);
        assert_eq!(
            bump_target(&bumps(&[5.1, 5.2, 4.9], &[app]), &sources, app),
            Verdict::Met(
                "no dependency recompiled (only bench-app); bump 5.1 s vs source-only 5.3 s: 0.2 s cheaper or equal (source-only runs spread over 0.6 s)".to_owned()
            )
        );
        assert!(matches!(
            bump_target(&bumps(&[5.6], &[app]), &sources, app),
            Verdict::Missed(d) if d.contains("0.3 s dearer")
        ));
        assert!(matches!(
            bump_target(&bumps(&[130.0], &["tokio", app, "libc"]), &sources, app),
            Verdict::Missed(d) if d.starts_with("2 dependencies recompiled (libc, tokio)")
        ));
        assert!(matches!(
            bump_target(&[], &sources, app),
            Verdict::NotMeasured(_)
        ));
    }

    #[test]
    fn a_dummy_binary_is_called_out() {
        let expected = "bench-app 0.1.0";
        let run = StrategyRun {
            cold: build(138.0, &["tokio", "bench-app"], "", expected),
            source: vec![build(32.0, &["bench-app"], expected, expected)],
            bump: vec![build(130.0, &["tokio", "bench-app"], "", "bench-app 0.1.1")],
            add: vec![build(
                131.0,
                &["fastrand", "tokio", "bench-app"],
                "",
                "bench-app 0.1.1",
            )],
            add_no_mount: Vec::new(),
            image_bytes: 3_500_000,
            binary_bytes: 3_250_000,
        };
        let results = Results {
            app: "bench-app".to_owned(),
            reps: 1,
            strategies: vec![(BenchPart::Seed, Ok(run))],
            ..Results::default()
        };
        let table = table(&results);
        assert!(
            table.contains("| seed | release | 138.0 | 32.0 | 1 | 130.0 | 2 | 131.0 | 3 | 3.50 MB | 3.25 MB | NO / yes / NO / NO |"),
            "{table}"
        );
        assert!(!table.contains("no cache mount"), "{table}");
        let notes = notes(&results);
        assert!(
            notes.contains("after a cold build (138.0 s, 2 crates compiled) the image's binary printed \"\" for --version, not \"bench-app 0.1.0\": it ships the dummy `fn main(){}`"),
            "{notes}"
        );
    }
}
