//! What every exported function shares: the panic guard, the thread-local
//! last error, and turning C pointers into Rust references with checks.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::types::{sack_tcp, sack_tcp_result, SACK_TCP_OK};
use crate::error::{Code, Error, Result};
use crate::socket::Socket;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `error` as this thread's last error message.
pub fn set_last_error(error: &Error) {
    let text = to_c_string(&error.to_string());
    LAST_ERROR.with(|slot| *slot.borrow_mut() = text);
}

pub fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// A C string of `text`, with any interior NUL replaced so nothing is lost
/// silently.
pub fn to_c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).expect("NULs were replaced")
}

/// Runs an exported function's body: a panic becomes `SACK_TCP_ERR_PANIC`
/// and an error becomes its code, with the message kept for
/// `sack_tcp_last_error_message`.
pub fn guard(body: impl FnOnce() -> Result<()>) -> sack_tcp_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => SACK_TCP_OK,
        Ok(Err(error)) => {
            set_last_error(&error);
            error.code() as sack_tcp_result
        }
        Err(_) => {
            set_last_error(&Error::new(
                Code::Panic,
                "internal error: a panic was caught",
            ));
            Code::Panic as sack_tcp_result
        }
    }
}

/// As [`guard`] for functions that return a value instead of a code.
pub fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

pub fn null(name: &str) -> Error {
    Error::new(Code::NullPointer, format!("`{name}` is NULL"))
}

/// The socket behind a handle.
///
/// # Safety
/// `handle` must be NULL or a handle the caller still holds a reference to
/// (or one passed to the callback that is running).
pub unsafe fn socket<'a>(handle: *const sack_tcp) -> Result<&'a Socket> {
    if handle.is_null() {
        return Err(null("socket"));
    }
    // SAFETY: per this function's contract the pointer came from
    // `handle_of` and the socket is kept alive by the caller's reference
    // (the socket's self-reference) or by the running callback.
    Ok(unsafe { &*handle.cast::<Socket>() })
}

pub fn handle_of(socket: &Socket) -> *mut sack_tcp {
    (socket as *const Socket).cast_mut().cast::<sack_tcp>()
}

/// An optional C string argument as UTF-8.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string.
pub unsafe fn opt_str(ptr: *const c_char, name: &str) -> Result<Option<String>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map(|s| Some(s.to_owned()))
        .map_err(|_| Error::invalid(format!("`{name}` is not valid UTF-8")))
}

/// Writes an out-parameter after checking it, so that nothing is written on
/// failure.
///
/// # Safety
/// `out` must be NULL or valid for writing a `T`.
pub unsafe fn write_out<T>(out: *mut T, name: &str, value: T) -> Result<()> {
    if out.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL and writable per this function's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Reads a versioned struct whose first field is `struct_size`: a caller
/// built against an older header passes a smaller size and the missing tail
/// keeps its defaults; one built against a newer header may pass a larger
/// size as long as the fields this library does not know are all zero (the
/// rule Linux's `copy_struct_from_user` uses).
///
/// # Safety
/// `ptr` must be NULL or point to at least `struct_size` readable bytes, the
/// first of which hold a `usize` size.
pub unsafe fn read_versioned<T>(
    ptr: *const T,
    min_size: usize,
    defaults: T,
    name: &str,
) -> Result<T> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: the first field of every versioned struct is a usize.
    let size = unsafe { ptr.cast::<usize>().read_unaligned() };
    let ours = std::mem::size_of::<T>();
    if size < min_size {
        return Err(Error::invalid(format!(
            "{name}.struct_size is {size}, smaller than any known version ({min_size}); \
             fill the struct with its _init function"
        )));
    }
    if size > ours {
        // SAFETY: the caller promises `size` readable bytes.
        let tail = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>().add(ours), size - ours) };
        if tail.iter().any(|&b| b != 0) {
            return Err(Error::invalid(format!(
                "{name} sets fields this version of sack_tcp does not know \
                 (struct_size {size} > {ours})"
            )));
        }
    }
    let mut value = defaults;
    // SAFETY: both regions are valid for min(size, ours) bytes and do not
    // overlap; T is a repr(C) struct of plain fields for which any bytes
    // the caller's init function wrote are a valid value.
    unsafe {
        std::ptr::copy_nonoverlapping(
            ptr.cast::<u8>(),
            (&mut value as *mut T).cast::<u8>(),
            size.min(ours),
        );
    }
    Ok(value)
}

/// Fills a versioned struct of the caller's `size` with `defaults`: a caller
/// built against an older header gets the prefix it knows, one built against
/// a newer header gets our fields and zeros after them (which `read_versioned`
/// accepts). `struct_size` is set to the caller's size.
///
/// # Safety
/// `ptr` must be NULL or valid for writing `size` bytes.
pub unsafe fn write_versioned<T>(
    ptr: *mut T,
    size: usize,
    min_size: usize,
    defaults: T,
    name: &str,
) -> Result<()> {
    if ptr.is_null() {
        return Err(null(name));
    }
    let ours = std::mem::size_of::<T>();
    if size < min_size {
        return Err(Error::invalid(format!(
            "{name}: struct_size {size} is smaller than any known version ({min_size}); \
             pass sizeof the struct"
        )));
    }
    let bytes = ptr.cast::<u8>();
    // SAFETY: the caller promises `size` writable bytes; we write
    // min(size, ours) bytes of `defaults` and zero the rest, then the size.
    unsafe {
        std::ptr::copy_nonoverlapping((&defaults as *const T).cast::<u8>(), bytes, size.min(ours));
        if size > ours {
            std::ptr::write_bytes(bytes.add(ours), 0, size - ours);
        }
        bytes.cast::<usize>().write_unaligned(size);
    }
    Ok(())
}
