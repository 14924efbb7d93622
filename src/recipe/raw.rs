//! Reading the application's Vulkan structures (recording) and laying out new ones (rebuilding).
//!
//! Recording only reads: chains are walked through `*const` pointers, nothing is written.
//! Rebuilt structures point only into the heap buffers of `Vec`s their builder owns and never
//! touches again, so the pointers stay valid wherever the builder moves.

use std::ffi::{c_char, c_void, CStr};

use ash::vk;

use super::error::{BuildError, NotRecorded};

/// Most pNext links read: object chains have a handful, device chains a few dozen feature
/// structures (translation layers enable many); a cycle must not loop forever.
const MAX_CHAIN_LINKS: usize = 256;

/// Calls `visit` with the sType and address of each structure in the chain at `p_next`.
/// `visit` answers whether it knows the sType; the first it does not know ends the walk with
/// [`NotRecorded::UnknownStructure`], so nothing is recorded from a chain read partially.
///
/// # Safety
/// `p_next` must be null or the start of a valid pNext chain (Vulkan's rules for the
/// application's create-info).
pub(crate) unsafe fn walk_chain(
    p_next: *const c_void,
    within: &'static str,
    mut visit: impl FnMut(
        vk::StructureType,
        *const vk::BaseInStructure<'static>,
    ) -> Result<bool, NotRecorded>,
) -> Result<(), NotRecorded> {
    let mut link = p_next.cast::<vk::BaseInStructure<'static>>();
    for _ in 0..MAX_CHAIN_LINKS {
        if link.is_null() {
            return Ok(());
        }
        // SAFETY: a non-null link of a valid chain starts with sType and pNext (caller).
        let base = unsafe { &*link };
        if !visit(base.s_type, link)? {
            return Err(NotRecorded::UnknownStructure {
                within,
                s_type: base.s_type,
            });
        }
        link = base.p_next;
    }
    Err(NotRecorded::Unsupported(
        "a pNext chain longer than 64 structures",
    ))
}

/// The chain entry `entry` as the structure its sType names.
///
/// # Safety
/// `entry` must point at a live `T` (its sType says so) that outlives `'a`.
pub(crate) unsafe fn cast<'a, T>(entry: *const vk::BaseInStructure<'static>) -> &'a T {
    // SAFETY: the caller matched the sType to `T`.
    unsafe { &*entry.cast::<T>() }
}

/// The array of `count` elements at `pointer` (empty when `count` is 0, whatever `pointer`).
///
/// # Safety
/// When `count` is non-zero and `pointer` non-null, `pointer` must point at `count` live
/// elements that outlive `'a`.
pub(crate) unsafe fn array<'a, T>(pointer: *const T, count: u32) -> Result<&'a [T], NotRecorded> {
    if count == 0 {
        return Ok(&[]);
    }
    if pointer.is_null() {
        return Err(NotRecorded::Unsupported(
            "a null array with a non-zero count",
        ));
    }
    // SAFETY: `count` elements at `pointer` (caller).
    Ok(unsafe { std::slice::from_raw_parts(pointer, count as usize) })
}

/// The bytes of a NUL-terminated name (without the NUL).
///
/// # Safety
/// `name` must be null or point at a NUL-terminated string.
pub(crate) unsafe fn name(name: *const c_char) -> Result<Vec<u8>, NotRecorded> {
    if name.is_null() {
        return Err(NotRecorded::Unsupported("a null name"));
    }
    // SAFETY: NUL-terminated (caller).
    Ok(unsafe { CStr::from_ptr(name) }.to_bytes().to_vec())
}

/// A `VkBool32` as read by Vulkan: anything but 0 is true.
pub(crate) fn boolean(value: vk::Bool32) -> bool {
    value != vk::FALSE
}

/// A `bool` as a `VkBool32`.
pub(crate) fn bool32(value: bool) -> vk::Bool32 {
    vk::Bool32::from(value)
}

/// A count and pointer for `items` (null when empty).
pub(crate) fn parts<T>(items: &[T]) -> (u32, *const T) {
    if items.is_empty() {
        (0, std::ptr::null())
    } else {
        // Every list in a recipe was either read from a u32 count or parsed under one.
        (items.len() as u32, items.as_ptr())
    }
}

/// `name` with a terminating NUL, for a `const char*` that lives as long as the buffer.
pub(crate) fn c_name(name: &[u8], what: &'static str) -> Result<Vec<u8>, BuildError> {
    if name.contains(&0) {
        return Err(BuildError::Inconsistent(what));
    }
    let mut terminated = Vec::with_capacity(name.len() + 1);
    terminated.extend_from_slice(name);
    terminated.push(0);
    Ok(terminated)
}

/// The address of the only element of `single` as an untyped pNext link.
pub(crate) fn link<T>(single: &[T]) -> *const c_void {
    single.as_ptr().cast()
}

/// pNext links for a list of structures of which only some carry an extension structure:
/// `extensions` holds those, in list order; [`OptionalLinks::next`] gives each structure's
/// link in turn (null for one without).
pub(crate) struct OptionalLinks<'a, T> {
    extensions: &'a [T],
    used: usize,
}

impl<'a, T> OptionalLinks<'a, T> {
    pub(crate) fn new(extensions: &'a [T]) -> Self {
        Self {
            extensions,
            used: 0,
        }
    }

    /// The link of the next structure in the list, which has an extension when `has_one`.
    pub(crate) fn next(&mut self, has_one: bool) -> *const c_void {
        if !has_one {
            return std::ptr::null();
        }
        self.used += 1;
        link(&self.extensions[self.used - 1..])
    }
}
