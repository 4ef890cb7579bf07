//! The standard process metrics every Prometheus client library exports
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_threads`,
//! `process_start_time_seconds`), read from `/proc/self` on Linux. A value the platform
//! cannot give is omitted, never written as NaN; on other platforms nothing is written.

/// Appends the process families to `out` (text exposition format).
pub(crate) fn encode(out: &mut String) {
    #[cfg(target_os = "linux")]
    linux::encode(out);
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

fn family(out: &mut String, name: &str, kind: &str, help: &str, sample: &str, value: f64) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{sample} {value}\n"
    );
}

#[cfg(target_os = "linux")]
mod linux {
    use super::family;

    /// Clock ticks per second and the page size, from `sysconf`.
    #[allow(unsafe_code)]
    fn sysconf() -> (Option<f64>, Option<f64>) {
        // SAFETY: sysconf only reads a configuration value; it has no preconditions.
        let (tck, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let pos = |v: libc::c_long| (v > 0).then_some(v as f64);
        (pos(tck), pos(page))
    }

    /// The fields of `/proc/self/stat` after the command name, from field 3 (`state`) on.
    fn stat_fields(text: &str) -> Option<Vec<&str>> {
        let rest = &text[text.rfind(')')? + 1..];
        Some(rest.split_whitespace().collect())
    }

    fn boot_time() -> Option<f64> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    }

    fn max_fds() -> Option<f64> {
        let text = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        line["Max open files".len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    pub(super) fn encode(out: &mut String) {
        let (ticks, page) = sysconf();
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let fields = stat.as_deref().and_then(stat_fields);
        // Field numbers of proc(5), minus 3 for the offset of `fields`.
        let field = |n: usize| -> Option<f64> { fields.as_ref()?.get(n - 3)?.parse().ok() };
        if let (Some(u), Some(s), Some(t)) = (field(14), field(15), ticks) {
            family(
                out,
                "process_cpu_seconds",
                "counter",
                "Total user and system CPU time spent in seconds.",
                "process_cpu_seconds_total",
                (u + s) / t,
            );
        }
        if let Some(v) = field(23) {
            family(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                "process_virtual_memory_bytes",
                v,
            );
        }
        if let (Some(rss), Some(p)) = (field(24), page) {
            family(
                out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                "process_resident_memory_bytes",
                rss * p,
            );
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle itself is one of the entries while it is being read.
            let n = dir.count().saturating_sub(1);
            family(
                out,
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                "process_open_fds",
                n as f64,
            );
        }
        if let Some(m) = max_fds() {
            family(
                out,
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                "process_max_fds",
                m,
            );
        }
        if let Some(n) = field(20) {
            family(
                out,
                "process_threads",
                "gauge",
                "Number of OS threads in the process.",
                "process_threads",
                n,
            );
        }
        if let (Some(start), Some(t), Some(boot)) = (field(22), ticks, boot_time()) {
            family(
                out,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                "process_start_time_seconds",
                boot + start / t,
            );
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn every_family_is_present_and_plausible() {
            // Spend some CPU time first: the counter moves in clock ticks (10 ms).
            let t = std::time::Instant::now();
            let mut x = 0u64;
            while t.elapsed() < std::time::Duration::from_millis(100) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            let mut out = String::new();
            super::encode(&mut out);
            let value = |name: &str| -> f64 {
                out.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name} ")))
                    .unwrap_or_else(|| panic!("{name} missing in\n{out}"))
                    .parse()
                    .unwrap()
            };
            assert!(value("process_cpu_seconds_total") > 0.0);
            assert!(value("process_resident_memory_bytes") > 1e5);
            assert!(
                value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes")
            );
            assert!(value("process_open_fds") >= 3.0);
            assert!(value("process_max_fds") >= value("process_open_fds"));
            assert!(value("process_threads") >= 1.0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let start = value("process_start_time_seconds");
            assert!(
                start <= now + 1.0 && start > now - 3600.0,
                "start {start} now {now}"
            );
            assert!(!out.contains("NaN"));
        }
    }
}
