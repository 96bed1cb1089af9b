//! Fixed-width fields of binary headers, with errors that name the field.

use super::{malformed, ProbeError};

pub(super) fn field<const N: usize>(
    data: &[u8],
    at: usize,
    what: &str,
) -> Result<[u8; N], ProbeError> {
    at.checked_add(N)
        .and_then(|end| data.get(at..end))
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| malformed(format!("{what} is truncated")))
}

pub(super) fn be_u16(data: &[u8], at: usize, what: &str) -> Result<u16, ProbeError> {
    field(data, at, what).map(u16::from_be_bytes)
}

pub(super) fn be_u32(data: &[u8], at: usize, what: &str) -> Result<u32, ProbeError> {
    field(data, at, what).map(u32::from_be_bytes)
}

pub(super) fn be_u64(data: &[u8], at: usize, what: &str) -> Result<u64, ProbeError> {
    field(data, at, what).map(u64::from_be_bytes)
}

pub(super) fn le_u16(data: &[u8], at: usize, what: &str) -> Result<u16, ProbeError> {
    field(data, at, what).map(u16::from_le_bytes)
}

pub(super) fn le_u32(data: &[u8], at: usize, what: &str) -> Result<u32, ProbeError> {
    field(data, at, what).map(u32::from_le_bytes)
}

pub(super) fn le_u24(data: &[u8], at: usize, what: &str) -> Result<u32, ProbeError> {
    let [a, b, c] = field(data, at, what)?;
    Ok(u32::from_le_bytes([a, b, c, 0]))
}
