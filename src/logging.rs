//! Log records for the host: the library's own and rustls', through the
//! `log` facade, to a sink the C surface installs. Nothing is printed when
//! no sink is set.

use std::cell::Cell;
use std::sync::{Arc, RwLock};

pub use log::{Level, LevelFilter};

/// Where records go; the C surface implements it with a function pointer.
pub trait LogSink: Send + Sync {
    fn log(&self, level: Level, target: &str, message: &str);
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);

struct Forwarder;

static FORWARDER: Forwarder = Forwarder;

thread_local! {
    /// Set while a record is being handed to the sink, so a sink that calls
    /// back into the library cannot recurse through logging.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || IN_SINK.with(Cell::get) {
            return;
        }
        // Held while the sink runs, so that `set_sink` can wait for every
        // record still on its way to the old sink.
        let sink = SINK.read().unwrap_or_else(|p| p.into_inner());
        if let Some(sink) = sink.as_ref() {
            IN_SINK.with(|f| f.set(true));
            sink.log(record.level(), record.target(), &record.args().to_string());
            IN_SINK.with(|f| f.set(false));
        }
    }

    fn flush(&self) {}
}

/// Installs (or, with `None`, removes) the sink and the most verbose level
/// it wants. Returns once no record is being delivered to the old sink, so
/// its resources may be released; from inside a sink that wait would be
/// for itself, so it is refused.
pub fn set_sink(sink: Option<Arc<dyn LogSink>>, max: LevelFilter) -> crate::error::Result<()> {
    if IN_SINK.with(Cell::get) {
        return Err(crate::error::Error::new(
            crate::error::Code::WouldDeadlock,
            "sack_tcp_set_log_callback was called from inside the log callback",
        ));
    }
    // The facade takes one logger per process; if the host (a Rust program
    // linking the rlib) installed its own, records go there instead.
    let _ = log::set_logger(&FORWARDER);
    let max = if sink.is_some() {
        max
    } else {
        LevelFilter::Off
    };
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = sink;
    log::set_max_level(max);
    Ok(())
}
