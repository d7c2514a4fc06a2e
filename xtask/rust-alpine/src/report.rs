//! The outcome of `cargo xtask docker`: a short summary for people, or JSON for CI.

use std::{fmt::Write, time::Instant};

use serde_json::{Value, json};

use crate::{budget::format_size, sccache};

/// `--cache-mounts DIR` (the `mounts` module): the build's cache mounts restored from DIR
/// before it and saved to DIR after it, by cache id.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    pub dir: String,
    pub restored: Vec<String>,
    /// Not empty on this engine already, so left as they were.
    pub kept: Vec<String>,
    pub restore_seconds: f64,
    /// Empty mounts are not saved: the file DIR has for them (if any) stays.
    pub saved: Vec<String>,
    pub saved_bytes: u64,
    pub save_seconds: f64,
}

impl Mounts {
    pub fn summary(&self) -> String {
        let restored = match (self.restored.len(), self.kept.len()) {
            (0, 0) => "nothing to restore".to_owned(),
            (restored, 0) => format!("restored {restored}"),
            (restored, kept) => format!("restored {restored}, kept {kept} (not empty here)"),
        };
        format!(
            "{restored} from {} ({:.1} s); saved {}, {} ({:.1} s)",
            self.dir,
            self.restore_seconds,
            self.saved.len(),
            format_size(self.saved_bytes),
            self.save_seconds
        )
    }
}

#[derive(Debug)]
pub struct Report {
    pub ok: bool,
    pub image: String,
    pub image_id: String,
    pub engine: String,
    pub runtime: String,
    /// The cargo binary the image ships (`bin` in `[workspace.metadata.docker]`).
    pub bin: String,
    /// "service" when the image has a HEALTHCHECK, else "cli".
    pub kind: String,
    /// `linux/amd64`, `linux/arm64`: the image's platform.
    pub platform: String,
    /// The smoke test ran under emulation (qemu-user): the platform is not this host's.
    pub emulated: bool,
    /// The cargo profile the image was built with.
    pub profile: String,
    pub build_seconds: f64,
    /// The crates cargo compiled in this build (none when every layer came from the cache).
    pub compiled: Vec<String>,
    /// What sccache did (`None`: no SCCACHE_* set, or no step compiled).
    pub compile_cache: Option<sccache::Stats>,
    /// `--cache-mounts`: what was restored before the build and saved after it.
    pub cache_mounts: Option<Mounts>,
    pub image_bytes: u64,
    pub budget_bytes: u64,
    /// False when the size was not judged (`--profile dev` or `test` without `--budget`).
    pub budget_checked: bool,
    pub binary_bytes: Option<u64>,
    /// The crates the binary's embedded dependency list (cargo-auditable) names.
    pub sbom_crates: Option<usize>,
    /// What else the image ships (other binaries, `include`, zoneinfo): path and size.
    pub shipped: Vec<(String, u64)>,
    pub steps: Vec<Check>,
    /// `--check-cache`: rebuilds of a changed copy of the context.
    pub cache_checks: Vec<Check>,
    /// Only filled when the image is over budget.
    pub largest_layers: Vec<Layer>,
    /// What deserves a look but fails nothing (a collapsed compile-cache hit rate).
    pub warnings: Vec<String>,
    /// Every failure, each saying what to do about it.
    pub errors: Vec<String>,
}

/// One check, reported the same way wherever it comes from: a smoke-test step (`version`,
/// `stop`, ...) or a `--check-cache` rebuild (`touch`, `source`, `version bump`).
#[derive(Debug)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What was found, or what is wrong and how to fix it.
    pub detail: String,
    pub seconds: f64,
    /// Rebuilds only: the crates cargo compiled, from the engine's plain progress log.
    pub compiled: Option<Vec<String>>,
}

impl Check {
    /// Runs `f` as the check `name`, timing it; its `Ok` text or its error is the detail.
    pub fn timed(name: &str, f: impl FnOnce() -> anyhow::Result<String>) -> Check {
        let started = Instant::now();
        let result = f();
        Check {
            name: name.to_owned(),
            ok: result.is_ok(),
            detail: match result {
                Ok(detail) => detail,
                Err(error) => format!("{error:#}"),
            },
            seconds: started.elapsed().as_secs_f64(),
            compiled: None,
        }
    }
}

#[derive(Debug)]
pub struct Layer {
    pub bytes: u64,
    pub created_by: String,
}

impl Report {
    /// `--json`: every field (keys in alphabetical order); a cache check names its change
    /// under `change`.
    pub fn json(&self) -> Value {
        let step = |step: &Check| {
            json!({
                "name": step.name,
                "ok": step.ok,
                "detail": step.detail,
                "seconds": step.seconds,
            })
        };
        let cache_check = |check: &Check| {
            json!({
                "change": check.name,
                "ok": check.ok,
                "seconds": check.seconds,
                "compiled": check.compiled.as_deref().unwrap_or_default(),
                "detail": check.detail,
            })
        };
        let layer = |layer: &Layer| json!({"bytes": layer.bytes, "created_by": layer.created_by});
        json!({
            "ok": self.ok,
            "image": self.image,
            "image_id": self.image_id,
            "engine": self.engine,
            "runtime": self.runtime,
            "bin": self.bin,
            "kind": self.kind,
            "platform": self.platform,
            "emulated": self.emulated,
            "profile": self.profile,
            "build_seconds": self.build_seconds,
            "compiled": self.compiled,
            "compile_cache": self.compile_cache.as_ref().map(|stats| json!({
                "hits": stats.hits,
                "misses": stats.misses,
                "backend": stats.backend,
            })),
            "cache_mounts": self.cache_mounts.as_ref().map(|mounts| json!({
                "dir": mounts.dir,
                "restored": mounts.restored,
                "kept": mounts.kept,
                "restore_seconds": mounts.restore_seconds,
                "saved": mounts.saved,
                "saved_bytes": mounts.saved_bytes,
                "save_seconds": mounts.save_seconds,
            })),
            "image_bytes": self.image_bytes,
            "budget_bytes": self.budget_bytes,
            "budget_checked": self.budget_checked,
            "binary_bytes": self.binary_bytes,
            "shipped": self.shipped.iter().map(|(path, bytes)| serde_json::json!({
                "path": path, "bytes": bytes,
            })).collect::<Vec<_>>(),
            "sbom_crates": self.sbom_crates,
            "steps": self.steps.iter().map(step).collect::<Vec<_>>(),
            "cache_checks": self.cache_checks.iter().map(cache_check).collect::<Vec<_>>(),
            "largest_layers": self.largest_layers.iter().map(layer).collect::<Vec<_>>(),
            "warnings": self.warnings,
            "errors": self.errors,
        })
    }

    pub fn human(&self) -> String {
        let mut out = String::new();
        let percent = self.image_bytes as f64 * 100.0 / self.budget_bytes.max(1) as f64;
        let _ = writeln!(
            out,
            "image    {} ({}, {})",
            self.image, self.runtime, self.kind
        );
        let _ = match self.budget_checked {
            true => writeln!(
                out,
                "size     {} of {} budget ({percent:.0}%)",
                format_size(self.image_bytes),
                format_size(self.budget_bytes)
            ),
            false => writeln!(
                out,
                "size     {} (not judged: profile {} is unoptimized, with debug info; pass \
                 --budget to judge it)",
                format_size(self.image_bytes),
                self.profile
            ),
        };
        let _ = writeln!(
            out,
            "platform {}{}",
            self.platform,
            if self.emulated {
                " (cross-compiled; smoke test under emulation)"
            } else {
                ""
            }
        );
        if let Some(bytes) = self.binary_bytes {
            let _ = writeln!(out, "binary   {} ({})", self.bin, format_size(bytes));
        }
        for (path, bytes) in &self.shipped {
            let _ = writeln!(out, "ships    {path} ({})", format_size(*bytes));
        }
        if let Some(count) = self.sbom_crates {
            let _ = writeln!(out, "sbom     {count} crates");
        }
        let _ = writeln!(
            out,
            "build    {:.1} s (profile {}, {} compiled)",
            self.build_seconds,
            self.profile,
            match self.compiled.len() {
                1 => "1 crate".to_owned(),
                count => format!("{count} crates"),
            }
        );
        if let Some(stats) = &self.compile_cache {
            let _ = writeln!(out, "sccache  {}", stats.summary());
        }
        if let Some(mounts) = &self.cache_mounts {
            let _ = writeln!(out, "mounts   {}", mounts.summary());
        }
        for (label, checks) in [("smoke", &self.steps), ("cache", &self.cache_checks)] {
            for (index, check) in checks.iter().enumerate() {
                let label = if index == 0 { label } else { "" };
                let mark = if check.ok { "ok  " } else { "FAIL" };
                let _ = writeln!(
                    out,
                    "{label:<8} {mark} {:<12} {} ({:.1} s)",
                    check.name, check.detail, check.seconds
                );
            }
        }
        if !self.largest_layers.is_empty() {
            let _ = writeln!(out, "largest layers:");
            for layer in &self.largest_layers {
                let created_by: String = layer.created_by.chars().take(100).collect();
                let _ = writeln!(out, "  {:>10}  {created_by}", format_size(layer.bytes));
            }
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        let verdict = if self.ok { "OK" } else { "FAILED" };
        let _ = writeln!(out, "{verdict}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            ok: false,
            image: "demo:0.1.0".into(),
            image_id: "sha256:abc".into(),
            engine: "docker".into(),
            runtime: "scratch".into(),
            bin: "demo".into(),
            kind: "service".into(),
            platform: "linux/arm64".into(),
            emulated: true,
            profile: "container".into(),
            build_seconds: 12.34,
            compiled: vec!["demo".into()],
            compile_cache: Some(sccache::Stats {
                hits: 95,
                misses: 2,
                not_cacheable: 14,
                backend: "redis".into(),
            }),
            cache_mounts: Some(Mounts {
                dir: ".cache/mounts".into(),
                restored: vec!["demo-target".into(), "demo-tools".into()],
                kept: vec!["demo-planner".into()],
                restore_seconds: 2.61,
                saved: vec!["demo-target".into()],
                saved_bytes: 313_159_680,
                save_seconds: 3.44,
            }),
            image_bytes: 3_475_959,
            budget_bytes: 3_000_000,
            budget_checked: true,
            binary_bytes: Some(3_253_824),
            shipped: vec![("/migrate".into(), 1_200_000)],
            sbom_crates: Some(97),
            steps: vec![
                Check {
                    name: "version".into(),
                    ok: true,
                    detail: "demo 0.1.0".into(),
                    seconds: 0.41,
                    compiled: None,
                },
                Check {
                    name: "stop".into(),
                    ok: false,
                    detail: "took 10.2 s".into(),
                    seconds: 10.2,
                    compiled: None,
                },
            ],
            cache_checks: vec![Check {
                name: "source".into(),
                ok: true,
                seconds: 4.56,
                compiled: Some(vec!["demo".into()]),
                detail: "1 crate compiled (demo)".into(),
            }],
            largest_layers: vec![Layer {
                bytes: 3_253_824,
                created_by: "COPY /demo /demo".into(),
            }],
            warnings: vec!["sccache: only 2% ...".into()],
            errors: vec!["stop took 10.2 s".into()],
        }
    }

    #[test]
    fn human_summary() {
        let expected = "\
image    demo:0.1.0 (scratch, service)
size     3.48 MB of 3.00 MB budget (116%)
platform linux/arm64 (cross-compiled; smoke test under emulation)
binary   demo (3.25 MB)
ships    /migrate (1.20 MB)
sbom     97 crates
build    12.3 s (profile container, 1 crate compiled)
sccache  95 hits, 2 misses (98% hits), 14 not cacheable, backend redis
mounts   restored 2, kept 1 (not empty here) from .cache/mounts (2.6 s); saved 1, 313.16 MB (3.4 s)
smoke    ok   version      demo 0.1.0 (0.4 s)
         FAIL stop         took 10.2 s (10.2 s)
cache    ok   source       1 crate compiled (demo) (4.6 s)
largest layers:
     3.25 MB  COPY /demo /demo
warning: sccache: only 2% ...
FAILED
";
        assert_eq!(report().human(), expected);
    }

    #[test]
    fn json_has_the_fields_ci_reads() {
        let json = report().json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["image_bytes"], 3_475_959);
        assert_eq!(json["sbom_crates"], 97);
        assert_eq!(json["platform"], "linux/arm64");
        assert_eq!(json["steps"][1]["name"], "stop");
        assert_eq!(json["largest_layers"][0]["bytes"], 3_253_824);
        assert_eq!(json["cache_checks"][0]["compiled"][0], "demo");
        // Smoke steps are named, cache checks name their change; only rebuilds compile.
        assert_eq!(json["cache_checks"][0]["change"], "source");
        assert!(json["steps"][0].get("compiled").is_none());
        assert_eq!(json["budget_checked"], true);
        assert_eq!(
            json["compile_cache"],
            json!({"hits": 95, "misses": 2, "backend": "redis"})
        );
        assert_eq!(json["warnings"][0], "sccache: only 2% ...");
        assert_eq!(json["cache_mounts"]["restored"][1], "demo-tools");
        assert_eq!(json["cache_mounts"]["kept"][0], "demo-planner");
        assert_eq!(json["cache_mounts"]["saved_bytes"], 313_159_680);
        assert_eq!(
            json["shipped"][0],
            json!({"path": "/migrate", "bytes": 1_200_000})
        );
        assert_eq!(json.as_object().unwrap().len(), 25);
        let without = Report {
            cache_mounts: None,
            ..report()
        };
        assert_eq!(without.json()["cache_mounts"], Value::Null);
        assert!(!without.human().contains("mounts"));
    }

    #[test]
    fn a_dev_build_reports_its_size_without_judging_it() {
        let report = Report {
            profile: "dev".into(),
            budget_checked: false,
            image_bytes: 61_000_000,
            ..report()
        };
        let human = report.human();
        assert!(
            human.contains(
                "size     61.00 MB (not judged: profile dev is unoptimized, with debug info; \
                 pass --budget to judge it)\n"
            ),
            "{human}"
        );
        assert!(human.contains("(profile dev, 1 crate compiled)"), "{human}");
        assert_eq!(report.json()["budget_checked"], false);
    }
}
