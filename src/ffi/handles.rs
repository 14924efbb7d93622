//! How Rust values cross the boundary as C pointers, and how C arguments are checked.
//!
//! Every opaque C type (`pcs_store`, `pcs_blob`, `pcs_hasher`) is a zero-sized Rust marker
//! whose pointers are really pointers to its backing Rust value. Each marker says how it owns
//! that value, so the casts live here once instead of in every function:
//! - [`ArcHandle`]: reference-counted and shareable across threads; the C pointer is
//!   `Arc::into_raw`, retain/release move the strong count;
//! - [`BoxHandle`]: single owner; the C pointer is `Box::into_raw`, freed exactly once.

use std::ffi::c_void;
use std::mem::{size_of, MaybeUninit};
use std::sync::Arc;

use super::result::{pcs_result, FfiError};

/// A C handle backed by an `Arc<Self::Rust>`.
pub(crate) trait ArcHandle: Sized {
    /// The value the handle points to.
    type Rust;

    /// Gives one strong reference to C.
    fn into_handle(value: Arc<Self::Rust>) -> *const Self {
        Arc::into_raw(value).cast()
    }

    /// Borrows the value behind a handle; `None` for NULL.
    ///
    /// # Safety
    /// `handle` is NULL or came from [`ArcHandle::into_handle`] of this type and still holds a
    /// strong reference for at least `'a`.
    unsafe fn borrow<'a>(handle: *const Self) -> Option<&'a Self::Rust> {
        // SAFETY: per this function's contract the pointer is NULL or points to a live value.
        unsafe { handle.cast::<Self::Rust>().as_ref() }
    }

    /// Borrows the value behind a handle, or says which argument was NULL.
    ///
    /// # Safety
    /// As [`ArcHandle::borrow`].
    unsafe fn arg<'a>(handle: *const Self, name: &'static str) -> Result<&'a Self::Rust, FfiError> {
        // SAFETY: forwarded contract.
        unsafe { Self::borrow(handle) }.ok_or_else(|| FfiError::null(name))
    }

    /// Adds one strong reference that C owns; NULL is a no-op.
    ///
    /// # Safety
    /// As [`ArcHandle::borrow`].
    unsafe fn retain(handle: *const Self) {
        if !handle.is_null() {
            // SAFETY: the handle holds a strong reference (contract), so the count is >= 1.
            unsafe { Arc::increment_strong_count(handle.cast::<Self::Rust>()) }
        }
    }

    /// Gives back one strong reference C owned; NULL is a no-op.
    ///
    /// # Safety
    /// `handle` is NULL or owns one strong reference from [`ArcHandle::into_handle`] or
    /// [`ArcHandle::retain`], which the caller never uses again.
    unsafe fn release(handle: *const Self) {
        if !handle.is_null() {
            // SAFETY: the caller hands over the strong reference it owned.
            drop(unsafe { Arc::from_raw(handle.cast::<Self::Rust>()) });
        }
    }
}

/// A C handle backed by a `Box<Self::Rust>`: one owner, not shared between threads at once.
pub(crate) trait BoxHandle: Sized {
    /// The value the handle points to.
    type Rust;

    /// Gives ownership of the value to C.
    fn into_handle(value: Box<Self::Rust>) -> *mut Self {
        Box::into_raw(value).cast()
    }

    /// Borrows the value mutably, or says which argument was NULL.
    ///
    /// # Safety
    /// `handle` is NULL or came from [`BoxHandle::into_handle`] of this type, is not yet freed,
    /// and is not used by anyone else for `'a`.
    unsafe fn arg_mut<'a>(
        handle: *mut Self,
        name: &'static str,
    ) -> Result<&'a mut Self::Rust, FfiError> {
        // SAFETY: per this function's contract the pointer is NULL or exclusively ours.
        unsafe { handle.cast::<Self::Rust>().as_mut() }.ok_or_else(|| FfiError::null(name))
    }

    /// Borrows the value, or says which argument was NULL.
    ///
    /// # Safety
    /// `handle` is NULL or came from [`BoxHandle::into_handle`] of this type, is not yet freed,
    /// and is not mutated for `'a`.
    unsafe fn arg<'a>(handle: *const Self, name: &'static str) -> Result<&'a Self::Rust, FfiError> {
        // SAFETY: per this function's contract the pointer is NULL or points to a live value.
        unsafe { handle.cast::<Self::Rust>().as_ref() }.ok_or_else(|| FfiError::null(name))
    }

    /// Drops the value; NULL is a no-op.
    ///
    /// # Safety
    /// `handle` is NULL or came from [`BoxHandle::into_handle`] of this type and is never used
    /// again.
    unsafe fn free(handle: *mut Self) {
        if !handle.is_null() {
            // SAFETY: the caller hands over the ownership `into_handle` gave it.
            drop(unsafe { Box::from_raw(handle.cast::<Self::Rust>()) });
        }
    }
}

/// Borrows a required pointer argument.
///
/// # Errors
/// `PCS_ERR_NULL_ARGUMENT` naming `name` when `ptr` is NULL.
///
/// # Safety
/// `ptr` is NULL or valid for reads of a `T` for `'a`.
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, name: &'static str) -> Result<&'a T, FfiError> {
    // SAFETY: forwarded contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| FfiError::null(name))
}

/// Checks a required out-pointer before any work is done, so nothing is written on failure.
///
/// # Errors
/// `PCS_ERR_NULL_ARGUMENT` naming `name` when `ptr` is NULL.
pub(crate) fn arg_out<T>(ptr: *mut T, name: &'static str) -> Result<*mut T, FfiError> {
    if ptr.is_null() {
        Err(FfiError::null(name))
    } else {
        Ok(ptr)
    }
}

/// Borrows a `(pointer, length)` byte range. A zero length needs no pointer (NULL is fine).
///
/// # Errors
/// `PCS_ERR_NULL_ARGUMENT` when `data` is NULL with a non-zero `len`.
///
/// # Safety
/// When `len > 0` and `data` is not NULL, `data` is valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn arg_bytes<'a>(
    data: *const c_void,
    len: usize,
    name: &'static str,
) -> Result<&'a [u8], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(FfiError::new(
            pcs_result::PCS_ERR_NULL_ARGUMENT,
            format!("`{name}` is NULL with a length of {len}"),
        ));
    }
    if len > isize::MAX as usize {
        return Err(FfiError::new(
            pcs_result::PCS_ERR_TOO_LARGE,
            format!("`{name}` length {len} exceeds the address space"),
        ));
    }
    // SAFETY: non-NULL, `len <= isize::MAX`, and valid for `len` bytes per the contract.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// Largest `struct_size` accepted: larger values are garbage, not a future struct.
const MAX_STRUCT_SIZE: usize = 4096;

/// A `#[repr(C)]` struct that starts with `size_t struct_size` and can grow by appending
/// fields, read and written the way Linux reads extensible syscall structs: a caller built
/// against an older header passes a shorter struct (the missing fields read as zero, which
/// always means "default"); a caller built against a newer header passes a longer one, which is
/// accepted only when every byte this library does not know is zero, so no setting is ever
/// ignored silently.
///
/// # Safety
/// Implementors are `#[repr(C)]`, start with a `usize` field holding the size, and every bit
/// pattern (all zeros included) is a valid value: integers, arrays of them, raw pointers.
pub(crate) unsafe trait Extensible: Copy {
    /// `sizeof` the first published version of the struct: the smallest `struct_size` accepted.
    /// Frozen with [`version_1_size!`], never `size_of::<Self>()`: once a field is appended,
    /// `size_of` grows and every caller built against the older header would be refused.
    const MIN_SIZE: usize;
}

/// The `sizeof` a `#[repr(C)]` struct `S` has when the field at `offset` (of type `F`, named by
/// `_field`) is its last: that field's end rounded up to `S`'s alignment.
pub(crate) const fn size_through_field<S, F>(offset: usize, _field: fn(&S) -> &F) -> usize {
    (offset + size_of::<F>()).next_multiple_of(std::mem::align_of::<S>())
}

/// The size of an extensible struct's first published version, for [`Extensible::MIN_SIZE`]:
/// `version_1_size!(pcs_x, last_field_of_version_1, lp64 = N)`.
///
/// Computed from the last version-1 field, so it stays the same when fields are appended after
/// it, and checked at compile time against `N`, the same size written out for 64-bit targets:
/// naming a newer field, reordering or resizing version-1 fields fails the build instead of
/// silently refusing (or misreading) older callers' structs.
macro_rules! version_1_size {
    ($ty:ident, $last:ident, lp64 = $lp64:literal) => {{
        const SIZE: usize = $crate::ffi::handles::size_through_field(
            ::std::mem::offset_of!($ty, $last),
            |value: &$ty| &value.$last,
        );
        #[cfg(target_pointer_width = "64")]
        const _: () = assert!(
            SIZE == $lp64,
            concat!(
                "the version-1 size of ",
                stringify!($ty),
                " is frozen at ",
                stringify!($lp64),
                " bytes on 64-bit targets: append new fields after `",
                stringify!($last),
                "`, never change or reorder the ones before"
            )
        );
        SIZE
    }};
}
pub(crate) use version_1_size;

/// Validates a caller's `struct_size`.
fn checked_struct_size<T: Extensible>(
    struct_size: usize,
    name: &'static str,
) -> Result<usize, FfiError> {
    if struct_size < T::MIN_SIZE || struct_size > MAX_STRUCT_SIZE {
        return Err(FfiError::invalid(format!(
            "`{name}->struct_size` is {struct_size}; expected sizeof of the struct ({} in this \
             library, at least {})",
            size_of::<T>(),
            T::MIN_SIZE
        )));
    }
    Ok(struct_size)
}

/// Reads an extensible input struct (see [`Extensible`]).
///
/// # Errors
/// `PCS_ERR_NULL_ARGUMENT` when `ptr` is NULL; `PCS_ERR_INVALID_ARGUMENT` when its
/// `struct_size` is below the first version's size or above `MAX_STRUCT_SIZE`;
/// `PCS_ERR_ABI_MISMATCH` when it sets (non-zero) fields beyond those this library knows.
///
/// # Safety
/// `ptr` is NULL or valid for reads of its own `struct_size` bytes.
pub(crate) unsafe fn read_extensible<T: Extensible>(
    ptr: *const T,
    name: &'static str,
) -> Result<T, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: a non-NULL struct pointer is valid for at least its first field.
    let given = unsafe { ptr.cast::<usize>().read() };
    let given = checked_struct_size::<T>(given, name)?;
    let known = size_of::<T>();
    let bytes = ptr.cast::<u8>();
    if given > known {
        // SAFETY: the caller vouches for `given` readable bytes.
        let unknown = unsafe { std::slice::from_raw_parts(bytes.add(known), given - known) };
        if unknown.iter().any(|byte| *byte != 0) {
            return Err(FfiError::new(
                pcs_result::PCS_ERR_ABI_MISMATCH,
                format!(
                    "`{name}` sets fields this library version does not know (struct_size \
                     {given} > {known}); upgrade libpcstore or leave them zero"
                ),
            ));
        }
    }
    let mut value = MaybeUninit::<T>::zeroed();
    // SAFETY: copies `min(given, known)` readable bytes into a zeroed `T`; `T` is valid for any
    // bit pattern (the `Extensible` contract), so the result is initialised.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes, value.as_mut_ptr().cast::<u8>(), given.min(known));
        Ok(value.assume_init())
    }
}

/// Checks an extensible output struct's `struct_size` without writing, for functions that must
/// refuse a bad one before doing work they could not undo.
///
/// # Errors
/// `PCS_ERR_NULL_ARGUMENT` when `out` is NULL; `PCS_ERR_INVALID_ARGUMENT` when its
/// `struct_size` is below the first version's size or above `MAX_STRUCT_SIZE`.
///
/// # Safety
/// `out` is NULL or valid for reads of its first field.
#[cfg_attr(not(feature = "vulkan"), allow(dead_code))] // only the Vulkan functions need it
pub(crate) unsafe fn check_extensible_out<T: Extensible>(
    out: *const T,
    name: &'static str,
) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: a non-NULL struct pointer is valid for at least its first field.
    let given = unsafe { out.cast::<usize>().read() };
    checked_struct_size::<T>(given, name).map(|_| ())
}

/// Writes an extensible output struct: as many bytes as both sides know, with `struct_size`
/// set to that count, so an older caller's shorter struct is filled without overrun and a newer
/// caller can tell which of its fields this library filled.
///
/// # Errors
/// As [`check_extensible_out`]; nothing is written then.
///
/// # Safety
/// `out` is NULL or valid for reads and writes of its own `struct_size` bytes.
pub(crate) unsafe fn write_extensible<T: Extensible>(
    out: *mut T,
    value: &T,
    name: &'static str,
) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: a non-NULL struct pointer is valid for at least its first field.
    let given = unsafe { out.cast::<usize>().read() };
    let filled = checked_struct_size::<T>(given, name)?.min(size_of::<T>());
    // SAFETY: `filled` bytes fit both in `value` and in the caller's struct; `copy` is untyped,
    // so padding bytes are copied as they are. `struct_size` sits at offset 0.
    unsafe {
        std::ptr::copy_nonoverlapping(
            std::ptr::from_ref::<T>(value).cast::<u8>(),
            out.cast::<u8>(),
            filled,
        );
        out.cast::<usize>().write(filled);
    }
    Ok(())
}
