//! Is a binary statically linked, and for which CPU? An ELF executable that asks for a program
//! interpreter (a `PT_INTERP` header, e.g. /lib/ld-musl-x86_64.so.1) needs a dynamic loader and
//! libc in the image; a static one (including static-pie, musl's default) has none. Also finds a
//! section by name (cargo-auditable's `.dep-v0`) and sums the debug info (`.debug_*`).

use anyhow::{bail, ensure};

const PT_INTERP: u32 = 3;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

fn check_header(elf: &[u8]) -> anyhow::Result<()> {
    ensure!(
        elf.len() >= 64 && elf[..4] == *b"\x7fELF",
        "not an ELF file"
    );
    ensure!(
        elf[4] == 2 && elf[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    Ok(())
}

/// The CPU the executable is for (`e_machine`), named as image platforms name it: `amd64`,
/// `arm64`, or `ELF machine <number>` for any other.
pub fn architecture(elf: &[u8]) -> anyhow::Result<String> {
    check_header(elf)?;
    Ok(match u16::from_le_bytes([elf[0x12], elf[0x13]]) {
        EM_X86_64 => "amd64".to_owned(),
        EM_AARCH64 => "arm64".to_owned(),
        other => format!("ELF machine {other}"),
    })
}

/// `Ok(Some(interpreter))` for a dynamic executable, `Ok(None)` for a static one.
pub fn interpreter(elf: &[u8]) -> anyhow::Result<Option<String>> {
    check_header(elf)?;
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    let (table, entry_size, entries) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    for index in 0..entries {
        let header = table + index * entry_size;
        if header + 56 > elf.len() {
            bail!("truncated ELF program header table");
        }
        if u32_at(header) == PT_INTERP {
            let (offset, size) = (u64_at(header + 8), u64_at(header + 32));
            let Some(bytes) = elf.get(offset..offset + size) else {
                bail!("truncated ELF interpreter path");
            };
            let path = String::from_utf8_lossy(bytes);
            return Ok(Some(path.trim_end_matches('\0').to_owned()));
        }
    }
    Ok(None)
}

/// The contents of the section `name`, or `None` when the file has no such section.
pub fn section<'a>(elf: &'a [u8], name: &str) -> anyhow::Result<Option<&'a [u8]>> {
    let sections = sections(elf)?;
    let Some(found) = sections
        .iter()
        .find(|section| section.name == name.as_bytes())
    else {
        return Ok(None);
    };
    let Some(bytes) = elf.get(found.offset..found.offset + found.size) else {
        bail!("truncated ELF section {name}");
    };
    Ok(Some(bytes))
}

/// The bytes of debug info in the file (`.debug_*` and compressed `.zdebug_*` sections): what
/// `strip = "debuginfo"` removes.
pub fn debug_info_bytes(elf: &[u8]) -> anyhow::Result<u64> {
    Ok(sections(elf)?
        .iter()
        .filter(|section| {
            section.name.starts_with(b".debug_") || section.name.starts_with(b".zdebug_")
        })
        .map(|section| section.size as u64)
        .sum())
}

struct Section<'a> {
    name: &'a [u8],
    offset: usize,
    size: usize,
}

/// Every section's name, offset and size, from the section header table.
fn sections(elf: &[u8]) -> anyhow::Result<Vec<Section<'_>>> {
    check_header(elf)?;
    let field = |at: usize, size: usize| -> anyhow::Result<usize> {
        let Some(bytes) = elf.get(at..at + size) else {
            bail!("truncated ELF section header table");
        };
        let mut value = [0u8; 8];
        value[..size].copy_from_slice(bytes);
        Ok(u64::from_le_bytes(value) as usize)
    };
    let (table, entry_size) = (field(0x28, 8)?, field(0x3a, 2)?);
    let (entries, names_index) = (field(0x3c, 2)?, field(0x3e, 2)?);
    if entries == 0 {
        return Ok(Vec::new());
    }
    let place = |index: usize| -> anyhow::Result<(usize, usize)> {
        let header = table + index * entry_size;
        Ok((field(header + 0x18, 8)?, field(header + 0x20, 8)?))
    };
    let (names_offset, names_size) = place(names_index)?;
    let Some(names) = elf.get(names_offset..names_offset + names_size) else {
        bail!("truncated ELF section {names_index}");
    };
    (0..entries)
        .map(|index| {
            let name_at = field(table + index * entry_size, 4)?;
            let name = names
                .get(name_at..)
                .and_then(|rest| rest.split(|byte| *byte == 0).next())
                .unwrap_or_default();
            let (offset, size) = place(index)?;
            Ok(Section { name, offset, size })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with the given program headers `(type, offset, size)`.
    fn elf(headers: &[(u32, u64, u64)], tail: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        for &(kind, offset, size) in headers {
            let mut header = vec![0u8; 56];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            header[8..16].copy_from_slice(&offset.to_le_bytes());
            header[32..40].copy_from_slice(&size.to_le_bytes());
            bytes.extend(header);
        }
        bytes.extend(tail);
        bytes
    }

    /// `elf(&[], b"")` with a section header table: a null section, `.shstrtab`, and one
    /// section per `(name, contents)`.
    fn with_sections(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut bytes = elf(&[], b"");
        let mut names = b"\0.shstrtab\0".to_vec();
        let mut headers = vec![(0usize, 0usize, 0usize), (1, 0, 0)];
        for (name, contents) in sections {
            headers.push((names.len(), bytes.len(), contents.len()));
            names.extend(name.as_bytes());
            names.push(0);
            bytes.extend(*contents);
        }
        headers[1] = (1, bytes.len(), names.len());
        bytes.extend(&names);
        let table = bytes.len() as u64;
        bytes[0x28..0x30].copy_from_slice(&table.to_le_bytes());
        bytes[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        bytes[0x3c..0x3e].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        bytes[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        for (name, offset, size) in headers {
            let mut header = vec![0u8; 64];
            header[..4].copy_from_slice(&(name as u32).to_le_bytes());
            header[0x18..0x20].copy_from_slice(&(offset as u64).to_le_bytes());
            header[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            bytes.extend(header);
        }
        bytes
    }

    #[test]
    fn sections_are_found_by_name() {
        let bytes = with_sections(&[(".text", b"code"), (".dep-v0", b"deps")]);
        assert_eq!(section(&bytes, ".dep-v0").unwrap(), Some(&b"deps"[..]));
        assert_eq!(section(&bytes, ".text").unwrap(), Some(&b"code"[..]));
        assert_eq!(section(&bytes, ".dep").unwrap(), None);
        assert_eq!(section(&elf(&[], b""), ".dep-v0").unwrap(), None);
        let mut truncated = bytes.clone();
        truncated.truncate(bytes.len() - 40);
        assert!(section(&truncated, ".dep-v0").is_err());
    }

    #[test]
    fn debug_info_is_summed_over_the_debug_sections() {
        let bytes = with_sections(&[
            (".text", b"code"),
            (".debug_info", b"12345"),
            (".debug_line", b"123"),
            (".zdebug_str", b"1"),
            (".dep-v0", b"deps"),
        ]);
        assert_eq!(debug_info_bytes(&bytes).unwrap(), 9);
        assert_eq!(
            debug_info_bytes(&with_sections(&[(".text", b"code")])).unwrap(),
            0
        );
        assert_eq!(debug_info_bytes(&elf(&[], b"")).unwrap(), 0);
    }

    #[test]
    fn static_binary_has_no_interpreter() {
        assert_eq!(
            interpreter(&elf(&[(1, 0, 0), (2, 0, 0)], b"")).unwrap(),
            None
        );
    }

    #[test]
    fn dynamic_binary_names_its_interpreter() {
        let path = b"/lib/ld-musl-x86_64.so.1\0";
        let offset = 64 + 2 * 56;
        let bytes = elf(&[(1, 0, 0), (3, offset, path.len() as u64)], path);
        let found = interpreter(&bytes).unwrap();
        assert_eq!(found.as_deref(), Some("/lib/ld-musl-x86_64.so.1"));
    }

    #[test]
    fn names_the_cpu_from_the_machine_field() {
        let mut bytes = elf(&[], b"");
        for (machine, name) in [(62u16, "amd64"), (183, "arm64"), (243, "ELF machine 243")] {
            bytes[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
            assert_eq!(architecture(&bytes).unwrap(), name);
        }
        assert!(architecture(b"MZ").is_err());
    }

    #[test]
    fn refuses_what_is_not_an_elf_executable() {
        assert!(interpreter(b"#!/bin/sh\n").is_err());
        let mut truncated = elf(&[(3, 0, 0)], b"");
        truncated.truncate(100);
        assert!(interpreter(&truncated).is_err());
    }
}
