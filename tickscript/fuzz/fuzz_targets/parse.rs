//! Feeds arbitrary text to every entry point that takes user text: parse, format (and its
//! idempotence), compile, lambda parsing, and the DOT of whatever compiles.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(formatted) = tickscript::format(src) {
        let again = tickscript::format(&formatted).expect("formatted output must parse");
        assert_eq!(again, formatted, "format is not idempotent");
    }
    if let Ok(p) = tickscript::compile(src, &tickscript::Vars::default()) {
        let _ = p.dot("fuzz");
        let _ = p.measurements();
    }
    if let Ok(program) = tickscript::parse(src) {
        let _ = tickscript::declared_vars(&program);
    }
    let _ = tickscript::parse_lambda(src);
});
