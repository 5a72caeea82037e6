//! Deterministic hostile-input generation for the reliability suite: a seeded xorshift RNG, a
//! seed corpus reader (`tests/fixtures/corpus/<area>/`), and byte/text mutators (bit flips,
//! truncation, splicing, duplication, interesting tokens). No fuzzer engine runs on this toolchain
//! (cargo-fuzz needs nightly), so every hostile-input test is a bounded random-input loop whose
//! iteration count comes from `RELIABILITY_FUZZ_ITERS` (CI default small, long form large).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// xorshift64* generator: reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() % 1_000_000) as f64 / 1_000_000.0 < p
    }
    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Seed from `RELIABILITY_SEED` (printed so a failure can be replayed), else a fixed default.
pub fn seed() -> u64 {
    let s = std::env::var("RELIABILITY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_2026);
    eprintln!("RELIABILITY_SEED={s}");
    s
}

/// Iterations of a random-input loop: `RELIABILITY_FUZZ_ITERS` or `default`.
pub fn iterations(default: usize) -> usize {
    std::env::var("RELIABILITY_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Trials of a crash test: `RELIABILITY_TRIALS` or `default`.
pub fn trials(default: usize) -> usize {
    std::env::var("RELIABILITY_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The directory of a corpus area under the repository's `tests/fixtures/corpus/`.
pub fn corpus_dir(area: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(
            if Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/corpus")
                .exists()
            {
                "tests/fixtures/corpus"
            } else {
                "../tests/fixtures/corpus"
            },
        )
        .join(area)
}

/// Every file of a corpus area (sorted by name, so runs are reproducible). Panics when empty:
/// a hostile-input test without seeds proves little.
pub fn corpus(area: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(area);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    names.sort();
    let out: Vec<Vec<u8>> = names.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!out.is_empty(), "corpus {} is empty", dir.display());
    out
}

/// Tokens that often break parsers.
pub const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"1e309",
    b"18446744073709551616",
    b"\"\\u0000\"",
    b"\\ud800",
    b"\xff\xfe",
    b"\0",
    b"#",
    b"*",
    b"/",
    b"=",
    b"%",
    b"%00",
    b"..",
    b"\r\n",
    b" ",
    b"\xf0\x9f\x94\x91",
    b"AWS4-HMAC-SHA256",
    b"Credential=",
    b"SignedHeaders=",
    b"Signature=",
    b"aws4_request",
    b"*YWVzLWdjbQ*",
    b"#AAAA#",
    b"arn:aws:secretsmanager:",
    b"grafana/",
    b"-AbCdEf",
];

/// One random mutation of `input`, possibly spliced with `other`.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next_u64() as u8;
            }
            2 => v.truncate(rng.below(len + 1)),
            3 if len > 0 => {
                let (a, b) = (rng.below(len), rng.below(len));
                let (a, b) = (a.min(b), a.max(b));
                let chunk = v[a..b].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            4 => {
                let t = rng.pick(TOKENS);
                let at = rng.below(len + 1);
                v.splice(at..at, t.iter().copied());
            }
            5 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => {
                let (a, b) = (rng.below(len), rng.below(len));
                v.drain(a.min(b)..a.max(b));
            }
            7 => {
                let n = rng.below(64);
                let at = rng.below(len + 1);
                let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                v.splice(at..at, junk);
            }
            _ => {
                // repeat a chunk many times (deep nesting, long runs)
                if len > 0 {
                    let i = rng.below(len);
                    let c = v[i];
                    let n = 1 + rng.below(2000);
                    v.splice(i..i, std::iter::repeat_n(c, n));
                }
            }
        }
    }
    v
}

/// The next hostile input: mostly a mutated seed, sometimes a seed as is or pure noise.
pub fn next_input(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let a = rng.pick(seeds).clone();
    match rng.below(20) {
        0 => a,
        1 => (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect(),
        _ => {
            let b = rng.pick(seeds).clone();
            mutate(rng, &a, &b)
        }
    }
}
