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

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: the pointer is this thread's last error, valid until the
        // next failure on this thread.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn guard_turns_results_and_panics_into_codes() {
        assert_eq!(guard(|| Ok(())), SACK_TCP_OK);
        let code = guard(|| Err(Error::new(Code::Refused, "no one listens on port 9")));
        assert_eq!(code, Code::Refused as sack_tcp_result);
        assert!(
            last_error().contains("no one listens on port 9"),
            "{}",
            last_error()
        );
        // Success leaves the last error alone.
        assert_eq!(guard(|| Ok(())), SACK_TCP_OK);
        assert!(last_error().contains("port 9"));

        let code = guard(|| panic!("a bug"));
        assert_eq!(code, Code::Panic as sack_tcp_result);
        assert!(last_error().contains("panic"), "{}", last_error());
        assert_eq!(guard_value(5, || panic!("a bug")), 5);
        assert_eq!(guard_value(5, || 6), 6);
    }

    #[test]
    fn the_last_error_is_per_thread() {
        set_last_error(&Error::invalid("on the test thread"));
        std::thread::spawn(|| {
            assert_eq!(last_error(), "");
            set_last_error(&Error::invalid("on another thread"));
        })
        .join()
        .unwrap();
        assert!(last_error().contains("on the test thread"));
    }

    #[test]
    fn interior_nuls_are_replaced_not_dropped() {
        assert_eq!(to_c_string("a\0b").to_str().unwrap(), "a\u{FFFD}b");
        set_last_error(&Error::invalid("x\0y"));
        assert!(last_error().contains("x\u{FFFD}y"), "{}", last_error());
    }

    #[test]
    fn string_arguments_are_checked() {
        // SAFETY: NULL or NUL-terminated strings.
        unsafe {
            assert_eq!(opt_str(std::ptr::null(), "host").unwrap(), None);
            assert_eq!(
                opt_str(c"example.com".as_ptr(), "host").unwrap().as_deref(),
                Some("example.com")
            );
            let err = opt_str(c"\xff".as_ptr(), "host").unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
            assert!(err.message().contains("`host`"), "{err}");
        }
    }

    #[test]
    fn out_parameters_are_written_only_when_not_null() {
        let mut out = 0u32;
        // SAFETY: NULL or a writable u32.
        unsafe {
            write_out(&mut out, "out", 7).unwrap();
            let err = write_out(std::ptr::null_mut::<u32>(), "port", 8).unwrap_err();
            assert_eq!(err.code(), Code::NullPointer);
            assert!(err.message().contains("`port`"), "{err}");
        }
        assert_eq!(out, 7);
    }

    /// A versioned struct whose first published layout ended after `b`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Versioned {
        struct_size: usize,
        a: u32,
        b: u32,
        c: u64,
    }

    const FIRST: usize = std::mem::offset_of!(Versioned, c);
    const OURS: usize = std::mem::size_of::<Versioned>();
    const DEFAULTS: Versioned = Versioned {
        struct_size: 0,
        a: 10,
        b: 20,
        c: 30,
    };

    /// A caller's struct of `size` bytes: `Versioned`'s fields as far as
    /// they fit, then `tail` up to 8 bytes past our size, in an aligned
    /// buffer.
    fn callers(size: usize, value: Versioned, tail: u8) -> [u64; 4] {
        let mut buffer = [0u64; 4];
        // SAFETY: the buffer holds 32 bytes, more than a Versioned (24).
        unsafe {
            let bytes = buffer.as_mut_ptr().cast::<u8>();
            std::ptr::write_bytes(bytes, tail, 32);
            bytes.cast::<Versioned>().write(Versioned {
                struct_size: size,
                ..value
            });
            std::ptr::write_bytes(bytes.add(size), tail, 32 - size);
        }
        buffer
    }

    fn read(buffer: &[u64; 4]) -> Result<Versioned> {
        // SAFETY: the buffer holds at least the struct_size it states.
        unsafe { read_versioned(buffer.as_ptr().cast(), FIRST, DEFAULTS, "options") }
    }

    #[test]
    fn versioned_structs_read_what_the_caller_knows() {
        let given = Versioned {
            struct_size: 0,
            a: 1,
            b: 2,
            c: 3,
        };
        // Same version.
        let same = read(&callers(OURS, given, 0xee)).unwrap();
        assert_eq!((same.a, same.b, same.c), (1, 2, 3));
        // An older caller: what it does not know keeps its default, whatever
        // lies past its struct.
        let older = read(&callers(FIRST, given, 0xee)).unwrap();
        assert_eq!((older.a, older.b, older.c), (1, 2, DEFAULTS.c));
        // A newer caller whose unknown fields are zero.
        let newer = read(&callers(OURS + 8, given, 0)).unwrap();
        assert_eq!((newer.a, newer.b, newer.c), (1, 2, 3));
        // ... and one that sets them.
        let err = read(&callers(OURS + 8, given, 1)).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        // Smaller than any published version.
        let err = read(&callers(FIRST - 4, given, 0)).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("struct_size"), "{err}");
        // SAFETY: NULL is checked.
        let err = unsafe { read_versioned(std::ptr::null(), FIRST, DEFAULTS, "options") };
        assert_eq!(err.unwrap_err().code(), Code::NullPointer);
    }

    #[test]
    fn versioned_structs_are_filled_to_the_callers_size() {
        let write = |buffer: &mut [u64; 4], size: usize| {
            // SAFETY: the buffer holds 32 bytes, at least `size`.
            unsafe {
                write_versioned(
                    buffer.as_mut_ptr().cast::<Versioned>(),
                    size,
                    FIRST,
                    DEFAULTS,
                    "options",
                )
            }
        };
        let as_bytes = |buffer: &[u64; 4]| -> Vec<u8> {
            buffer.iter().flat_map(|word| word.to_ne_bytes()).collect()
        };
        let garbage = Versioned {
            struct_size: 0,
            a: 0xeeee_eeee,
            b: 0xeeee_eeee,
            c: 0xeeee_eeee_eeee_eeee,
        };

        // An older caller gets the fields it knows and nothing past them.
        let mut older = callers(FIRST, garbage, 0xee);
        write(&mut older, FIRST).unwrap();
        let bytes = as_bytes(&older);
        assert_eq!(
            read(&older).unwrap(),
            Versioned {
                struct_size: FIRST,
                c: DEFAULTS.c,
                ..DEFAULTS
            }
        );
        assert!(bytes[FIRST..].iter().all(|&b| b == 0xee));

        // A newer caller gets our fields and zeros after them, which reads
        // back.
        let mut newer = callers(OURS + 8, garbage, 0xee);
        write(&mut newer, OURS + 8).unwrap();
        let bytes = as_bytes(&newer);
        assert!(bytes[OURS..OURS + 8].iter().all(|&b| b == 0));
        assert_eq!(
            read(&newer).unwrap(),
            Versioned {
                struct_size: OURS + 8,
                ..DEFAULTS
            }
        );

        let mut small = [0u64; 4];
        assert_eq!(
            write(&mut small, FIRST - 1).unwrap_err().code(),
            Code::InvalidArgument
        );
        assert_eq!(small, [0; 4]);
        // SAFETY: NULL is checked.
        let err = unsafe {
            write_versioned(
                std::ptr::null_mut::<Versioned>(),
                OURS,
                FIRST,
                DEFAULTS,
                "o",
            )
        };
        assert_eq!(err.unwrap_err().code(), Code::NullPointer);
    }
}
