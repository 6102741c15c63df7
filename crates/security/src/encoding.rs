//! Small encoders the adapters share (RFC 4648 base32, hex, RFC 3986 percent-encoding), a
//! constant-time comparison and the OS random source.

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// RFC 4648 base32 (upper-case alphabet) without `=` padding, as authenticator apps expect.
pub(crate) fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32_ALPHABET[usize::from((buffer >> bits) & 0x1f)]));
        }
        // Only the `bits` low bits are still pending.
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32_ALPHABET[usize::from((buffer << (5 - bits)) & 0x1f)]));
    }
    out
}

/// Decodes unpadded RFC 4648 base32 (either case, spaces ignored, as people type it).
pub(crate) fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        let value = BASE32_ALPHABET.iter().position(|&a| char::from(a) == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes hex (either case); `None` for an odd length or a non-hex character.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?)).collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters (so `@`, `:` and spaces
/// are escaped too, as a URI path segment or query value needs).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)].to_ascii_uppercase()));
            out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)].to_ascii_uppercase()));
        }
    }
    out
}

/// Equality whose running time depends only on the lengths (which are public here), not on
/// where the first difference is.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Fills `buf` from the OS CSPRNG, for the ports that cannot report a failure.
///
/// A machine whose CSPRNG fails cannot mint secrets or tokens, and returning predictable
/// bytes instead would be a vulnerability, so the process stops. (On Linux this needs a
/// kernel without `getrandom(2)` and without `/dev/urandom`.)
pub(crate) fn os_random_or_abort(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        eprintln!("fatal: the operating system's random number generator failed: {e}");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648_vectors_without_padding() {
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32(&[0xff; 5]), "77777777");
        assert_eq!(base32(&[0x00]), "AA");
    }

    #[test]
    fn hex_round_trips_and_rejects_malformed_input() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(unhex("000fa5ff"), Some(vec![0x00, 0x0f, 0xa5, 0xff]));
        assert_eq!(unhex("000FA5FF"), Some(vec![0x00, 0x0f, 0xa5, 0xff]));
        assert_eq!(unhex(""), Some(vec![]));
        for bad in ["0", "abc", "zz", "0g", " 00", "é0"] {
            assert_eq!(unhex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("ann@example.com"), "ann%40example.com");
        assert_eq!(percent_encode("a b:c/d?e&f=g"), "a%20b%3Ac%2Fd%3Fe%26f%3Dg");
        assert_eq!(percent_encode("A-z_0.9~"), "A-z_0.9~");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"123456", b"123456"));
        assert!(!constant_time_eq(b"123456", b"123457"));
        assert!(!constant_time_eq(b"123456", b"12345"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn os_random_fills_the_buffer() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        os_random_or_abort(&mut a);
        os_random_or_abort(&mut b);
        assert_ne!(a, b);
    }
}
