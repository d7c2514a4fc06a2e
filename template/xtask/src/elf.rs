//! Is a binary statically linked? An ELF executable that asks for a program interpreter
//! (a `PT_INTERP` header, e.g. /lib/ld-musl-x86_64.so.1) needs a dynamic loader and libc in the
//! image; a static one (including static-pie, musl's default) has none.

use anyhow::{bail, ensure};

const PT_INTERP: u32 = 3;

/// `Ok(Some(interpreter))` for a dynamic executable, `Ok(None)` for a static one.
pub fn interpreter(elf: &[u8]) -> anyhow::Result<Option<String>> {
    ensure!(
        elf.len() >= 64 && elf[..4] == *b"\x7fELF",
        "not an ELF file"
    );
    ensure!(
        elf[4] == 2 && elf[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
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
    fn refuses_what_is_not_an_elf_executable() {
        assert!(interpreter(b"#!/bin/sh\n").is_err());
        let mut truncated = elf(&[(3, 0, 0)], b"");
        truncated.truncate(100);
        assert!(interpreter(&truncated).is_err());
    }
}
