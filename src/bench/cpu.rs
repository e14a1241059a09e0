//! CPU time spent by a process or by some threads of this one, read from /proc, so that the
//! bench can report CPU per request next to requests per second: a figure that depends
//! much less than throughput on what else shares the machine.
//!
//! - A provisiond process: `utime + stime` of `/proc/<pid>/stat`, which covers every
//!   thread the process ever had (threads that exited included), in clock ticks
//!   (`getconf CLK_TCK`, 100 on Linux): 10 ms resolution, plenty over windows of seconds
//!   in which a process uses hundreds of ticks.
//! - Threads of the bench process (ceiling (b)'s runtime): the first field of
//!   `/proc/self/task/<tid>/schedstat`, nanoseconds on CPU, summed over the threads whose
//!   name begins with a prefix. Those threads live as long as their runtime, so none
//!   exits within a window.

use std::sync::OnceLock;

/// CPU time of a live process so far, in nanoseconds.
pub fn process_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(ticks.saturating_mul(1_000_000_000) / ticks_per_sec())
}

/// CPU time so far of the threads of this process whose name (`comm`, at most 15 bytes)
/// begins with `prefix`, in nanoseconds.
pub fn own_threads_ns(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end().starts_with(prefix))
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|schedstat| parse_schedstat_ns(&schedstat))
        .sum()
}

/// CPU microseconds per unit of work (two decimals); 0 when nothing was done.
pub fn us_per(cpu_ns: u64, count: u64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    super::stats::round(cpu_ns as f64 / 1000.0 / count as f64)
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted after the
/// last `)`: field 3 (the state) is the first there.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The first field of `/proc/…/schedstat`: time on CPU in nanoseconds.
fn parse_schedstat_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`), asked of `getconf CLK_TCK`
/// once; 100, the value on every Linux architecture provisiond runs on, if that fails.
fn ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_are_counted_after_the_command_name() {
        // A command name with spaces and a parenthesis, as a process may choose.
        let stat = "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 75 0 0 20 0 9 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
        assert_eq!(
            parse_schedstat_ns("1171916844 1006801260 401\n"),
            Some(1171916844)
        );
        assert_eq!(us_per(3_000_000, 1000), 3.0);
        assert_eq!(us_per(5, 0), 0.0);
    }

    #[test]
    fn own_process_and_named_threads_use_cpu() {
        let spin = |until: std::time::Instant| {
            let mut x = 0u64;
            while std::time::Instant::now() < until {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        };
        let before = own_threads_ns("bench-cpu-test");
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-cpu-test-thread".into())
            .spawn(move || {
                spin(std::time::Instant::now() + std::time::Duration::from_millis(30));
                // Still alive (and named) while the test reads its time.
                let _ = wait.recv();
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60));
        let after = own_threads_ns("bench-cpu-test");
        drop(done);
        thread.join().unwrap();
        assert!(after > before, "{before} -> {after}");
        assert!(process_ns(std::process::id()).is_some_and(|ns| ns > 0));
    }
}
