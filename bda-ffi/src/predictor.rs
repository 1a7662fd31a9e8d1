//! The PPC page predictor over caller buffers: which dirty pages to hold back because they
//! will likely be dirtied again.
//!
//! Each page keeps the last `H` rounds' dirty bits; its estimated probability of being
//! dirtied again is the share of those rounds in which it was dirty. A page dirtied in the
//! last round is held back when that estimate reaches the threshold and it has been held
//! back fewer than `K` rounds in a row; the stop-and-copy round sends every held page.
//!
//! Buffers are arrays of `uint64_t` words, page `p` being bit `p % 64` of word `p / 64`:
//! the caller's dirty bitmap, the send bitmap bda fills, and the predictor's storage
//! (`H + bits(K)` words per 64 pages), all sized by `bda_predictor_words`.
#![allow(unsafe_code, reason = "exports C symbols and reads the caller's buffers")]

use bda_core::{PredictorRound, RoundKind};

use crate::ffi::{Out, checked, overlap, slice, slice_mut, span, status_of};
use crate::state::{Migration, bda_state};
use crate::status::bda_status;

/// What a round's plan sends and holds back, from `bda_predictor_plan_round`.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_predictor_result {
    /// Pages marked in the send bitmap.
    pub send_pages: u64,
    /// Pages held back in this round (pending after it).
    pub deferred_pages: u64,
}

/// The most words a buffer may have for a slice of it to be valid in Rust.
const MAX_WORDS: usize = isize::MAX.unsigned_abs() / size_of::<u64>();

/// The predictor and its sizes: storage words and bitmap words.
fn sizes(migration: &Migration) -> Result<(usize, usize), bda_status> {
    let predictor = migration.predictor.as_ref().ok_or(bda_status::BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE)?;
    let storage = predictor.storage_words();
    if storage > MAX_WORDS {
        return Err(bda_status::BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE);
    }
    Ok((storage, predictor.bitmap_words()))
}

/// The sizes of the predictor's buffers for this migration, in `uint64_t` words: its
/// storage (`ceil(pages / 64) * (H + bits(K))`, with `H = predictor_history_rounds` and
/// `bits(K)` the bit length of `predictor_max_deferrals`: 10 words per 64 pages by
/// default) and each bitmap (`ceil(pages / 64)`).
///
/// Parameters:
///
/// - `state`: an initialised migration.
/// - `storage_words`: receives the storage's size.
/// - `bitmap_words`: receives the size of the dirty and send bitmaps.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER`,
/// `BDA_ERR_STATE_NOT_INITIALISED`; `BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE` when the memory has
/// more pages than the predictor can address on this target. Outputs are written only on
/// success.
///
/// NULL: no pointer may be NULL. Thread safety: reads `state` only.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched; the two
/// outputs must be NULL or valid for writing a `size_t` each.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_predictor_words(
    state: *const bda_state,
    storage_words: *mut usize,
    bitmap_words: *mut usize,
) -> bda_status {
    status_of(|| {
        let storage_out = Out::new(storage_words)?;
        let bitmap_out = Out::new(bitmap_words)?;
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get(state)? };
        let (storage, bitmap) = sizes(migration)?;
        // SAFETY: the function's contract: both outputs are valid for a write.
        unsafe { storage_out.write(storage) };
        // SAFETY: as above.
        unsafe { bitmap_out.write(bitmap) };
        Ok(())
    })
}

/// Clears the predictor's storage: no history, nothing held back. Call it once before the
/// first `bda_predictor_plan_round` (and again to start over).
///
/// Ownership: the caller owns `storage` and keeps it, unchanged between calls, for the
/// whole migration; bda keeps no pointer to it.
///
/// Parameters:
///
/// - `state`: an initialised migration.
/// - `storage`: the storage, 8-byte aligned.
/// - `storage_words`: its length in words: at least what `bda_predictor_words` reports.
///   Only that many words are written.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER`,
/// `BDA_ERR_STATE_NOT_INITIALISED`; `BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE`;
/// `BDA_ERR_STORAGE_TOO_SMALL`, and then nothing was written.
///
/// NULL: no pointer may be NULL. Thread safety: reads `state` only; writes `storage`.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched; `storage`
/// must be NULL or valid for reading and writing `storage_words` words, and must not
/// overlap `state`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_predictor_init(
    state: *const bda_state,
    storage: *mut u64,
    storage_words: usize,
) -> bda_status {
    status_of(|| {
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get(state)? };
        let (needed, _) = sizes(migration)?;
        // SAFETY: the function's contract; the length is capped at what the predictor
        // needs, which `sizes` keeps within `isize::MAX` bytes.
        let storage = unsafe { slice_mut(storage, storage_words.min(needed))? };
        let predictor = migration.predictor.as_ref().ok_or(bda_status::BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE)?;
        predictor.init_storage(storage)?;
        Ok(())
    })
}

/// Decides which pages this round sends. Call it right after `bda_begin_round` of every
/// round from round 2 on, with the dirty bitmap gathered while the previous round ran. In
/// a live round it holds back pages likely to be dirtied again; in the stop-and-copy round
/// it sends every dirty and every held page. Report the held pages in `bda_end_round`'s
/// `remaining_bytes`.
///
/// Ownership: the caller owns all three buffers; bda keeps no pointer to them.
///
/// Parameters:
///
/// - `state`: an initialised migration with round 2 or later in progress.
/// - `storage`, `storage_words`: the storage given to `bda_predictor_init`.
/// - `dirty`, `dirty_words`: the pages dirtied while the previous round ran; read only.
///   Bits past the last page are ignored.
/// - `send`, `send_words`: receives the pages to send now. Words past the bitmap's size
///   are left alone.
/// - `result`: receives the counts.
///
/// The three buffers must not overlap. Only the words `bda_predictor_words` reports are
/// touched in each.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER`,
/// `BDA_ERR_STATE_NOT_INITIALISED`; `BDA_ERR_NO_ROUND_IN_PROGRESS` (also after the
/// migration ended), `BDA_ERR_FIRST_ROUND`; `BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE`;
/// `BDA_ERR_BUFFERS_OVERLAP`; `BDA_ERR_STORAGE_TOO_SMALL`, `BDA_ERR_DIRTY_BITMAP_TOO_SMALL`
/// or `BDA_ERR_SEND_BITMAP_TOO_SMALL`. On any error no buffer, no output and no state
/// changes.
///
/// NULL: no pointer may be NULL. Thread safety: no other call may use `state` meanwhile.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched; each
/// buffer must be NULL or valid for its length in words (`dirty` for reading, the others
/// for reading and writing); `result` must be NULL or valid for writing a
/// `bda_predictor_result`; none may overlap `state`.
#[allow(clippy::too_many_arguments, reason = "three buffers, each a pointer and a length")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_predictor_plan_round(
    state: *mut bda_state,
    storage: *mut u64,
    storage_words: usize,
    dirty: *const u64,
    dirty_words: usize,
    send: *mut u64,
    send_words: usize,
    result: *mut bda_predictor_result,
) -> bda_status {
    status_of(|| {
        let out = Out::new(result)?;
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get_mut(state)? };
        let round = match migration.controller.round_in_progress() {
            None => return Err(bda_status::BDA_ERR_NO_ROUND_IN_PROGRESS),
            Some(RoundKind::First) => return Err(bda_status::BDA_ERR_FIRST_ROUND),
            Some(RoundKind::Live) => PredictorRound::Live,
            Some(RoundKind::StopAndCopy) => PredictorRound::StopAndCopy,
        };
        let (storage_needed, bitmap_needed) = sizes(migration)?;
        // Only the part bda needs is ever viewed, so a caller's oversized length is harmless
        // and every view stays within `isize::MAX` bytes.
        let storage_words = storage_words.min(storage_needed);
        let dirty_words = dirty_words.min(bitmap_needed);
        let send_words = send_words.min(bitmap_needed);
        // NULL and misalignment first: they are the more specific complaint.
        checked(storage.cast_const())?;
        checked(dirty)?;
        checked(send.cast_const())?;
        let (s, d, n) = (span(storage, storage_words), span(dirty, dirty_words), span(send, send_words));
        if overlap(s, d) || overlap(s, n) || overlap(d, n) {
            return Err(bda_status::BDA_ERR_BUFFERS_OVERLAP);
        }
        // SAFETY: the function's contract; the three buffers do not overlap (checked
        // above) and their lengths are capped as described.
        let storage = unsafe { slice_mut(storage, storage_words)? };
        // SAFETY: as above.
        let dirty = unsafe { slice(dirty, dirty_words)? };
        // SAFETY: as above.
        let send = unsafe { slice_mut(send, send_words)? };
        let predictor = migration.predictor.as_mut().ok_or(bda_status::BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE)?;
        let plan = predictor.plan_round(storage, dirty, send, round)?;
        // SAFETY: the function's contract: `result` is valid for a write.
        unsafe { out.write(bda_predictor_result { send_pages: plan.send.0, deferred_pages: plan.deferred.0 }) };
        Ok(())
    })
}
