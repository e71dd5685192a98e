//! Bytes of heap a point costs while a `window` holds it: allocation counts are deterministic,
//! so the bound is asserted, not timed.
//!
//! Run `cargo nextest run -p kapacitor-workers --test held_point_memory --no-capture` to see
//! the figures.

use kapacitor_models::{FieldValue, Fields, Point, Tags};
use kapacitor_workers::engine::{Task, TaskContext};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the live heap bytes of the current thread only, so tests running in parallel in one
/// process (plain `cargo test`) do not disturb each other: the bytes asked for, and the bytes
/// the allocator (glibc's, under `System`) really set aside for them (`malloc_usable_size` plus
/// its 8-byte chunk header), which is what the process pays.
struct Counting;

thread_local! {
    static LIVE: Cell<(i64, i64)> = const { Cell::new((0, 0)) };
}

unsafe extern "C" {
    fn malloc_usable_size(p: *mut std::ffi::c_void) -> usize;
}

fn footprint(p: *mut u8) -> i64 {
    if p.is_null() {
        return 0;
    }
    (unsafe { malloc_usable_size(p.cast()) } + 8) as i64
}

fn add(asked: i64, got: i64) {
    // `try_with`: the thread-local is gone while the thread is torn down.
    let _ = LIVE.try_with(|l| {
        let (a, g) = l.get();
        l.set((a + asked, g + got));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        add(l.size() as i64, footprint(p));
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add(-(l.size() as i64), -footprint(p));
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let before = footprint(p);
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            add(new as i64 - l.size() as i64, footprint(q) - before);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (bytes asked for, bytes set aside) live on this thread.
fn live() -> (i64, i64) {
    LIVE.with(Cell::get)
}

const S: i64 = 1_000_000_000;
const T0: i64 = 31_536_000 * S;
const POINTS: usize = 1_000_000;

enum Values {
    Floats,
    Strings,
}

/// One measurement, tags `host` (one of `series` values) and `region`, two fields; one point
/// per millisecond, so 1 M points stay inside one hour.
fn point(i: usize, series: usize, values: &Values) -> Point {
    let mut tags = Tags::new();
    tags.insert("host".into(), format!("host{:05}", i % series));
    tags.insert("region".into(), "eu-west".into());
    let mut fields = Fields::new();
    match values {
        Values::Floats => {
            fields.insert("usage_user".into(), FieldValue::Float(i as f64 * 0.5));
            fields.insert("usage_system".into(), FieldValue::Float((i % 100) as f64));
        }
        Values::Strings => {
            fields.insert("status".into(), FieldValue::Str(format!("ok-{}", i % 7)));
            fields.insert("message".into(), FieldValue::Str(format!("message {i}")));
        }
    }
    Point {
        name: "cpu".into(),
        tags,
        fields,
        time: T0 + (i as i64) * 1_000_000,
    }
}

/// Live heap bytes per point after `POINTS` points went into `window().period(1h)`, which
/// holds them all: asked for (the figure the bound is on) and set aside by the allocator.
fn bytes_per_held_point(script: &str, series: usize, values: Values) -> (f64, f64) {
    bytes_per_held_point_of(POINTS, script, series, values)
}

fn bytes_per_held_point_of(
    points: usize,
    script: &str,
    series: usize,
    values: Values,
) -> (f64, f64) {
    let pipeline = tickscript::compile(script, &tickscript::Vars::new()).expect("script compiles");
    let mut task = Task::new("t", &pipeline, TaskContext::default()).expect("task builds");
    let before = live();
    for i in 0..points {
        task.push_point("db", "rp", point(i, series, &values));
    }
    let after = live();
    // Nothing was emitted: every point is still in the window.
    let stats = task.stats();
    let window = stats
        .nodes
        .iter()
        .find(|n| n.name.starts_with("window"))
        .expect("a window node");
    assert_eq!(window.collected, points as i64);
    assert_eq!(window.emitted, 0);
    drop(task);
    let per_point = |b: i64| b as f64 / points as f64;
    (per_point(after.0 - before.0), per_point(after.1 - before.1))
}

const WINDOW: &str =
    "stream|from().measurement('cpu')|window().period(1h).every(1h)|count('usage_user')";
const WINDOW_BY_HOST: &str = "stream|from().measurement('cpu').groupBy('host')|window().period(1h).every(1h)|count('usage_user')";

/// `HELD_POINT_REPORT=1` prints the figures without failing (to record a baseline).
fn soft_assert(ok: bool, b: f64) {
    if std::env::var_os("HELD_POINT_REPORT").is_none() {
        assert!(ok, "{b:.1} bytes per held point");
    }
}

#[test]
fn a_held_point_with_two_tags_and_two_float_fields_costs_at_most_200_bytes() {
    let (b, got) = bytes_per_held_point(WINDOW, 10, Values::Floats);
    println!(
        "window(1h), 10 series, 2 tags, 2 float fields: {b:.1} bytes per held point ({got:.1} with allocator overhead)"
    );
    soft_assert(b <= 200.0, b);
    let (b, got) = bytes_per_held_point(WINDOW_BY_HOST, 10, Values::Floats);
    println!(
        "groupBy(host)|window(1h), 10 series: {b:.1} bytes per held point ({got:.1} with allocator overhead)"
    );
    soft_assert(b <= 200.0, b);
}

#[test]
fn many_series_and_string_fields_stay_compact() {
    let (b, got) = bytes_per_held_point(WINDOW, 20_000, Values::Floats);
    println!(
        "window(1h), 20,000 series, 2 float fields: {b:.1} bytes per held point ({got:.1} with allocator overhead)"
    );
    soft_assert(b <= 250.0, b);
    let (b, got) = bytes_per_held_point(WINDOW_BY_HOST, 20_000, Values::Floats);
    println!(
        "groupBy(host)|window(1h), 20,000 series (and groups): {b:.1} bytes per held point ({got:.1} with allocator overhead)"
    );
    let (b, got) = bytes_per_held_point(WINDOW, 10, Values::Strings);
    println!(
        "window(1h), 10 series, 2 string fields (~10 bytes each): {b:.1} bytes per held point ({got:.1} with allocator overhead)"
    );
    soft_assert(b <= 250.0, b);
    // A cardinality bomb: every point a new series and a new group (no bound asserted: the
    // group's own state is most of it; the task's memory budget is what limits it).
    let (b, got) = bytes_per_held_point_of(200_000, WINDOW_BY_HOST, 200_000, Values::Floats);
    println!(
        "groupBy(host)|window(1h), every point a new group: {b:.1} bytes per held point ({got:.1} with allocator overhead)"
    );
}
