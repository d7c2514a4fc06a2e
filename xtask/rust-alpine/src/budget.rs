//! Sizes as people write them ("8 MB", "7.5MiB") and the image's size budget.

use anyhow::{Context, bail};

/// Parses a size: a number and an optional unit. kB, MB, GB are powers of 1000 (as Docker
/// prints sizes), KiB, MiB, GiB powers of 1024; no unit or B means bytes.
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("size {text:?} does not start with a number"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            bail!("size {text:?} has unknown unit {other:?}: use B, kB, MB, GB, KiB, MiB or GiB")
        }
    };
    Ok((number * scale as f64).round() as u64)
}

/// A size budget: a size above zero (a budget of 0 fails every image, and says nothing).
pub fn parse_budget(text: &str) -> anyhow::Result<u64> {
    let how = "write a size above zero with its unit, e.g. \"8 MB\"";
    let bytes =
        parse_size(text).with_context(|| format!("reading the size budget {text:?}; {how}"))?;
    if bytes == 0 {
        bail!("the size budget {text:?} is zero: every image would fail it; {how}");
    }
    Ok(bytes)
}

/// Formats bytes the way Docker does (powers of 1000).
pub fn format_size(bytes: u64) -> String {
    let bytes = bytes as f64;
    match bytes {
        b if b >= 1e9 => format!("{:.2} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.2} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b} B"),
    }
}

/// What the runtime base adds to the binary, at most: scratch only the CA bundle and the user
/// files; distroless static about 2 MB, alpine about 8.5 MB.
fn runtime_allowance(runtime: &str) -> u64 {
    match runtime {
        "scratch" => 500_000,
        "distroless" => 3_000_000,
        _ => 10_000_000,
    }
}

/// The budget of a project that sets no size-budget (one adopted in place): its binary without
/// debug info, plus 10%, plus what the runtime base adds. Debug info is never budgeted.
pub fn default_budget(binary_bytes: u64, debug_bytes: u64, runtime: &str) -> u64 {
    binary_bytes.saturating_sub(debug_bytes) * 11 / 10 + runtime_allowance(runtime)
}

/// The budget check: `Err` says by how much the image is over, whether debug info in the
/// binary (`debug_bytes`) is why, and where to change the budget.
pub fn check(image_bytes: u64, budget_bytes: u64, debug_bytes: u64) -> Result<(), String> {
    if image_bytes <= budget_bytes {
        return Ok(());
    }
    let over = image_bytes - budget_bytes;
    let why = if debug_bytes > 0 {
        format!(
            "{} of it is debug info in the binary (.debug_* sections), kept by the cargo \
             profile it was built with: set `debug = false` or `strip = \"debuginfo\"` in that \
             [profile.<name>] of Cargo.toml (without a [profile.container], the image's default \
             profile strips it)",
            format_size(debug_bytes)
        )
    } else {
        "make the image smaller (largest layers below)".to_owned()
    };
    Err(format!(
        "image is {} but the budget is {} ({} over): {why}, or raise size-budget in \
         [workspace.metadata.docker] (or [package.metadata.docker]) in Cargo.toml",
        format_size(image_bytes),
        format_size(budget_bytes),
        format_size(over),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_as_people_write_them() {
        for (text, bytes) in [
            ("8 MB", 8_000_000),
            ("8MB", 8_000_000),
            ("7.5 MiB", 7_864_320),
            ("512kB", 512_000),
            ("1 GB", 1_000_000_000),
            ("2 KiB", 2048),
            ("1234", 1234),
            ("10 B", 10),
        ] {
            assert_eq!(parse_size(text).unwrap(), bytes, "{text}");
        }
    }

    #[test]
    fn refuses_sizes_it_cannot_read() {
        for (text, message) in [
            ("8 mb", "unknown unit \"mb\""),
            ("MB", "does not start with a number"),
            ("", "does not start with a number"),
            ("1.2.3 MB", "does not start with a number"),
        ] {
            let error = parse_size(text).unwrap_err().to_string();
            assert!(error.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn a_budget_is_a_size_above_zero() {
        assert_eq!(parse_budget("8 MB").unwrap(), 8_000_000);
        for (text, message) in [
            ("0", "the size budget \"0\" is zero"),
            ("0 MB", "is zero"),
            ("0.0000001 MB", "is zero"),
            ("-5 MB", "does not start with a number"),
            ("", "does not start with a number"),
            ("eight", "does not start with a number"),
            ("8 mb", "unknown unit"),
        ] {
            let error = format!("{:#}", parse_budget(text).unwrap_err());
            assert!(error.contains(message), "{text}: {error}");
            assert!(error.contains("e.g. \"8 MB\""), "{text}: {error}");
        }
    }

    #[test]
    fn formats_like_docker() {
        assert_eq!(format_size(3_475_959), "3.48 MB");
        assert_eq!(format_size(999), "999 B");
        assert_eq!(format_size(12_345), "12.3 kB");
        assert_eq!(format_size(2_500_000_000), "2.50 GB");
    }

    #[test]
    fn over_budget_says_by_how_much_and_where_to_change_it() {
        assert!(check(3_000_000, 3_000_000, 0).is_ok());
        let error = check(3_500_000, 3_000_000, 0).unwrap_err();
        assert!(error.starts_with("image is 3.50 MB but the budget is 3.00 MB (500.0 kB over)"));
        assert!(error.contains("make the image smaller"), "{error}");
        assert!(error.contains("size-budget in [workspace.metadata.docker]"));
    }

    #[test]
    fn over_budget_with_debug_info_names_it() {
        let error = check(30_000_000, 4_000_000, 26_000_000).unwrap_err();
        assert!(
            error.contains("(26.00 MB over): 26.00 MB of it is debug info in the binary"),
            "{error}"
        );
        assert!(error.contains("`strip = \"debuginfo\"`"), "{error}");
    }

    #[test]
    fn the_default_budget_is_the_binary_without_debug_info_and_the_runtime() {
        // A 4 MB binary on scratch: 4.4 MB + 0.5 MB.
        assert_eq!(default_budget(4_000_000, 0, "scratch"), 4_900_000);
        // The same binary with 26 MB of debug info gets the same budget: the image is over.
        assert_eq!(default_budget(30_000_000, 26_000_000, "scratch"), 4_900_000);
        assert_eq!(default_budget(4_000_000, 0, "alpine"), 14_400_000);
    }
}
