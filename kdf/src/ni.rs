//! The PBKDF2 round loop on the x86-64 SHA extensions, `L` derivations interleaved: the only
//! unsafe code in the workspace (the intrinsics), entered only after a run-time CPU check.
//!
//! State is kept in the SHA-NI register layout (`ABEF`, `CDGH`) and every message word stays in
//! a register: per round and lane, the inner compression reads U as message words 0..8, its
//! output words are the outer compression's message words 0..8, and words 8..16 are the fixed
//! padding of a 96-byte message. Nothing touches memory inside the loop.
#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadu_si128, _mm_set_epi32,
    _mm_setzero_si128, _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32,
    _mm_shuffle_epi32, _mm_storeu_si128, _mm_xor_si128,
};

use super::{Start, ROUND_MESSAGE_BITS};

/// SHA-256 round constants (FIPS 180-4, 4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Whether this CPU has what [`iterate`] uses.
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("sha")
        && std::arch::is_x86_feature_detected!("sse2")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("sse4.1")
}

/// Rounds 2..=`rounds` of `L` derivations at once: U1 ^ U2 ^ … per lane, as words; `None` when
/// the CPU lacks the SHA extensions.
pub(crate) fn iterate<const L: usize>(lanes: [&Start; L], rounds: u32) -> Option<[[u32; 8]; L]> {
    if !available() {
        return None;
    }
    // SAFETY: `available()` has just confirmed every target feature `rounds_ni` enables.
    Some(unsafe { rounds_ni::<L>(lanes, rounds) })
}

/// A state half or a message quarter: four 32-bit words.
type V = __m128i;

#[inline(always)]
unsafe fn load(w: &[u32]) -> V {
    debug_assert!(w.len() >= 4);
    _mm_loadu_si128(w.as_ptr().cast())
}

#[inline(always)]
unsafe fn store(v: V, w: &mut [u32]) {
    debug_assert!(w.len() >= 4);
    _mm_storeu_si128(w.as_mut_ptr().cast(), v)
}

/// Words `(a, b, c, d)`, `(e, f, g, h)` to the SHA-NI layout `(ABEF, CDGH)`.
#[inline(always)]
unsafe fn to_ni(abcd: V, efgh: V) -> (V, V) {
    let cdab = _mm_shuffle_epi32(abcd, 0xB1);
    let efgh = _mm_shuffle_epi32(efgh, 0x1B);
    (
        _mm_alignr_epi8(cdab, efgh, 8),
        _mm_blend_epi16(efgh, cdab, 0xF0),
    )
}

/// The SHA-NI layout back to words `(a, b, c, d)`, `(e, f, g, h)`.
#[inline(always)]
unsafe fn from_ni(abef: V, cdgh: V) -> (V, V) {
    let feba = _mm_shuffle_epi32(abef, 0x1B);
    let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    (
        _mm_blend_epi16(feba, dchg, 0xF0),
        _mm_alignr_epi8(dchg, feba, 8),
    )
}

/// One SHA-256 block compression per lane, lanes interleaved step by step. `state` is
/// `(ABEF, CDGH)`, `msg` the block's 16 words in four vectors.
#[inline(always)]
unsafe fn compress<const L: usize>(
    state: [(V, V); L],
    msg: [[V; 4]; L],
    k: &[V; 16],
) -> [(V, V); L] {
    let mut w = msg;
    let mut s = state;
    for g in 0..16 {
        if g >= 4 {
            // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], four words at a time.
            for wl in w.iter_mut() {
                let (x16, x12, x8, x4) =
                    (wl[g % 4], wl[(g + 1) % 4], wl[(g + 2) % 4], wl[(g + 3) % 4]);
                let t = _mm_add_epi32(_mm_sha256msg1_epu32(x16, x12), _mm_alignr_epi8(x4, x8, 4));
                wl[g % 4] = _mm_sha256msg2_epu32(t, x4);
            }
        }
        let mut wk = [_mm_setzero_si128(); L];
        for l in 0..L {
            wk[l] = _mm_add_epi32(w[l][g % 4], k[g]);
            s[l].1 = _mm_sha256rnds2_epu32(s[l].1, s[l].0, wk[l]);
        }
        for l in 0..L {
            s[l].0 = _mm_sha256rnds2_epu32(s[l].0, s[l].1, _mm_shuffle_epi32(wk[l], 0x0E));
        }
    }
    for l in 0..L {
        s[l].0 = _mm_add_epi32(s[l].0, state[l].0);
        s[l].1 = _mm_add_epi32(s[l].1, state[l].1);
    }
    s
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn rounds_ni<const L: usize>(lanes: [&Start; L], rounds: u32) -> [[u32; 8]; L] {
    let mut k = [_mm_setzero_si128(); 16];
    for (i, kv) in k.iter_mut().enumerate() {
        *kv = load(&K[4 * i..]);
    }
    // Words 8..16 of every round's message: 0x80 terminator, zeros, the bit length.
    let pad_lo = _mm_set_epi32(0, 0, 0, 0x8000_0000_u32 as i32);
    let pad_hi = _mm_set_epi32(ROUND_MESSAGE_BITS as i32, 0, 0, 0);
    let zero = _mm_setzero_si128();
    let mut inner = [(zero, zero); L];
    let mut outer = [(zero, zero); L];
    let mut u = [(zero, zero); L];
    for (l, s) in lanes.iter().enumerate() {
        inner[l] = to_ni(load(&s.inner[..4]), load(&s.inner[4..]));
        outer[l] = to_ni(load(&s.outer[..4]), load(&s.outer[4..]));
        u[l] = (load(&s.u1[..4]), load(&s.u1[4..]));
    }
    let mut acc = u;
    let mut msg = [[zero; 4]; L];
    for _ in 1..rounds {
        for l in 0..L {
            msg[l] = [u[l].0, u[l].1, pad_lo, pad_hi];
        }
        let h = compress::<L>(inner, msg, &k);
        for l in 0..L {
            let (abcd, efgh) = from_ni(h[l].0, h[l].1);
            msg[l] = [abcd, efgh, pad_lo, pad_hi];
        }
        let o = compress::<L>(outer, msg, &k);
        for l in 0..L {
            u[l] = from_ni(o[l].0, o[l].1);
            acc[l].0 = _mm_xor_si128(acc[l].0, u[l].0);
            acc[l].1 = _mm_xor_si128(acc[l].1, u[l].1);
        }
    }
    let mut out = [[0u32; 8]; L];
    for l in 0..L {
        store(acc[l].0, &mut out[l][..4]);
        store(acc[l].1, &mut out[l][4..]);
    }
    out
}
