//! PBKDF2-HMAC-SHA256 with a 32-byte output: the key derivation behind every value Grafana
//! encrypts (10,000 rounds per value, so it is the whole cost of reading a Grafana database).
//!
//! This crate owns doing that fast:
//! - Each round is exactly two SHA-256 block compressions: the HMAC inner and outer pad states
//!   are absorbed once, and the 32-byte U of the previous round always fills the same padded
//!   block, so no hasher is copied, reset or finalized per round.
//! - A round depends on the one before it, so one derivation is a chain of dependent
//!   compressions and the CPU's SHA units sit idle most of the time waiting on the previous
//!   result. [`derive_many`] interleaves [`LANES`] independent derivations, instruction by
//!   instruction, on the x86-64 SHA extensions (`ni`), which fills those pipelines: measured
//!   about 1.8x the throughput of one lane (BENCHMARKS.md).
//! - Without the SHA extensions (another CPU or architecture) `portable` drives
//!   `sha2::compress256`, which has its own CPU dispatch.
//!
//! The workspace forbids unsafe code; this crate allows it in `ni` alone, for the intrinsics,
//! behind a run-time CPU check. Every path is checked against the `pbkdf2` crate in the tests.

use std::num::NonZeroU32;

use zeroize::{Zeroize, Zeroizing};

#[cfg(target_arch = "x86_64")]
mod ni;
mod portable;

/// Output length: one SHA-256 block of key material (Grafana derives AES-256 keys).
pub const KEY_LEN: usize = 32;

/// How many derivations the SHA-extension path interleaves (more lanes spill registers; 4 was
/// the measured best on the 2-core x86-64 machine this project runs on).
pub const LANES: usize = 4;

/// A derived key, wiped when dropped.
pub type Key = Zeroizing<[u8; KEY_LEN]>;

/// What a derivation needs after its first round: the HMAC pad states and U1, as SHA-256 words.
#[derive(Clone, Default)]
struct Start {
    inner: [u32; 8],
    outer: [u32; 8],
    u1: [u32; 8],
}

impl std::fmt::Debug for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Start(..)")
    }
}

impl Drop for Start {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
        self.u1.zeroize();
    }
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Bit length of what every round after the first hashes: a 64-byte pad block and a 32-byte U.
const ROUND_MESSAGE_BITS: u32 = (64 + 32) * 8;

/// HMAC setup and the first round, `U1 = HMAC(password, salt || INT(1))`, with the `sha2`
/// hasher (the salt has any length).
fn start(password: &[u8], salt: &[u8]) -> Start {
    use sha2::Digest;

    // Keys longer than the block are hashed first (RFC 2104).
    let mut key_block = Zeroizing::new([0u8; 64]);
    if password.len() > 64 {
        key_block[..32].copy_from_slice(&sha2::Sha256::digest(password));
    } else {
        key_block[..password.len()].copy_from_slice(password);
    }
    let mut ipad = Zeroizing::new([0u8; 64]);
    let mut opad = Zeroizing::new([0u8; 64]);
    for i in 0..64 {
        ipad[i] = key_block[i] ^ 0x36;
        opad[i] = key_block[i] ^ 0x5c;
    }
    let mut h = sha2::Sha256::new();
    h.update(ipad.as_ref());
    h.update(salt);
    h.update(1u32.to_be_bytes());
    let mut inner_hash = h.finalize_reset();
    h.update(opad.as_ref());
    h.update(inner_hash);
    let mut u1 = h.finalize();
    let mut s = Start {
        inner: portable::pad_state(&ipad),
        outer: portable::pad_state(&opad),
        ..Start::default()
    };
    for (w, chunk) in s.u1.iter_mut().zip(u1.chunks_exact(4)) {
        *w = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    inner_hash.zeroize();
    u1.zeroize();
    s
}

/// Big-endian bytes of the accumulated words: the key.
fn finish(mut acc: [u32; 8]) -> Key {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    for (chunk, w) in key.chunks_exact_mut(4).zip(&acc) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    acc.zeroize();
    key
}

/// PBKDF2-HMAC-SHA256(password, salt, rounds), 32 bytes.
pub fn derive(password: &[u8], salt: &[u8], rounds: NonZeroU32) -> Key {
    let s = start(password, salt);
    #[cfg(target_arch = "x86_64")]
    if let Some([acc]) = ni::iterate::<1>([&s], rounds.get()) {
        return finish(acc);
    }
    finish(portable::iterate(&s, rounds.get()))
}

/// PBKDF2-HMAC-SHA256 of every `(password, salt)` pair, in order: [`LANES`] at a time on the SHA
/// extensions when the CPU has them. Call it from one thread per core for bulk work.
pub fn derive_many(inputs: &[(&[u8], &[u8])], rounds: NonZeroU32) -> Vec<Key> {
    let starts: Vec<Start> = inputs.iter().map(|(p, s)| start(p, s)).collect();
    let mut out = Vec::with_capacity(starts.len());
    #[cfg(target_arch = "x86_64")]
    if ni::available() {
        let mut groups = starts.chunks_exact(LANES);
        for g in groups.by_ref() {
            let lanes: [&Start; LANES] = std::array::from_fn(|i| &g[i]);
            if let Some(accs) = ni::iterate::<LANES>(lanes, rounds.get()) {
                out.extend(accs.into_iter().map(finish));
            }
        }
        let rest = groups.remainder();
        let accs: Option<Vec<[u32; 8]>> = match rest {
            [] => Some(Vec::new()),
            [a] => ni::iterate::<1>([a], rounds.get()).map(Vec::from),
            [a, b] => ni::iterate::<2>([a, b], rounds.get()).map(Vec::from),
            [a, b, c] => ni::iterate::<3>([a, b, c], rounds.get()).map(Vec::from),
            _ => None,
        };
        if let Some(accs) = accs {
            out.extend(accs.into_iter().map(finish));
        }
        if out.len() == starts.len() {
            return out;
        }
        out.clear();
    }
    out.extend(
        starts
            .iter()
            .map(|s| finish(portable::iterate(s, rounds.get()))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 32] {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, &mut out);
        out
    }

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    /// Passwords shorter than, equal to and longer than the HMAC block; salts of any length
    /// (Grafana's are 8 bytes); round counts from 1.
    fn cases() -> Vec<(Vec<u8>, Vec<u8>, u32)> {
        [
            (0usize, 8usize, 1u32),
            (1, 0, 2),
            (20, 8, 3),
            (32, 8, 77),
            (63, 13, 5),
            (64, 8, 100),
            (65, 8, 100),
            (200, 70, 9),
            (32, 8, 10_000),
        ]
        .into_iter()
        .map(|(pl, sl, r)| {
            let p = (0..pl).map(|i| (i * 7 + 3) as u8).collect();
            let s = (0..sl).map(|i| (i * 13 + 1) as u8).collect();
            (p, s, r)
        })
        .collect()
    }

    #[test]
    fn rfc_7914_vector() {
        // RFC 7914, section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1), first 32 bytes.
        assert_eq!(
            hex::encode(*derive(b"passwd", b"salt", nz(1))),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn single_matches_the_pbkdf2_crate() {
        for (p, s, r) in cases() {
            assert_eq!(
                *derive(&p, &s, nz(r)),
                reference(&p, &s, r),
                "{p:?} {s:?} {r}"
            );
        }
    }

    #[test]
    fn portable_matches_the_pbkdf2_crate() {
        for (p, s, r) in cases() {
            let got = finish(portable::iterate(&start(&p, &s), r));
            assert_eq!(*got, reference(&p, &s, r), "{p:?} {s:?} {r}");
        }
    }

    #[test]
    fn many_matches_one_by_one_for_every_group_size() {
        let all = cases();
        // 0..=2 full groups of lanes plus every remainder, each lane a different input.
        for n in 0..=(2 * LANES + 3) {
            let inputs: Vec<(&[u8], &[u8])> = all
                .iter()
                .cycle()
                .take(n)
                .map(|(p, s, _)| (p.as_slice(), s.as_slice()))
                .collect();
            let got = derive_many(&inputs, nz(50));
            assert_eq!(got.len(), n);
            for ((p, s), k) in inputs.iter().zip(&got) {
                assert_eq!(**k, reference(p, s, 50), "group of {n}");
            }
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let s = start(b"pw", b"salt");
        assert_eq!(format!("{s:?}"), "Start(..)");
    }
}
