//! Dropping root: after the capture is open, become an unprivileged user for good.
//!
//! On OpenWrt the init script starts connmap as its own user with only CAP_NET_RAW (procd), so
//! this is for other setups started as root: `--user NAME` switches the real, effective and
//! saved user and group IDs and the supplementary groups, keeping nothing else — except
//! `CAP_NET_ADMIN` with `--conntrack`, which ctnetlink needs at every dump (`keep_net_admin`).

use crate::cli::quote;
use std::ffi::CString;

/// Switches to `user` if running as root; a no-op (with a note) otherwise. `own` are paths made
/// before the switch that the process must still use after it (the HTTP backend socket and its
/// directory): they are handed to the user first.
pub fn drop_to(user: &str, own: &[&std::path::Path], keep_net_admin: bool) -> Result<(), String> {
    // SAFETY: plain libc calls; getpwnam's static result is copied out before anything else
    // can call it (no other thread uses the passwd database).
    unsafe {
        if libc::geteuid() != 0 {
            log::info!("not running as root: --user {user} has nothing to drop");
            return Ok(());
        }
        let name =
            CString::new(user).map_err(|_| format!("--user: bad user name {}", quote(user)))?;
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return Err(format!("--user: no such user {}", quote(user)));
        }
        let (uid, gid) = ((*pw).pw_uid, (*pw).pw_gid);
        if uid == 0 {
            return Err(format!("--user: {} is root", quote(user)));
        }
        for p in own {
            let c = CString::new(p.as_os_str().as_encoded_bytes())
                .map_err(|_| format!("bad path {}", p.display()))?;
            if libc::chown(c.as_ptr(), uid, gid) != 0 {
                return Err(format!(
                    "cannot hand {} to {user}: {}",
                    p.display(),
                    std::io::Error::last_os_error()
                ));
            }
        }
        let err = |what: &str| {
            format!(
                "cannot drop privileges ({what}): {}",
                std::io::Error::last_os_error()
            )
        };
        if libc::setgroups(1, &gid) != 0 {
            return Err(err("setgroups"));
        }
        if libc::setresgid(gid, gid, gid) != 0 {
            return Err(err("setresgid"));
        }
        if keep_net_admin && libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return Err(err("PR_SET_KEEPCAPS"));
        }
        if libc::setresuid(uid, uid, uid) != 0 {
            return Err(err("setresuid"));
        }
        if keep_net_admin {
            // of all that root had, only CAP_NET_ADMIN stays (effective and permitted)
            let _ = libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
            if !keep_only_net_admin() {
                return Err(err("capset CAP_NET_ADMIN"));
            }
        }
        if libc::setuid(0) == 0 || libc::geteuid() == 0 {
            return Err(
                "privileges could be regained after dropping them; refusing to go on".into(),
            );
        }
        log::info!("running as {user} (uid {uid}, gid {gid})");
    }
    Ok(())
}

/// capset(2): effective and permitted = CAP_NET_ADMIN, nothing inheritable.
fn keep_only_net_admin() -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_NET_ADMIN: u32 = 12;
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    d[0].effective = 1 << CAP_NET_ADMIN;
    d[0].permitted = 1 << CAP_NET_ADMIN;
    // SAFETY: header and two data structs as capset(2) expects for version 3.
    unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_mut_ptr()) == 0 }
}
