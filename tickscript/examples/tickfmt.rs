//! `tickfmt [file]`: formats a TICKscript (stdin when no file), or prints the error with its
//! position. Handy to compare with Kapacitor's `tickfmt`.

use std::io::Read;

fn main() {
    let mut src = String::new();
    match std::env::args().nth(1) {
        Some(path) => src = std::fs::read_to_string(path).expect("readable file"),
        None => {
            std::io::stdin().read_to_string(&mut src).expect("stdin");
        }
    }
    match tickscript::format(&src) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
