//! The `connmap` binary: parse the command line, set up logging, run the daemon or the demo.

use connmap::cli::{self, Command};

fn main() {
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
            connmap::daemon::run(*cfg)
        }
        Command::Demo(d) => {
            connmap::logging::init(d.verbosity);
            demo(d)
        }
    };
    std::process::exit(code);
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
