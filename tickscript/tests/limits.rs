//! Deep input is either handled or rejected with an error, never a stack overflow. These run
//! on the default 2 MiB test thread stack, in debug builds, on purpose.

fn chain(links: usize) -> String {
    let mut s = String::from("stream|from()");
    for _ in 0..links {
        s.push_str(".measurement('m')");
    }
    s
}

#[test]
fn long_chains_and_operator_runs_work_up_to_the_limit() {
    let src = chain(240);
    let p = tickscript::compile(&src, &tickscript::Vars::default()).unwrap();
    assert_eq!(p.nodes[1].props.len(), 240);
    let formatted = tickscript::format(&src).unwrap();
    assert_eq!(formatted.lines().count(), 242);

    let sum = vec!["1"; 240].join(" + ");
    let src = format!("var x = {sum}\nstream|from()");
    assert!(tickscript::compile(&src, &tickscript::Vars::default()).is_ok());
    assert!(tickscript::format(&src).is_ok());

    for src in [
        format!(
            "var x = {}1{}\nstream|from()",
            "(".repeat(240),
            ")".repeat(240)
        ),
        format!("var x = {}1\nstream|from()", "-".repeat(240)),
        format!(
            "stream|from().where(lambda: {}\"v\"{} > 1)",
            "abs(".repeat(240),
            ")".repeat(240)
        ),
    ] {
        tickscript::compile(&src, &tickscript::Vars::default()).unwrap();
        tickscript::format(&src).unwrap();
    }
}

#[test]
fn deeper_input_is_an_error() {
    for src in [
        chain(300),
        format!("var x = {}\nstream|from()", vec!["1"; 300].join(" + ")),
        format!("var x = {}1{}", "(".repeat(300), ")".repeat(300)),
        format!("var x = {}1", "-".repeat(300)),
        format!(
            "stream|from().where(lambda: {}1{})",
            "abs(".repeat(300),
            ")".repeat(300)
        ),
    ] {
        let e = tickscript::parse(&src).unwrap_err();
        assert!(
            e.to_string().contains("nested deeper than 250 levels"),
            "{e}"
        );
    }
}
