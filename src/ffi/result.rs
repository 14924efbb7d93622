//! Result codes, the thread-local last error, and how a function body's outcome becomes a C
//! return value.

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::c_char;

/// What every `pcs_*` function that can fail returns (an `int32_t`).
///
/// The values are fixed forever: codes are only ever added. `PCS_OK` and `PCS_MISS` are not
/// errors; every negative value is. After a negative result, `pcs_last_error` holds a detail
/// message on the calling thread.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum pcs_result {
    /// Success.
    PCS_OK = 0,
    /// A lookup found nothing under the key. Not an error; no out-parameter was written.
    PCS_MISS = 1,
    /// A pointer argument that must not be NULL was NULL.
    PCS_ERR_NULL_ARGUMENT = -1,
    /// An argument is out of range (a bad `struct_size`, a zero count, an unknown version).
    PCS_ERR_INVALID_ARGUMENT = -2,
    /// The caller's buffer is smaller than the blob; `*len` holds the size needed.
    PCS_ERR_BUFFER_TOO_SMALL = -3,
    /// The blob is larger than the store accepts.
    PCS_ERR_TOO_LARGE = -4,
    /// An operating-system I/O operation failed.
    PCS_ERR_IO = -5,
    /// Stored data failed verification.
    PCS_ERR_CORRUPT = -6,
    /// The store cannot do this (it is read-only, disabled, or dropped the request).
    PCS_ERR_UNSUPPORTED = -7,
    /// A Vulkan call failed.
    PCS_ERR_VULKAN = -8,
    /// The caller was built against a newer ABI than this library provides.
    PCS_ERR_ABI_MISMATCH = -9,
    /// A bug inside pcstore: a Rust panic was caught at the boundary. The handle stays usable;
    /// the failed call's effect is unknown.
    PCS_ERR_PANIC = -100,
}

impl pcs_result {
    /// Every code, for the string table and tests.
    pub(crate) const ALL: [pcs_result; 12] = [
        Self::PCS_OK,
        Self::PCS_MISS,
        Self::PCS_ERR_NULL_ARGUMENT,
        Self::PCS_ERR_INVALID_ARGUMENT,
        Self::PCS_ERR_BUFFER_TOO_SMALL,
        Self::PCS_ERR_TOO_LARGE,
        Self::PCS_ERR_IO,
        Self::PCS_ERR_CORRUPT,
        Self::PCS_ERR_UNSUPPORTED,
        Self::PCS_ERR_VULKAN,
        Self::PCS_ERR_ABI_MISMATCH,
        Self::PCS_ERR_PANIC,
    ];

    /// A static, NUL-terminated description.
    fn description(self) -> &'static str {
        match self {
            Self::PCS_OK => "PCS_OK: success\0",
            Self::PCS_MISS => "PCS_MISS: nothing stored under this key\0",
            Self::PCS_ERR_NULL_ARGUMENT => "PCS_ERR_NULL_ARGUMENT: a required pointer was NULL\0",
            Self::PCS_ERR_INVALID_ARGUMENT => {
                "PCS_ERR_INVALID_ARGUMENT: an argument is out of range\0"
            }
            Self::PCS_ERR_BUFFER_TOO_SMALL => {
                "PCS_ERR_BUFFER_TOO_SMALL: the buffer is too small; *len holds the size needed\0"
            }
            Self::PCS_ERR_TOO_LARGE => {
                "PCS_ERR_TOO_LARGE: the blob is larger than the store accepts\0"
            }
            Self::PCS_ERR_IO => "PCS_ERR_IO: an I/O operation failed\0",
            Self::PCS_ERR_CORRUPT => "PCS_ERR_CORRUPT: stored data failed verification\0",
            Self::PCS_ERR_UNSUPPORTED => "PCS_ERR_UNSUPPORTED: the store cannot do this\0",
            Self::PCS_ERR_VULKAN => "PCS_ERR_VULKAN: a Vulkan call failed\0",
            Self::PCS_ERR_ABI_MISMATCH => {
                "PCS_ERR_ABI_MISMATCH: the caller needs a newer pcstore ABI than this library\0"
            }
            Self::PCS_ERR_PANIC => "PCS_ERR_PANIC: internal error (a caught panic) in pcstore\0",
        }
    }
}

/// A static, NUL-terminated, English description of a result code, starting with its name
/// (e.g. `"PCS_MISS: ..."`).
///
/// Any `int32_t` is accepted: an unknown value gives `"unknown pcs_result"`. Never returns NULL.
/// The string lives as long as the library is loaded; do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn pcs_result_str(result: i32) -> *const c_char {
    crate::ffi::ffi_boundary!("pcs_result_str", || -> *const c_char {
        static_description(
            result,
            &pcs_result::ALL,
            |code| code as i32,
            pcs_result::description,
            "unknown pcs_result\0",
        )
    })
}

/// The static NUL-terminated description of the C enum value `value` among `all` (matched by
/// `code`), or `unknown` (NUL-terminated too) for a value none of them has: what every
/// `pcs_*_str` function returns.
pub(crate) fn static_description<T: Copy>(
    value: i32,
    all: &[T],
    code: fn(T) -> i32,
    description: fn(T) -> &'static str,
    unknown: &'static str,
) -> *const c_char {
    let text = all
        .iter()
        .copied()
        .find(|known| code(*known) == value)
        .map_or(unknown, description);
    debug_assert!(text.ends_with('\0'), "{text:?} is not NUL-terminated");
    text.as_ptr().cast()
}

/// Copies this thread's last error message into `buf` and returns its full length in bytes
/// (excluding the terminating NUL); 0 when no call on this thread has failed yet.
///
/// The message describes the most recent call on this thread that returned an error (a
/// negative `pcs_result`, or a `void` function that was misused); successful calls leave it
/// unchanged, as `errno` does. `snprintf`-style: when `buf` is not NULL and `len > 0`, at most
/// `len - 1` bytes are copied and a NUL is always written, so a return value `>= len` means the
/// message was truncated. `buf == NULL` (or `len == 0`) only returns the length. Thread-safe:
/// each thread has its own message.
///
/// # Safety
/// `buf`, when not NULL, must be valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pcs_last_error(buf: *mut c_char, len: usize) -> usize {
    crate::ffi::ffi_boundary!("pcs_last_error", || -> usize {
        LAST_ERROR
            .try_with(|slot| {
                let message = slot.borrow();
                if !buf.is_null() && len > 0 {
                    let copied = message.len().min(len - 1);
                    // SAFETY: the caller guarantees `buf` is valid for `len` bytes and
                    // `copied + 1 <= len`; the message is ours and cannot overlap it.
                    unsafe {
                        std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), copied);
                        buf.add(copied).write(0);
                    }
                }
                message.len()
            })
            .unwrap_or(0)
    })
}

thread_local! {
    /// The detail message of the last failed call on this thread.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Replaces this thread's last error message. Silently does nothing while the thread is being
/// torn down (its thread-locals already destroyed).
fn set_last_error(function: &str, message: &str) {
    let _ = LAST_ERROR.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        slot.clear();
        slot.push_str(function);
        slot.push_str(": ");
        slot.push_str(message);
    });
}

/// A failure inside an exported function: the code it returns and the detail message.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub(crate) code: pcs_result,
    pub(crate) message: Cow<'static, str>,
}

impl FfiError {
    pub(crate) fn new(code: pcs_result, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A required pointer argument was NULL.
    pub(crate) fn null(argument: &'static str) -> Self {
        Self::new(
            pcs_result::PCS_ERR_NULL_ARGUMENT,
            format!("`{argument}` is NULL"),
        )
    }

    /// An argument is out of range.
    pub(crate) fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(pcs_result::PCS_ERR_INVALID_ARGUMENT, message)
    }
}

/// The outcome of a function body whose C return value is a `pcs_result`.
pub(crate) type FfiResult = Result<pcs_result, FfiError>;

/// How a function body's value becomes the C return value, and what a panic returns.
pub(crate) trait BoundaryOutcome {
    /// The C return type.
    type Output;
    /// Converts the body's value, recording an error's message under `function`'s name.
    fn finish(self, function: &'static str) -> Self::Output;
    /// What the function returns after a caught panic.
    fn on_panic() -> Self::Output;
}

impl BoundaryOutcome for FfiResult {
    type Output = pcs_result;
    #[inline]
    fn finish(self, function: &'static str) -> pcs_result {
        match self {
            Ok(code) => code,
            Err(error) => {
                set_last_error(function, &error.message);
                error.code
            }
        }
    }
    fn on_panic() -> pcs_result {
        pcs_result::PCS_ERR_PANIC
    }
}

/// `void` functions that can still be misused: the message is recorded, nothing returned.
impl BoundaryOutcome for Result<(), FfiError> {
    type Output = ();
    #[inline]
    fn finish(self, function: &'static str) {
        if let Err(error) = self {
            set_last_error(function, &error.message);
        }
    }
    fn on_panic() {}
}

/// Plain values (accessors that cannot fail): a panic gives the type's neutral value.
macro_rules! plain_outcome {
    ($($ty:ty => $on_panic:expr),* $(,)?) => {$(
        impl BoundaryOutcome for $ty {
            type Output = $ty;
            #[inline]
            fn finish(self, _function: &'static str) -> $ty {
                self
            }
            fn on_panic() -> $ty {
                $on_panic
            }
        }
    )*};
}

plain_outcome! {
    () => (),
    usize => 0,
    u32 => 0,
}

impl<T> BoundaryOutcome for *const T {
    type Output = *const T;
    #[inline]
    fn finish(self, _function: &'static str) -> *const T {
        self
    }
    fn on_panic() -> *const T {
        std::ptr::null()
    }
}

/// Ends [`ffi_boundary!`](crate::ffi::ffi_boundary): the body's outcome, or a caught panic.
#[inline]
pub(crate) fn conclude<T: BoundaryOutcome>(
    function: &'static str,
    outcome: std::thread::Result<T>,
) -> T::Output {
    match outcome {
        Ok(value) => value.finish(function),
        Err(payload) => {
            set_last_error(
                function,
                &format!("internal panic: {}", panic_message(&*payload)),
            );
            T::on_panic()
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}
