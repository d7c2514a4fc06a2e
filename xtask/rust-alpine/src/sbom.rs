//! The dependency list cargo-auditable embeds in a binary (the `.dep-v0` ELF section: zlib
//! compressed JSON). Scanners (syft, trivy, `cargo audit bin`) read it; without it a FROM
//! scratch image shows them no packages at all.

use anyhow::{Context, bail};
use serde_json::Value;

use crate::elf;

/// The section cargo-auditable writes.
pub const SECTION: &str = ".dep-v0";
/// The decompressed list is small (about 100 bytes a crate); refuse anything absurd.
const LIMIT: usize = 8 << 20;

/// The embedded list, or `None` when the binary has none.
/// Each crate's source ("crates.io", "local", "git", "registry" or "other"): cargo-auditable
/// also records names, versions and dependencies.
pub fn read(binary: &[u8]) -> anyhow::Result<Option<Vec<String>>> {
    let Some(compressed) = elf::section(binary, SECTION)? else {
        return Ok(None);
    };
    parse(compressed).map(Some)
}

fn parse(compressed: &[u8]) -> anyhow::Result<Vec<String>> {
    let json = match miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(compressed, LIMIT) {
        Ok(json) => json,
        Err(error) => bail!("the {SECTION} section is not zlib data: {error:?}"),
    };
    let json: Value =
        serde_json::from_slice(&json).with_context(|| format!("reading the {SECTION} JSON"))?;
    let packages = json["packages"]
        .as_array()
        .with_context(|| format!("the {SECTION} JSON has no packages"))?;
    let source = |package: &Value| package["source"].as_str().unwrap_or("").to_owned();
    Ok(packages.iter().map(source).collect())
}

/// The smoke step's verdict: how many crates the binary declares, or what to do.
pub fn check(binary: &[u8]) -> anyhow::Result<(usize, String)> {
    let Some(sources) = read(binary)? else {
        bail!(
            "the binary carries no dependency list ({SECTION}), so image scanners see none of \
             its crates: build it with `cargo auditable build` (cargo install cargo-auditable)"
        );
    };
    let count = sources.len();
    let registry = sources
        .iter()
        .filter(|source| *source == "crates.io")
        .count();
    Ok((
        count,
        format!("{count} crates ({registry} from crates.io), {SECTION}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"packages":[
        {"name":"demo","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},
        {"name":"anyhow","version":"1.0.105","source":"crates.io"},
        {"name":"cc","version":"1.2.0","source":"crates.io","kind":"build"}
    ]}"#;

    #[test]
    fn the_embedded_list_is_decompressed_and_counted() {
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(JSON.as_bytes(), 6);
        assert_eq!(
            parse(&compressed).unwrap(),
            ["local", "crates.io", "crates.io"]
        );
    }

    #[test]
    fn what_is_not_an_embedded_list_is_refused() {
        let error = parse(JSON.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("not zlib data"), "{error}");
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(b"[1, 2]", 6);
        assert!(parse(&compressed).is_err());
    }

    #[test]
    fn a_binary_without_the_section_says_how_to_add_it() {
        // An ELF header with no section headers at all.
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        let error = check(&bytes).unwrap_err().to_string();
        assert!(error.contains("cargo auditable build"), "{error}");
    }
}
