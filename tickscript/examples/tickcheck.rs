//! `tickcheck [file]`: compiles a TICKscript (stdin when no file) and prints its DOT, or the
//! error with its position.

use std::io::Read;

fn main() {
    let mut src = String::new();
    match std::env::args().nth(1) {
        Some(path) => src = std::fs::read_to_string(path).expect("readable file"),
        None => {
            std::io::stdin().read_to_string(&mut src).expect("stdin");
        }
    }
    match tickscript::compile(&src, &tickscript::Vars::default()) {
        Ok(p) => println!("{} task\n{}", p.task_type.as_str(), p.dot("task")),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
