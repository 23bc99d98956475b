//! Every command the README shows works as written, checked cheaply: the file it runs exists
//! and is run the way the README says. `sh FILE` is started by dash (Debian's `sh`, as a new
//! user would): a POSIX script must pass `dash -n`, a bash script must re-exec bash before any
//! bash-only line (checked by letting dash run it up to that point, where `exec bash` is made
//! `exec bash -n`: a syntax check of the whole file by bash). `bash FILE`: `bash -n`; `./FILE`:
//! executable, and its interpreter's syntax check; `python3 FILE`: compiles; `node FILE`:
//! `node --check`. (The `sh scripts/make-geodb.sh` of the README failed under dash:
//! `set -o pipefail`.)

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Command lines of the README: lines of fenced code blocks and inline code spans.
fn commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push(line.split('#').next().unwrap_or("").trim().to_string());
        } else {
            out.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

/// (how it is run, the repository file) of a command that runs one of our files.
fn runs_a_file(cmd: &str) -> Option<(&'static str, PathBuf)> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let words = match words.first() {
        Some(&"sudo") => &words[1..],
        _ => &words[..],
    };
    let (how, file) = match words {
        ["sh", f, ..] => ("sh", *f),
        ["bash", f, ..] => ("bash", *f),
        ["python3", f, ..] => ("python3", *f),
        ["node", f, ..] if f.ends_with(".mjs") || f.ends_with(".js") => ("node", *f),
        [f, ..] if f.starts_with("./") || f.starts_with("scripts/") => ("exec", *f),
        _ => return None,
    };
    let file = file.trim_start_matches("./");
    // built outputs (./target/release/connmap) are not ours to check
    if file.starts_with("target/") || file.ends_with('/') || !file.contains(['/', '.']) {
        return None;
    }
    Some((how, Path::new(ROOT).join(file)))
}

fn ok(c: &mut Command) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{c:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `sh FILE` under dash: POSIX as a whole, or bash re-exec'd before anything else.
fn check_sh(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let guard = text
        .lines()
        .position(|l| l.contains("BASH_VERSION") && l.contains("exec bash"));
    let Some(guard) = guard else {
        // a POSIX script: dash's syntax, and dash's shell options (`set -o pipefail` is not)
        ok(Command::new("dash").arg("-n").arg(file))?;
        for l in text.lines().filter(|l| l.starts_with("set ")) {
            ok(Command::new("dash").args(["-c", l]))?;
        }
        return Ok(());
    };
    let d = tempfile::tempdir().unwrap();
    let copy = d.path().join("script");
    let head: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == guard {
                l.replace(
                    "exec bash \"$0\"",
                    &format!("exec bash -n {}", file.display()),
                )
            } else {
                l.to_string()
            }
        })
        .take(guard + 1)
        .chain(["echo 'the bash re-exec did not happen' >&2; exit 1".to_string()])
        .collect();
    std::fs::write(&copy, head.join("\n")).unwrap();
    ok(Command::new("dash").arg(&copy).current_dir(ROOT))
}

fn check(how: &str, file: &Path) -> Result<(), String> {
    if !file.is_file() {
        return Err(format!("{} does not exist", file.display()));
    }
    match how {
        "sh" => check_sh(file),
        "bash" => ok(Command::new("bash").arg("-n").arg(file)),
        "python3" => ok(Command::new("python3")
            .args(["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())"])
            .arg(file)),
        "node" => ok(Command::new("node").arg("--check").arg(file)),
        _ => {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file).unwrap().permissions().mode();
            if mode & 0o111 == 0 {
                return Err(format!("{} is not executable", file.display()));
            }
            let first = std::fs::read_to_string(file).unwrap_or_default();
            let shebang = first.lines().next().unwrap_or("");
            if shebang.contains("bash") {
                ok(Command::new("bash").arg("-n").arg(file))
            } else if shebang.ends_with("/sh") {
                check_sh(file)
            } else if shebang.contains("python3") {
                check("python3", file)
            } else {
                Err(format!(
                    "{}: unknown interpreter {shebang:?}",
                    file.display()
                ))
            }
        }
    }
}

#[test]
fn every_readme_command_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    for cmd in commands(&readme) {
        if let Some((how, file)) = runs_a_file(&cmd) {
            if let Err(e) = check(how, &file) {
                wrong.push(format!("`{cmd}`: {e}"));
            }
            checked.push(cmd);
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for must in [
        "sh scripts/make-geodb.sh",
        "./dev.sh test",
        "sh www/build.sh",
    ] {
        assert!(
            checked.iter().any(|c| c.starts_with(must)),
            "{must} in {checked:?}"
        );
    }
}

/// The check itself: a bash script started by dash without the re-exec is caught.
#[test]
fn a_bash_script_under_sh_without_the_re_exec_is_caught() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.sh");
    std::fs::write(
        &bad,
        "#!/usr/bin/env bash\nset -euo pipefail\na=(1 2)\necho \"${a[@]}\"\n",
    )
    .unwrap();
    assert!(check("sh", &bad).is_err());
    let posix_but_pipefail = d.path().join("pipefail.sh");
    std::fs::write(
        &posix_but_pipefail,
        "#!/usr/bin/env bash\nset -euo pipefail\necho hi\n",
    )
    .unwrap();
    assert!(check("sh", &posix_but_pipefail).is_err());
    let good = d.path().join("good.sh");
    std::fs::write(
        &good,
        "#!/usr/bin/env bash\n[ -n \"${BASH_VERSION:-}\" ] || exec bash \"$0\" \"$@\"\nset -euo pipefail\na=(1 2)\n",
    )
    .unwrap();
    assert_eq!(check("sh", &good), Ok(()));
}
