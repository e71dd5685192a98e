//! The per-event path allocates nothing for the common id/message templates when the caller
//! reuses its output buffer. Counted with a global allocator, so this is its own test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use gotmpl::kapacitor::{ServerInfo, id_info, message_info};
use gotmpl::{Kind, Map, Template, Value};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_of(mut f: impl FnMut()) -> usize {
    f(); // warm up lazily initialised state
    let before = ALLOCS.load(Ordering::Relaxed);
    f();
    ALLOCS.load(Ordering::Relaxed) - before
}

#[test]
fn id_and_message_templates_do_not_allocate() {
    let id_data = id_info(
        "cpu",
        "task",
        "host=serverA",
        Map::strings([("host", "serverA")]),
        &ServerInfo::default(),
    );
    let fields = Map::from_entries(Kind::Any, [("value", Value::Float(1234567.0))]);
    let data: Value = message_info(id_data, "cpu:nil", fields, "CRITICAL", 0, 0).into();

    let templates = [
        r#"kapacitor/{{ .Name }}/{{ index .Tags "host" }}"#,
        "{{ .ID }} is {{ .Level }}",
        r#"{{ if eq .Level "OK" }}ok{{ else }}{{ .Name }}:{{ .Group }} {{ index .Fields "value" }}{{ end }}"#,
    ];
    let n = allocations_of(|| {
        std::hint::black_box(String::from("counted"));
    });
    assert_eq!(n, 1, "the counter sees allocations");
    for src in templates {
        let t = Template::parse("t", src).unwrap();
        let mut buf = String::with_capacity(256);
        let n = allocations_of(|| {
            buf.clear();
            t.execute_to(&mut buf, &data).unwrap();
        });
        assert_eq!(n, 0, "{src} allocated {n} times");
        assert!(!buf.is_empty());
    }
}
