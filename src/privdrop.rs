//! Dropping root: after the capture is open, become an unprivileged user for good.
//!
//! On OpenWrt the init script starts connmap as its own user with only CAP_NET_RAW (procd), so
//! this is for other setups started as root: `--user NAME` switches the real, effective and
//! saved user and group IDs and the supplementary groups, keeping nothing else.

use std::ffi::CString;

/// Switches to `user` if running as root; a no-op (with a note) otherwise. `own` are paths made
/// before the switch that the process must still use after it (the HTTP backend socket and its
/// directory): they are handed to the user first.
pub fn drop_to(user: &str, own: &[&std::path::Path]) -> Result<(), String> {
    // SAFETY: plain libc calls; getpwnam's static result is copied out before anything else
    // can call it (no other thread uses the passwd database).
    unsafe {
        if libc::geteuid() != 0 {
            log::info!("not running as root: --user {user} has nothing to drop");
            return Ok(());
        }
        let name = CString::new(user).map_err(|_| format!("--user: bad user name {user:?}"))?;
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return Err(format!("--user: no such user {user:?}"));
        }
        let (uid, gid) = ((*pw).pw_uid, (*pw).pw_gid);
        if uid == 0 {
            return Err(format!("--user: {user:?} is root"));
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
        if libc::setresuid(uid, uid, uid) != 0 {
            return Err(err("setresuid"));
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
