//! The boundary: every pointer a C caller passes is checked here before Rust touches it.
//!
//! The rules, the same for every function (and written in the header):
//! - a NULL pointer is refused with `BDA_ERR_NULL_POINTER`, a misaligned one with
//!   `BDA_ERR_MISALIGNED_POINTER`, before anything is read or written;
//! - outputs are written only when the call returns `BDA_OK`, with one whole-value write;
//! - buffers are given as a pointer and a length in elements; bda touches only the part of
//!   a buffer it needs, and never past the length the caller gave.
#![allow(unsafe_code, reason = "this module turns the caller's raw pointers into references")]

use core::ptr::NonNull;

use crate::status::bda_status;

/// Runs `body` and turns its result into the status a C function returns.
pub(crate) fn status_of(body: impl FnOnce() -> Result<(), bda_status>) -> bda_status {
    match body() {
        Ok(()) => bda_status::BDA_OK,
        Err(status) => status,
    }
}

/// Checks that `ptr` is neither NULL nor misaligned for `T`.
// Out of line: the C library checks some thirty pointers, and a call is shorter than the
// checks and their two statuses at each.
#[inline(never)]
pub(crate) fn checked<T>(ptr: *const T) -> Result<NonNull<T>, bda_status> {
    let ptr = NonNull::new(ptr.cast_mut()).ok_or(bda_status::BDA_ERR_NULL_POINTER)?;
    if ptr.is_aligned() { Ok(ptr) } else { Err(bda_status::BDA_ERR_MISALIGNED_POINTER) }
}

/// The `T` in the caller's opaque storage at `ptr` (a `bda_state` or a `bda_link_filter`),
/// once its first word holds `magic`, the marker its init wrote; `not_initialised` otherwise
/// (a zero-filled or foreign struct does not hold it).
///
/// # Safety
///
/// `T` must be `repr(C)` with a `u64` marker as its first field. `ptr` must be NULL or point
/// to storage valid for reads of a `T` (the header's struct is at least that large, which
/// each type asserts), that only bda's functions have written since their init, and that
/// nobody writes during the returned borrow.
pub(crate) unsafe fn marked<'a, T>(
    ptr: *const T,
    magic: u64,
    not_initialised: bda_status,
) -> Result<&'a T, bda_status> {
    let ptr = checked(ptr)?;
    // SAFETY: non-NULL and aligned; readable by the contract, and any bits are a `u64`. The
    // marker is read alone, before the rest is trusted.
    if unsafe { ptr.cast::<u64>().read() } != magic {
        return Err(not_initialised);
    }
    // SAFETY: the marker says the init wrote a `T` here, and by the contract only bda has
    // written it since and nobody writes it meanwhile.
    Ok(unsafe { ptr.as_ref() })
}

/// [`marked`] for changing the `T`.
///
/// # Safety
///
/// As for [`marked`], with storage valid for writes too, and nobody else reading or writing
/// it during the returned borrow.
pub(crate) unsafe fn marked_mut<'a, T>(
    ptr: *mut T,
    magic: u64,
    not_initialised: bda_status,
) -> Result<&'a mut T, bda_status> {
    let mut ptr = checked(ptr.cast_const())?;
    // SAFETY: as in `marked`.
    if unsafe { ptr.cast::<u64>().read() } != magic {
        return Err(not_initialised);
    }
    // SAFETY: as in `marked`, and the access is exclusive by the contract.
    Ok(unsafe { ptr.as_mut() })
}

/// An output parameter, checked, to be written once on success with [`Out::write`].
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Checks an output pointer.
    pub(crate) fn new(ptr: *mut T) -> Result<Self, bda_status> {
        checked(ptr.cast_const()).map(Self)
    }

    /// Writes the output: one whole value, without reading what was there.
    ///
    /// # Safety
    ///
    /// The pointer given to [`Out::new`] must be valid for a write of a `T` (the C caller's
    /// contract, stated on each function).
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: non-NULL and aligned (checked in `new`); valid for writes by this
        // function's contract. `write` does not read or drop the old contents, which may be
        // uninitialised.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// A shared view of `len` elements at `ptr`.
///
/// # Safety
///
/// `ptr`, once checked non-NULL and aligned, must point to at least `len` initialised
/// elements that nobody writes while the returned slice lives, and `len * size_of::<T>()`
/// must not exceed `isize::MAX` (the caller of this function caps `len` to what bda needs).
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], bda_status> {
    let ptr = checked(ptr)?;
    // SAFETY: non-NULL and aligned (checked above); the rest is this function's contract.
    Ok(unsafe { core::slice::from_raw_parts(ptr.as_ptr(), len) })
}

/// An exclusive view of `len` elements at `ptr`.
///
/// # Safety
///
/// As for [`slice`], and nothing else may read or write the elements while the returned
/// slice lives.
pub(crate) unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize) -> Result<&'a mut [T], bda_status> {
    let ptr = checked(ptr.cast_const())?;
    // SAFETY: non-NULL and aligned (checked above); the rest is this function's contract.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), len) })
}

/// The address range `[start, end)` of `len` elements of `T` at `ptr`, saturating.
pub(crate) fn span<T>(ptr: *const T, len: usize) -> (usize, usize) {
    let start = ptr.addr();
    (start, start.saturating_add(len.saturating_mul(size_of::<T>())))
}

/// Whether two address ranges share a byte.
pub(crate) fn overlap(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_misaligned_pointers_are_refused() {
        let words = [0_u64; 2];
        assert_eq!(checked(core::ptr::null::<u64>()).err(), Some(bda_status::BDA_ERR_NULL_POINTER));
        let misaligned = words.as_ptr().cast::<u8>().wrapping_add(1).cast::<u64>();
        assert_eq!(checked(misaligned).err(), Some(bda_status::BDA_ERR_MISALIGNED_POINTER));
        assert!(checked(words.as_ptr()).is_ok());
    }

    #[test]
    fn ranges_overlap_only_when_they_share_a_byte() {
        assert!(!overlap((0, 8), (8, 16)));
        assert!(overlap((0, 9), (8, 16)));
        assert!(!overlap((0, 0), (0, 8))); // empty
        assert_eq!(span(16 as *const u64, usize::MAX), (16, usize::MAX));
    }
}
