//! Delivery of alerts off the data path: one thread (64 KB of stack) takes alerts from a
//! bounded queue and, for each, sends the ubus event (ubus.rs) and runs the hook scripts of
//! `--alert-dir` in name order. The directory is listed again for each alert (one `readdir` and
//! a `stat` per file, and alerts are rate-limited), so a hook added or made executable while
//! connmap runs counts from the next alert on; a cache keyed on the directory's mtime would miss
//! a `chmod +x`, which does not change it. The data path only `try_send`s: a full queue drops the
//! delivery (counted in `suppressed`), it never waits. (Syslog is written by the data path
//! itself when the alert fires: one log line.)
//!
//! Hooks are started with fork/execve through libc (std::process would add ~27 KB to the MIPS
//! binary, see the `nft` feature in Cargo.toml): in the child only async-signal-safe calls
//! (a new process group, default SIGPIPE and signal mask, no ambient capabilities, stdin from
//! /dev/null, stdout to stderr, every other descriptor closed, execve). The environment is built before the fork:
//! `ACTION=alert`, `PATH` and the `CONNMAP_*` variables. Each hook runs as the daemon's user
//! (the unprivileged one once root is dropped) and is reaped with `waitpid(WNOHANG)`; after
//! `timeout` its whole process group is killed.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Alerts waiting for delivery; beyond, deliveries are dropped (and counted).
pub const QUEUE: usize = 32;
/// Default `--alert-timeout`: how long one hook may run before its process group is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(crate::cli::defaults::ALERT_TIMEOUT);
pub const DEFAULT_DIR: &str = crate::cli::defaults::ALERT_DIR;
const PATH: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

/// Where alerts go besides syslog.
#[derive(Debug, Clone, Default)]
pub struct DeliverOptions {
    /// Hook scripts (`--alert-dir`); `None`: none.
    pub dir: Option<PathBuf>,
    /// ubusd's socket; `None`: no ubus event.
    pub ubus: Option<PathBuf>,
    pub timeout: Duration,
}

/// One alert to deliver.
pub struct Job {
    /// `NAME=value` strings of the hooks' environment (without ACTION and PATH).
    pub env: Vec<CString>,
    /// The alert object as the ubus event's data: blobmsg attributes (ubus::Blobmsg).
    pub event: Vec<u8>,
}

/// The queue between the data path and the delivery thread (a mutex and a condition
/// variable: std's channels would add several KB to the MIPS binary for this one use).
#[derive(Default)]
struct Queue {
    state: Mutex<(VecDeque<Job>, bool)>,
    ready: Condvar,
}

impl Queue {
    /// Adds `job` unless full or closed.
    fn push(&self, job: Job) -> bool {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if g.1 || g.0.len() >= QUEUE {
            return false;
        }
        g.0.push_back(job);
        self.ready.notify_one();
        true
    }

    /// No more jobs: the thread ends once the queue is empty.
    fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.ready.notify_one();
    }

    /// The next job; `None` once closed and empty.
    fn pop(&self) -> Option<Job> {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(j) = g.0.pop_front() {
                return Some(j);
            }
            if g.1 {
                return None;
            }
            g = self.ready.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The delivery thread and its queue.
pub struct Delivery {
    queue: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
    /// Set when stopping: hooks still running are killed, queued alerts dropped.
    abort: Arc<AtomicBool>,
}

impl Delivery {
    /// Starts the thread; `None` (after logging why) when there is nothing to deliver to or
    /// the thread cannot start.
    pub fn start(opts: DeliverOptions) -> Option<Delivery> {
        if opts.dir.is_none() && opts.ubus.is_none() {
            return None;
        }
        let queue = Arc::new(Queue::default());
        let q = Arc::clone(&queue);
        let abort = Arc::new(AtomicBool::new(false));
        let a = Arc::clone(&abort);
        let job = Box::new(move || run(&q, &opts, &a));
        let thread = crate::http::spawn_thread("alerts".into(), 64 << 10, job)
            .map_err(|e| log::error!("alerts: cannot start the delivery thread: {e}"))
            .ok()?;
        Some(Delivery {
            queue,
            thread: Some(thread),
            abort,
        })
    }

    /// Queues `job`; false when the queue is full (the delivery is dropped).
    pub fn send(&self, job: Job) -> bool {
        self.queue.push(job)
    }

    /// Delivers what is queued, for at most `grace`, then stops the thread (killing a hook
    /// still running).
    pub fn finish(mut self, grace: Duration) {
        self.queue.close();
        let Some(t) = self.thread.take() else { return };
        let until = Instant::now() + grace;
        while !t.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.abort.store(true, Ordering::Relaxed);
        let _ = t.join();
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.queue.close();
        self.abort.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(queue: &Queue, opts: &DeliverOptions, abort: &AtomicBool) {
    let mut ubus_errors = 0u64;
    while let Some(job) = queue.pop() {
        if abort.load(Ordering::Relaxed) {
            break;
        }
        // no ubusd (not OpenWrt, or not running): no event, nothing to report
        if let Some(sock) = opts.ubus.as_ref().filter(|s| s.exists()) {
            let r = super::ubus::send_event(
                sock,
                super::ubus::EVENT,
                &job.event,
                Duration::from_secs(2),
            );
            if let Err(e) = r {
                ubus_errors += 1;
                if ubus_errors <= 3 || ubus_errors.is_power_of_two() {
                    log::warn!("alert: ubus event not sent: {e} ({ubus_errors} so far)");
                }
            }
        }
        if let Some(dir) = &opts.dir {
            let env = environment(&job.env);
            for hook in hooks(dir) {
                if abort.load(Ordering::Relaxed) {
                    return;
                }
                match run_hook(&hook, &env, opts.timeout, abort) {
                    Ok(0) => log::debug!("alert hook {} done", hook.display()),
                    Ok(status) => {
                        log::warn!("alert hook {} exited with status {status}", hook.display())
                    }
                    Err(e) => log::warn!("alert hook {}: {e}", hook.display()),
                }
            }
        }
    }
}

/// The executable regular files of `dir` (not starting with '.'), in name order.
pub fn hooks(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = Vec::new();
    for e in rd {
        let Ok(e) = e else { continue };
        let name = e.file_name();
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        let p = e.path();
        if std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0) {
            // in name order by insertion (a handful of hooks; no sort code for this)
            let at = (v.iter())
                .position(|q| q.file_name() > Some(&name))
                .unwrap_or(v.len());
            v.insert(at, p);
        }
    }
    v
}

/// `ACTION=alert`, `PATH` and the alert's variables, NULs removed.
fn environment(vars: &[CString]) -> Vec<CString> {
    let mut env = vec![
        c"ACTION=alert".to_owned(),
        CString::new(PATH).unwrap_or_default(),
    ];
    env.extend_from_slice(vars);
    env
}

/// Runs one hook and waits for it (at most `timeout`); its exit status, or the signal that
/// ended it as 128+N.
pub fn run_hook(
    path: &Path,
    env: &[CString],
    timeout: Duration,
    abort: &AtomicBool,
) -> Result<i32, String> {
    let prog = CString::new(path.as_os_str().as_bytes()).map_err(|_| "bad path".to_string())?;
    let argv = [prog.as_ptr(), std::ptr::null()];
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let devnull = c"/dev/null";
    let root = c"/";
    // SAFETY: between fork and execve the child calls only async-signal-safe functions, on
    // memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: the child: see above; it never returns.
        unsafe {
            libc::setpgid(0, 0);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            // no capability of the daemon's (CAP_NET_RAW...) passes to the hook
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            );
            let fd = libc::open(devnull.as_ptr(), libc::O_RDONLY);
            if fd >= 0 {
                libc::dup2(fd, 0);
            }
            libc::dup2(2, 1);
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
                for fd in 3..1024 {
                    libc::close(fd);
                }
            }
            libc::chdir(root.as_ptr());
            libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    // SAFETY: plain libc calls on the child's pid.
    unsafe { libc::setpgid(pid, pid) };
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let mut status = 0;
        // SAFETY: as above.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Ok(decode_status(status));
        }
        if r < 0 {
            return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
        }
        let aborted = abort.load(Ordering::Relaxed);
        if started.elapsed() >= timeout || aborted {
            // SAFETY: the child's own process group, then the child itself.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err(if aborted {
                "killed (connmap is stopping)".into()
            } else {
                // whole seconds from the command line; no float code (soft-float on MIPS)
                let (secs, ms) = (timeout.as_secs(), timeout.subsec_millis());
                match ms {
                    0 => format!("killed after {secs} s (timeout)"),
                    ms => format!("killed after {} ms (timeout)", secs * 1000 + u64::from(ms)),
                }
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

fn decode_status(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn script(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        writeln!(f, "#!/bin/sh\n{body}").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn hooks_are_the_executable_files_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        script(d.path(), "20-b", "", 0o755);
        script(d.path(), "10-a", "", 0o700);
        script(d.path(), "ntfy.example", "", 0o644);
        script(d.path(), ".hidden", "", 0o755);
        std::fs::create_dir(d.path().join("30-dir")).unwrap();
        let names: Vec<_> = hooks(d.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["10-a", "20-b"]);
        assert!(hooks(Path::new("/nonexistent")).is_empty());
    }

    #[test]
    fn a_hook_gets_its_environment_and_its_status_is_returned() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let s = script(
            d.path(),
            "h",
            &format!(
                "echo \"$ACTION $CONNMAP_RULE [$CONNMAP_LIST]\" > {}; exit 3",
                out.display()
            ),
            0o755,
        );
        let env = environment(&[c"CONNMAP_RULE=upload".into(), c"CONNMAP_LIST=".into()]);
        let st = run_hook(&s, &env, Duration::from_secs(10), &AtomicBool::new(false)).unwrap();
        assert_eq!(st, 3);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "alert upload []\n");
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_with_its_children() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let s = script(
            d.path(),
            "slow",
            &format!("sleep 60 & echo $! > {}; wait", pidfile.display()),
            0o755,
        );
        let started = Instant::now();
        let e = run_hook(
            &s,
            &environment(&[]),
            Duration::from_millis(300),
            &AtomicBool::new(false),
        )
        .unwrap_err();
        assert!(e.contains("timeout"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // the background sleep of the hook's group is gone too
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let alive = unsafe { libc::kill(pid, 0) } == 0
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z");
        assert!(!alive, "the hook's child {pid} survived");
    }

    #[test]
    fn a_full_queue_refuses_without_waiting() {
        let d = tempfile::tempdir().unwrap();
        script(d.path(), "slow", "sleep 2", 0o755);
        let del = Delivery::start(DeliverOptions {
            dir: Some(d.path().to_path_buf()),
            ubus: None,
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        let job = || Job {
            env: vec![],
            event: Vec::new(),
        };
        let started = Instant::now();
        let accepted = (0..QUEUE + 10).filter(|_| del.send(job())).count();
        assert!((QUEUE..=QUEUE + 1).contains(&accepted));
        assert!(started.elapsed() < Duration::from_secs(1));
        let started = Instant::now();
        del.finish(Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
