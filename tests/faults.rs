//! Faults that must be survived (issue 7), end to end against the real binary:
//!
//! - the state file's directory is not writable, read-only or full: logged, no crash, exit 0,
//!   and a full disk leaves the previous state file as it was;
//! - `kill -9` at random moments while the daemon saves its state every second: the state file
//!   is always the previous or the new one, never a torn one;
//! - the geo database replaced by a truncated one while running (SIGHUP): logged, the daemon
//!   keeps serving, markers without a position; a good database brings the positions back;
//! - the leases file missing, garbage, or replaced by garbage while running (SIGHUP).
//!
//! The read-only/full cases mount a tmpfs in a private mount namespace (`unshare -m`) when run
//! as root (root ignores file modes); the kill -9 case captures on `lo` in a private network
//! namespace (`unshare -n`). Those need root: `#[ignore]`d, run with `--include-ignored`
//! (`./dev.sh test` does as root).

mod common;
#[path = "common/load.rs"]
mod load;

use common::*;
use load::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn can_unshare(flag: &str) -> bool {
    is_root()
        && Command::new("unshare")
            .args([flag, "true"])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

fn scenario_pcap(dir: &std::path::Path) -> std::path::PathBuf {
    let pcap = dir.join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    pcap
}

/// The number of remotes in a state file, read by the daemon's own reader.
fn parses_as_state(bytes: &[u8]) -> Result<usize, String> {
    let mut t = connmap::table::Tables::new(1 << 20, 1 << 16);
    connmap::state::decode_into(bytes, &mut t).map(|(_, remotes)| remotes)
}

#[test]
fn state_path_not_writable_is_logged_not_fatal() {
    let d = tmp();
    let pcap = scenario_pcap(d.path());
    // The state file's "directory" is a regular file: every write fails (ENOTDIR), as root too.
    let blocker = d.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let mut args = scenario_args();
    args.extend([
        "--state".into(),
        blocker.join("state").display().to_string(),
    ]);
    let (out, json) = replay(d.path(), &pcap, None, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("cannot save state"), "{err}");
    assert!(json.is_some(), "markers.json is still written");

    // And a daemon serving over HTTP: SIGTERM still ends it cleanly despite the failed save.
    let mut daemon = serve(d.path(), &pcap, &args);
    assert_eq!(
        get_from([127, 0, 0, 1].into(), daemon.addr, "/markers.json").0,
        200
    );
    daemon.signal(libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = daemon.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{}", daemon.log_text());
    assert!(daemon.log_text().matches("cannot save state").count() >= 2);
}

/// Runs `script` (sh) in a private mount namespace with the test dir as $1 and the binary as $2.
fn in_mount_ns(dir: &std::path::Path, script: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(dir)
        .arg(env!("CARGO_BIN_EXE_connmap"))
        .env("CONNMAP_LOG", "stderr")
        .output()
        .unwrap()
}

#[test]
#[ignore = "needs root: a mount namespace (unshare -m); ./dev.sh test runs it with --include-ignored as root"]
fn state_dir_read_only_or_full_is_logged_and_keeps_the_previous_state() {
    assert!(can_unshare("-m"), "needs root and unshare -m");
    let d = tmp();
    scenario_pcap(d.path());
    let big = d.path().join("big.pcap");
    flood_capture(&big, 20_000, 50);
    std::fs::create_dir(d.path().join("st")).unwrap();
    let common_args = "--leases '' --ethers '' --geoip '' --lan 192.168.1.0/24 --lan 10.0.0.0/8";

    // Read-only: a tmpfs mounted ro over the state directory.
    let out = in_mount_ns(
        d.path(),
        &format!(
            "mount -t tmpfs -o ro,size=1m none \"$1/st\" || exit 99
             \"$2\" -r \"$1/s.pcap\" {common_args} --json-out \"$1/m.json\" --state \"$1/st/state\""
        ),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "read-only: {err}");
    assert!(err.contains("cannot save state"), "{err}");
    assert!(err.contains("Read-only file system"), "{err}");

    // Full: a small tmpfs; a first run saves a small state, then the disk is filled, then a
    // run with 20k remotes cannot save. The previous state must be intact, no temporary left.
    let out = in_mount_ns(
        d.path(),
        &format!(
            "mount -t tmpfs -o size=256k none \"$1/st\" || exit 99
             \"$2\" -q -r \"$1/s.pcap\" {common_args} --json-out \"$1/m.json\" --state \"$1/st/state\" || exit 98
             cp \"$1/st/state\" \"$1/first\"
             dd if=/dev/zero of=\"$1/st/fill\" bs=4k 2>/dev/null
             \"$2\" -r \"$1/big.pcap\" {common_args} --max-remotes 100000 --json-out \"$1/m.json\" --state \"$1/st/state\"
             rc=$?
             cp \"$1/st/state\" \"$1/after\"
             ls -A \"$1/st\" > \"$1/listing\"
             exit $rc"
        ),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "full: {err}");
    assert!(err.contains("cannot save state"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let first = std::fs::read(d.path().join("first")).unwrap();
    let after = std::fs::read(d.path().join("after")).unwrap();
    assert_eq!(first, after, "the previous state must be left as it was");
    assert!(parses_as_state(&after).unwrap() > 0);
    let listing = std::fs::read_to_string(d.path().join("listing")).unwrap();
    assert_eq!(
        listing.split_whitespace().collect::<Vec<_>>(),
        ["fill", "state"],
        "no temporary file left behind"
    );
}

#[test]
#[ignore = "needs root: a network namespace (unshare -n); ./dev.sh test runs it with --include-ignored as root"]
fn kill_9_during_saves_leaves_a_readable_state() {
    assert!(can_unshare("-n"), "needs root and unshare -n");
    let d = tmp();
    // A state of 40k remotes (about 1.5 MB): each save takes long enough to be hit.
    let state = d.path().join("state");
    let big = d.path().join("big.pcap");
    let n = flood_capture(&big, 40_000, 500);
    let mut args: Vec<String> = [
        "--lan",
        "10.0.0.0/8",
        "--leases",
        "",
        "--ethers",
        "",
        "--max-remotes",
        "100000",
        "--retention",
        "2000000000",
        "-q",
    ]
    .map(String::from)
    .to_vec();
    args.extend(["--state".into(), state.display().to_string()]);
    let (out, _) = replay(d.path(), &big, None, &args);
    assert!(out.status.success());
    assert_eq!(parses_as_state(&std::fs::read(&state).unwrap()), Ok(n));

    // Live on lo in a network namespace of its own (no traffic there): the tables come from
    // the state file and are saved every second. Killed with SIGKILL: in odd rounds as soon as
    // a save's temporary file appears (plus a varying delay: inside the write, the fsync or
    // the rename), in even rounds at a blind moment.
    let tmp_files = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(".state.tmp"))
            .collect()
    };
    let mut mid_save = 0;
    let rounds = 8;
    for round in 0..rounds {
        let mut child = Command::new("unshare")
            .args(["-n", "sh", "-c", "ip link set lo up; exec \"$@\"", "sh"])
            .arg(env!("CARGO_BIN_EXE_connmap"))
            .args(["-i", "lo", "--save-interval", "1", "--geoip", ""])
            .args(&args)
            .env("CONNMAP_LOG", "stderr")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        if round % 2 == 1 {
            // A save of this state takes milliseconds: watch without sleeping.
            while tmp_files(d.path()).is_empty() && started.elapsed() < Duration::from_secs(8) {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_micros(round as u64 / 2 * 150));
        } else {
            std::thread::sleep(Duration::from_millis(1200 + (round as u64 * 373) % 1800));
        }
        assert!(child.try_wait().unwrap().is_none(), "daemon died by itself");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let leftovers = tmp_files(d.path());
        if !leftovers.is_empty() {
            mid_save += 1;
            for l in leftovers {
                let _ = std::fs::remove_file(d.path().join(l));
            }
        }
        let bytes = std::fs::read(&state).unwrap();
        assert_eq!(
            parses_as_state(&bytes),
            Ok(n),
            "round {round}: state torn by kill -9"
        );
    }
    assert!(mid_save > 0, "no kill landed inside a save");
    println!("kill -9: {rounds} rounds, {mid_save} of them in the middle of a save");
}

#[test]
fn truncated_database_swapped_in_while_running() {
    let d = tmp();
    let pcap = scenario_pcap(d.path());
    let good = geoip2_db();
    let db = write_db(d.path(), &good, "geo.mmdb");
    let mut args = scenario_args();
    args.extend(["--geoip".into(), db.display().to_string()]);
    let mut daemon = serve(d.path(), &pcap, &args);
    let located = |daemon: &Daemon| -> usize {
        let (code, _, body) = get_from([127, 0, 0, 1].into(), daemon.addr, "/markers.json");
        assert_eq!(code, 200);
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        doc["markers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["lat"].is_number())
            .count()
    };
    let before = located(&daemon);
    assert!(before > 0);

    // A truncated copy (half the file: the metadata at the end is gone), renamed over the
    // database as a package upgrade would, then SIGHUP.
    for cut in [good.len() / 2, good.len() - 10, 0] {
        let part = d.path().join("geo.mmdb.new");
        std::fs::write(&part, &good[..cut]).unwrap();
        std::fs::rename(&part, &db).unwrap();
        let hups = daemon.log_text().matches("geo database").count();
        daemon.signal(libc::SIGHUP);
        daemon.wait_log("geo database", hups + 1, 10);
        std::thread::sleep(Duration::from_millis(300));
        assert!(daemon.alive(), "{}", daemon.log_text());
        assert_eq!(
            located(&daemon),
            0,
            "cut at {cut}: no positions without a database"
        );
    }
    // The good database back: positions come back.
    let part = d.path().join("geo.mmdb.new");
    std::fs::write(&part, &good).unwrap();
    std::fs::rename(&part, &db).unwrap();
    daemon.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while located(&daemon) != before {
        assert!(Instant::now() < deadline, "{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(daemon.alive());
}

#[test]
fn leases_missing_garbage_or_replaced_by_garbage() {
    let d = tmp();
    let pcap = scenario_pcap(d.path());
    let leases = d.path().join("dhcp.leases");
    let with = |path: &std::path::Path| {
        let mut a = plan_args();
        a.extend([
            "--leases".into(),
            path.display().to_string(),
            "--ethers".into(),
            String::new(),
        ]);
        a
    };
    // The devices without any lease file.
    let (_, json) = replay(d.path(), &pcap, None, &scenario_args());
    let devices = json.unwrap()["hosts"].as_array().unwrap().len();
    assert!(devices > 0);
    // Missing.
    let (out, json) = replay(d.path(), &pcap, None, &with(&d.path().join("none")));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json.unwrap()["hosts"].as_array().unwrap().len(), devices);

    // Garbage: random bytes, NULs, a 1 MB line, a huge number of lines, invalid UTF-8.
    let mut junk = Vec::new();
    let mut x = 0x1234_5678u32;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk.push(x as u8);
    }
    junk.extend(std::iter::repeat_n(b'9', 1 << 20));
    junk.extend(b"\n".repeat(100_000));
    for i in 0..20_000 {
        junk.extend(
            format!(
                "{} 02:00:00:00:{:02x}:{:02x} 192.168.1.{} n{i} *\n",
                T0,
                i >> 8 & 0xff,
                i & 0xff,
                i % 256
            )
            .as_bytes(),
        );
    }
    std::fs::write(&leases, &junk).unwrap();
    let (out, json) = replay(d.path(), &pcap, None, &with(&leases));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json.unwrap()["hosts"].as_array().unwrap().len(), devices);

    // Good leases, then garbage swapped in while running (SIGHUP re-reads them).
    std::fs::write(
        &leases,
        format!("{} 02:00:00:00:00:10 {LAPTOP} laptop *\n", T0 + 3600),
    )
    .unwrap();
    let mut daemon = serve(d.path(), &pcap, &with(&leases));
    let doc = json_of(&daemon);
    assert_eq!(host(&doc, LAPTOP).unwrap()["name"], "laptop");
    std::fs::write(&leases, &junk).unwrap();
    daemon.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(800));
    std::fs::remove_file(&leases).unwrap();
    daemon.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(800));
    assert!(daemon.alive(), "{}", daemon.log_text());
    let doc = json_of(&daemon);
    assert_eq!(doc["hosts"].as_array().unwrap().len(), devices);
}

fn json_of(daemon: &Daemon) -> serde_json::Value {
    let (code, _, body) = get_from([127, 0, 0, 1].into(), daemon.addr, "/markers.json");
    assert_eq!(code, 200);
    serde_json::from_slice(&body).unwrap()
}

/// The geo database truncated *in place* while mapped (what `cp new.mmdb geo.mmdb`, `> geo.mmdb`
/// or an interrupted in-place write does, instead of a rename): the next lookup of a new remote
/// reads a page past the new end of the file. Without `src/sigbus.rs` the kernel killed the
/// daemon with SIGBUS (signal 7) as soon as a new remote arrived; now the page reads as zeros,
/// the fault is logged, the database is reopened (and retried while it is unusable), and the
/// replay ends normally with every remote counted.
#[test]
fn database_truncated_in_place_is_survived() {
    use std::io::Write;
    let d = tmp();
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let fifo = d.path().join("in.pcap");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a fresh path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let child = Command::new(env!("CARGO_BIN_EXE_connmap"))
        .env("CONNMAP_LOG", "stderr")
        .arg("-r")
        .arg(&fifo)
        .args(["--lan", "10.0.0.0/8", "--leases", "", "--ethers", ""])
        .arg("--geoip")
        .arg(&db)
        .arg("--json-out")
        .arg(d.path().join("m.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut header = Vec::new();
    for v in [
        0xa1b2_c3d4u32.to_le_bytes().to_vec(),
        2u16.to_le_bytes().to_vec(),
        4u16.to_le_bytes().to_vec(),
        vec![0; 8],
        65535u32.to_le_bytes().to_vec(),
        1u32.to_le_bytes().to_vec(),
    ] {
        header.extend(v);
    }
    let record = |i: u32| {
        let (data, wire) = udp4(
            [10, 0, 0, 2],
            (0x0800_0000u32 + i * 7919).to_be_bytes(),
            40000,
            443,
            10,
        );
        let mut r = Vec::new();
        r.extend((T0 as u32 + i).to_le_bytes());
        r.extend(0u32.to_le_bytes());
        r.extend((data.len() as u32).to_le_bytes());
        r.extend(wire.to_le_bytes());
        r.extend(data);
        r
    };
    w.write_all(&header).unwrap();
    for i in 0..100 {
        w.write_all(&record(i)).unwrap();
    }
    w.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(0)
        .unwrap();
    for i in 100..5000 {
        if w.write_all(&record(i)).is_err() {
            break;
        }
    }
    drop(w);
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}\n{log}", out.status);
    assert!(log.contains("changed size under its mapping"), "{log}");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("m.json")).unwrap()).unwrap();
    assert!(doc["markers"].as_array().unwrap().len() > 100, "{doc}");
}

/// A `kill -9` (or a power cut) in the middle of a save leaves the temporary file
/// `.state.tmp<PID>` next to the state file (`snapshot::write_atomically` names it after
/// the process id and removes it only when the write fails). The next daemon has another pid,
/// so nothing ever removes it: on a router each crash during a save leaves a state-sized file
/// (megabytes at 10k remotes) on flash. kill_9_during_saves_leaves_a_readable_state sees them
/// in about half of its rounds. Fix: at start, remove `.NAME.tmp*` next to `--state` and
/// `--json-out`, or use a fixed temporary name.
#[test]
fn stale_temporary_files_of_interrupted_saves_are_removed() {
    let d = tmp();
    let pcap = scenario_pcap(d.path());
    let state = d.path().join("state");
    let stale = d.path().join(".state.tmp999999");
    std::fs::write(&stale, vec![b'{'; 1 << 20]).unwrap();
    let mut args = scenario_args();
    args.extend(["--state".into(), state.display().to_string()]);
    let (out, _) = replay(d.path(), &pcap, None, &args);
    assert!(out.status.success());
    assert!(state.exists());
    assert!(!stale.exists(), "stale temporary file left behind");
}
