//! The PBKDF2 round loop on `sha2::compress256` (which picks the CPU's SHA instructions by
//! itself where it can): used where `ni` is not available, and for the HMAC pad states.

use zeroize::Zeroize;

use super::{Start, ROUND_MESSAGE_BITS, SHA256_IV};

/// One 64-byte SHA-256 block.
type Block = sha2::digest::generic_array::GenericArray<u8, sha2::digest::consts::U64>;

/// SHA-256 state after absorbing one 64-byte block (an HMAC pad block).
pub(crate) fn pad_state(pad_block: &[u8; 64]) -> [u32; 8] {
    let mut block = Block::clone_from_slice(pad_block);
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, std::slice::from_ref(&block));
    block.zeroize();
    state
}

/// Writes `state` big-endian into the first 32 bytes of `block`.
fn store(block: &mut Block, state: &[u32; 8]) {
    for (chunk, word) in block[..32].chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

/// Rounds 2..=`rounds`: returns U1 ^ U2 ^ … as words.
pub(crate) fn iterate(s: &Start, rounds: u32) -> [u32; 8] {
    // U fills the first half of the block; then the 0x80 terminator and the bit length.
    let mut block = Block::default();
    store(&mut block, &s.u1);
    block[32] = 0x80;
    block[60..].copy_from_slice(&ROUND_MESSAGE_BITS.to_be_bytes());
    let mut acc = s.u1;
    for _ in 1..rounds {
        let mut state = s.inner;
        sha2::compress256(&mut state, std::slice::from_ref(&block));
        store(&mut block, &state);
        state = s.outer;
        sha2::compress256(&mut state, std::slice::from_ref(&block));
        store(&mut block, &state);
        for (a, w) in acc.iter_mut().zip(&state) {
            *a ^= w;
        }
        state.zeroize();
    }
    block.zeroize();
    acc
}
