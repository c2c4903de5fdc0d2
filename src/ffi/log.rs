//! `sack_tcp_set_log_callback`: the C log sink.

use std::ffi::c_void;
use std::sync::Arc;

use super::guard::{guard, to_c_string};
use super::types::*;
use crate::error::{Error, Result};
use crate::logging::{self, Level, LevelFilter, LogSink};

struct CSink {
    callback:
        unsafe extern "C" fn(*mut c_void, i32, *const std::ffi::c_char, *const std::ffi::c_char),
    user_data: *mut c_void,
}

// SAFETY: the header documents that the log callback is called from any
// thread, so handing `user_data` to it there is what the user asked for.
unsafe impl Send for CSink {}
// SAFETY: as above; the sink itself is never mutated.
unsafe impl Sync for CSink {}

impl LogSink for CSink {
    fn log(&self, level: Level, target: &str, message: &str) {
        let level = match level {
            Level::Error => SACK_TCP_LOG_ERROR,
            Level::Warn => SACK_TCP_LOG_WARN,
            Level::Info => SACK_TCP_LOG_INFO,
            Level::Debug => SACK_TCP_LOG_DEBUG,
            Level::Trace => SACK_TCP_LOG_TRACE,
        };
        let (target, message) = (to_c_string(target), to_c_string(message));
        // SAFETY: the user registered the callback with this signature; the
        // strings live until it returns.
        unsafe { (self.callback)(self.user_data, level, target.as_ptr(), message.as_ptr()) };
    }
}

fn level_filter(level: i32) -> Result<LevelFilter> {
    Ok(match level {
        SACK_TCP_LOG_OFF => LevelFilter::Off,
        SACK_TCP_LOG_ERROR => LevelFilter::Error,
        SACK_TCP_LOG_WARN => LevelFilter::Warn,
        SACK_TCP_LOG_INFO => LevelFilter::Info,
        SACK_TCP_LOG_DEBUG => LevelFilter::Debug,
        SACK_TCP_LOG_TRACE => LevelFilter::Trace,
        other => {
            return Err(Error::invalid(format!(
                "log level {other} is outside SACK_TCP_LOG_OFF (0) .. SACK_TCP_LOG_TRACE (5)"
            )))
        }
    })
}

/// Sends the library's log records (and rustls') of `max_level` and more
/// severe to `callback`. NULL (or `SACK_TCP_LOG_OFF`) turns logging off,
/// which is the default: the library prints nothing by itself. Replaces any
/// earlier callback, and returns only once no record is being delivered to
/// it: afterwards the old callback and its `user_data` are never used
/// again. The callback may run on any thread, several at once.
///
/// Errors: `SACK_TCP_ERR_INVALID_ARGUMENT` for a level outside
/// `SACK_TCP_LOG_OFF`..`SACK_TCP_LOG_TRACE`; `SACK_TCP_ERR_WOULD_DEADLOCK`
/// when called from inside the log callback (it would wait for itself).
#[no_mangle]
pub extern "C" fn sack_tcp_set_log_callback(
    callback: sack_tcp_log_cb,
    user_data: *mut c_void,
    max_level: i32,
) -> sack_tcp_result {
    guard(|| {
        let filter = level_filter(max_level)?;
        let sink = callback.map(|callback| {
            Arc::new(CSink {
                callback,
                user_data,
            }) as Arc<dyn LogSink>
        });
        logging::set_sink(sink, filter)
    })
}
