//! Certificates that warn before they expire (issue 14, item 7): a WARN log
//! record when a certificate the library loads, or a peer presents, has
//! fewer than the configured number of days left.

use std::time::{SystemTime, UNIX_EPOCH};

use super::info::CertSummary;

/// `tls_expiry_warning_days` when 0.
pub const DEFAULT_WARNING_DAYS: u32 = 30;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Warns (log target "sack_tcp::tls::expiry") when the certificate `der`
/// expires within `days`; `what` says whose it is. Returns its notAfter.
pub fn check(der: &[u8], what: &str, days: u32) -> Option<i64> {
    let summary = CertSummary::parse(der).ok()?;
    let left = summary.not_after - now();
    if left < i64::from(days) * 86_400 {
        if left < 0 {
            log::warn!(
                "{what} ({}) expired {} days ago (notAfter {} UTC seconds)",
                summary.subject,
                -left / 86_400,
                summary.not_after
            );
        } else {
            log::warn!(
                "{what} ({}) expires in {} days, within the {days}-day warning \
                 (notAfter {} UTC seconds)",
                summary.subject,
                left / 86_400,
                summary.not_after
            );
        }
    }
    Some(summary.not_after)
}
