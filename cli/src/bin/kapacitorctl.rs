//! `kapacitorctl`: the cluster CLI.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = kapacitor_cli::app::Environment::from_process();
    let code = kapacitor_cli::ctl::run(
        &args,
        &env,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
