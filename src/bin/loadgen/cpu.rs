//! CPU time of this process's threads, read from /proc, so the load generator's own share
//! of the CPU can be told apart from the in-process server's.

use std::path::Path;

/// User plus system CPU seconds of this process's threads whose name starts with
/// `prefix` (all threads when it is empty); `None` where /proc is not available.
pub fn thread_cpu_seconds(prefix: &str) -> Option<f64> {
    let ticks_per_second = 100.0;
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let path = task.path();
        if !prefix.is_empty() && !thread_name(&path).starts_with(prefix) {
            continue;
        }
        ticks += thread_ticks(&path).unwrap_or(0);
    }
    Some(ticks as f64 / ticks_per_second)
}

fn thread_name(task: &Path) -> String {
    std::fs::read_to_string(task.join("comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// utime + stime of one thread (fields 14 and 15 of its stat, after the command name).
fn thread_ticks(task: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

/// The machine's one-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
