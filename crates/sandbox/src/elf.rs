//! Just enough ELF reading to tell a static executable from a dynamic one.

/// True if `bytes` is a 64-bit little-endian ELF without a `PT_INTERP` program header.
pub fn is_static(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..usize::from(phnum)).all(|i| {
        let off = phoff + i * usize::from(phentsize);
        match bytes.get(off..off + 4) {
            Some(t) => u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP,
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dynamic_system_binary_is_not_static() {
        let sh = std::fs::read("/bin/sh").unwrap();
        assert!(!super::is_static(&sh));
        assert!(!super::is_static(b"#!/bin/sh\n"));
    }
}
