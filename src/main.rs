//! The `connmap` binary: parse the command line, set up logging, run the daemon or the demo.

use connmap::cli::{self, Command};

fn main() {
    bound_the_heap();
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connmap: {e}\nTry 'connmap --help'.");
            std::process::exit(2);
        }
    };
    let code = match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            0
        }
        Command::Version => {
            println!("connmap {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Run(cfg) => {
            connmap::logging::init(cfg.verbosity);
            connmap::daemon::run(Box::leak(cfg))
        }
        Command::Demo(d) => {
            connmap::logging::init(d.verbosity);
            demo(d)
        }
    };
    std::process::exit(code);
}

/// glibc only: large buffers (a markers.json document and its gzip: megabytes, one of each per
/// snapshot) always get a mapping of their own, which goes back to the kernel when they are
/// freed. By default glibc raises its mmap threshold to the size of the first such buffer
/// freed and keeps the later ones in its heaps, one per thread that touched them: at 10,000
/// remotes with 4 HTTP clients the live flood peaked at 18.2 MB of RSS instead of 14.1 MB
/// (BENCHMARKS.md). musl (the router builds) maps large allocations of its own accord.
fn bound_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(feature = "demo")]
fn demo(d: cli::DemoConfig) -> i32 {
    connmap::demo::run(d)
}

#[cfg(not(feature = "demo"))]
fn demo(_: cli::DemoConfig) -> i32 {
    log::error!("this build has no demo (built without the `demo` feature)");
    2
}
