//! `kapacitord`: the supervisor binary. The same executable also runs every child process:
//! the supervisor re-execs `/proc/self/exe __role <role>`, and `main` dispatches on that hidden
//! argument before any command-line parsing.

use kapacitord::cli::{Cli, Command};
use kapacitord::{daemon, roles, spawn};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // mimalloc backs its first arena with transparent huge pages, which made an idle worker
    // 10 MiB larger than its ~2 MiB of private data. The flag is inherited across the
    // re-exec, so every child starts without THP.
    let _ = nix::sys::prctl::set_thp_disable(true);
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(role) = spawn::parse_role_args(&args) {
        let code = match role {
            Ok(role) => roles::run_role(role),
            Err(e) => {
                eprintln!("kapacitord: {e}");
                2
            }
        };
        std::process::exit(code);
    }
    let cli = match Cli::parse_go_style(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let code = match cli.into_command() {
        Command::Run(args) => daemon::run(args),
        Command::Config(args) => daemon::print_config(args),
        Command::Version => {
            println!(
                "Kapacitor v{} (kapacitor-rs, protocol {})",
                kapacitor_ipc::VERSION,
                kapacitor_ipc::PROTO_VERSION
            );
            0
        }
    };
    std::process::exit(code);
}
