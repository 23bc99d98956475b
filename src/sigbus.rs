//! Sigbus: surviving a memory-mapped file that shrinks under us.
//!
//! The geo database is memory-mapped (`geo`), so its pages are shared and evictable instead
//! of copied into the heap. The price: if someone truncates the file *in place* while it is
//! mapped (`cp new.mmdb geo.mmdb`, `> geo.mmdb`, an interrupted in-place write, instead of a
//! rename), the next read of a page past the new end raises SIGBUS, whose default action
//! kills the daemon.
//!
//! This module does what systemd does for its mapped journal files (`src/basic/sigbus.c`):
//! a SIGBUS handler that, when the faulting address lies inside a registered mapping,
//! replaces that page with an anonymous zero page (`mmap` with `MAP_FIXED`, which is
//! async-signal-safe in practice: one system call) and records the fault. The faulting load
//! is then retried and reads zeros, which the MaxMind reader sees as "not found" or as a
//! record it cannot decode: a counted lookup error, never a crash. The daemon's loops poll
//! [`take_fault`] and reopen the database. A SIGBUS anywhere else gets the default action,
//! as before.
//!
//! The handler touches only atomics and makes one system call; registration is a fixed
//! table of slots (the daemon maps at most two databases at once: the old one and the one
//! replacing it).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 4;
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static LENS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static FAULTED: AtomicBool = AtomicBool::new(false);
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();

/// A registered mapping; unregisters on drop (drop it after the mapping is gone or at the
/// same time: a fault in between would get the default action).
#[derive(Debug)]
pub struct Guard {
    slot: Option<usize>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            LENS[i].store(0, Ordering::SeqCst);
            STARTS[i].store(0, Ordering::SeqCst);
        }
    }
}

/// Registers `len` bytes mapped at `start` (installing the handler on first use). When all
/// slots are taken the mapping is simply not protected, and that is logged.
pub fn protect(start: *const u8, len: usize) -> Guard {
    INSTALL.call_once(install);
    let start = start as usize;
    if len == 0 {
        return Guard { slot: None };
    }
    for i in 0..SLOTS {
        if STARTS[i]
            .compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            LENS[i].store(len, Ordering::SeqCst);
            return Guard { slot: Some(i) };
        }
    }
    log::warn!("more than {SLOTS} mapped databases: a truncated one would stop the daemon");
    Guard { slot: None }
}

/// Whether a protected mapping faulted since the last call (and clears it).
pub fn take_fault() -> bool {
    FAULTED.swap(false, Ordering::SeqCst)
}

fn install() {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page > 0 {
        PAGE.store(page as usize, Ordering::SeqCst);
    }
    // SAFETY: a zeroed sigaction is valid; the handler below is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()) != 0 {
            log::warn!(
                "cannot handle SIGBUS ({}): a database truncated in place would stop the daemon",
                std::io::Error::last_os_error()
            );
        }
    }
}

extern "C" fn handler(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers; SIGBUS fills si_addr.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for i in 0..SLOTS {
        let (start, len) = (
            STARTS[i].load(Ordering::Relaxed),
            LENS[i].load(Ordering::Relaxed),
        );
        if start != 0 && addr >= start && addr - start < len {
            let at = addr & !(page - 1);
            // SAFETY: replaces one page of our own read-only mapping with a zero page.
            let p = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                FAULTED.store(true, Ordering::SeqCst);
                return;
            }
            break;
        }
    }
    // Not ours (or the page could not be replaced): the default action, on return.
    // SAFETY: resetting a disposition is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_truncated_mapping_reads_zeros_and_reports_the_fault() {
        let d = std::env::temp_dir().join(format!("connmap-sigbus-{}", std::process::id()));
        let mut f = std::fs::File::create(&d).unwrap();
        f.write_all(&vec![0xab; 64 * 1024]).unwrap();
        let f = std::fs::File::open(&d).unwrap();
        // SAFETY: a private test file, truncated below on purpose.
        let map = unsafe { maxminddb::Mmap::map(&f).unwrap() };
        let guard = protect(map.as_ptr(), map.len());
        assert_eq!(map[40_000], 0xab);
        assert!(!take_fault());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&d)
            .unwrap()
            .set_len(0)
            .unwrap();
        // past the new end: SIGBUS without the handler
        let v = unsafe { std::ptr::read_volatile(map.as_ptr().add(40_000)) };
        assert_eq!(v, 0);
        assert!(take_fault());
        assert!(!take_fault());
        drop(map);
        drop(guard);
        let _ = std::fs::remove_file(&d);
    }
}
