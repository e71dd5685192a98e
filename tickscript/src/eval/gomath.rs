//! Go `math` package functions that Rust's stable `f64` lacks or defines differently.
//!
//! `erf`, `gamma`, the Bessel functions and `logb` come from the C math library, which the Rust
//! standard library already links on every Unix target; they are pure functions of their
//! arguments. `max`/`min`/`pow10` are reimplemented because Go's NaN and ±0 rules differ from
//! `f64::max`/`f64::min`.

use std::ffi::c_int;

mod c {
    use std::ffi::c_int;

    unsafe extern "C" {
        pub fn erf(x: f64) -> f64;
        pub fn erfc(x: f64) -> f64;
        pub fn tgamma(x: f64) -> f64;
        pub fn j0(x: f64) -> f64;
        pub fn j1(x: f64) -> f64;
        pub fn jn(n: c_int, x: f64) -> f64;
        pub fn y0(x: f64) -> f64;
        pub fn y1(x: f64) -> f64;
        pub fn yn(n: c_int, x: f64) -> f64;
        pub fn logb(x: f64) -> f64;
    }
}

// SAFETY (all wrappers): the C functions take and return plain doubles/ints, touch no memory
// and are thread-safe (they may set errno, which nothing here reads).
pub(crate) fn erf(x: f64) -> f64 {
    unsafe { c::erf(x) }
}
pub(crate) fn erfc(x: f64) -> f64 {
    unsafe { c::erfc(x) }
}
pub(crate) fn gamma(x: f64) -> f64 {
    unsafe { c::tgamma(x) }
}
pub(crate) fn j0(x: f64) -> f64 {
    unsafe { c::j0(x) }
}
pub(crate) fn j1(x: f64) -> f64 {
    unsafe { c::j1(x) }
}
pub(crate) fn y0(x: f64) -> f64 {
    unsafe { c::y0(x) }
}
pub(crate) fn y1(x: f64) -> f64 {
    unsafe { c::y1(x) }
}
pub(crate) fn logb(x: f64) -> f64 {
    unsafe { c::logb(x) }
}

/// Bessel functions of order n cost O(|n|) (about 5 ns per order): orders beyond this bound
/// would stall a task for seconds per point, so they yield NaN instead.
const MAX_BESSEL_ORDER: i64 = 1_000_000;

fn order(n: i64) -> Option<c_int> {
    (n.unsigned_abs() <= MAX_BESSEL_ORDER as u64).then_some(n as c_int)
}
pub(crate) fn jn(n: i64, x: f64) -> f64 {
    order(n).map_or(f64::NAN, |n| unsafe { c::jn(n, x) })
}
pub(crate) fn yn(n: i64, x: f64) -> f64 {
    order(n).map_or(f64::NAN, |n| unsafe { c::yn(n, x) })
}

/// Go's `math.Max`: +Inf wins over NaN, NaN wins otherwise, +0 > -0.
pub(crate) fn max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins over NaN, NaN wins otherwise, -0 < +0.
pub(crate) fn min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// Go's `math.Pow10`: exact powers of ten, 0 below 1e-323, +Inf above 1e308.
pub(crate) fn pow10(n: i64) -> f64 {
    if n < -323 {
        0.0
    } else if n > 308 {
        f64::INFINITY
    } else {
        format!("1e{n}").parse().unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libm_functions_link_and_compute() {
        assert!((erf(0.5) - 0.520_499_877_813_046_5).abs() < 1e-15);
        assert!((erfc(0.5) - 0.479_500_122_186_953_5).abs() < 1e-15);
        assert_eq!(gamma(5.0), 24.0);
        assert!((j0(1.0) - 0.765_197_686_557_966_6).abs() < 1e-15);
        assert!((j1(1.0) - 0.440_050_585_744_933_5).abs() < 1e-15);
        assert!((jn(2, 1.0) - 0.114_903_484_931_900_5).abs() < 1e-15);
        assert!((y0(1.0) - 0.088_256_964_215_676_96).abs() < 1e-15);
        assert!((y1(1.0) + 0.781_212_821_300_288_7).abs() < 1e-15);
        assert!((yn(2, 1.0) + 1.650_682_606_816_254_4).abs() < 1e-14);
        assert_eq!(logb(8.0), 3.0);
        assert_eq!(logb(0.0), f64::NEG_INFINITY);
        assert!(jn(i64::MAX, 1.0).is_nan());
        assert!(yn(i64::MIN, 1.0).is_nan());
        assert_eq!(jn(-1, 0.0), 0.0);
    }

    #[test]
    fn go_max_min_rules() {
        assert_eq!(max(1.0, 2.0), 2.0);
        assert!(max(f64::NAN, 1.0).is_nan());
        assert_eq!(max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert!(max(-0.0, 0.0).is_sign_positive());
        assert_eq!(min(1.0, 2.0), 1.0);
        assert!(min(1.0, f64::NAN).is_nan());
        assert_eq!(min(f64::NAN, f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert!(min(0.0, -0.0).is_sign_negative());
    }

    #[test]
    fn pow10_is_exact() {
        assert_eq!(pow10(0), 1.0);
        assert_eq!(pow10(22), 1e22);
        assert_eq!(pow10(-5), 1e-5);
        assert_eq!(pow10(309), f64::INFINITY);
        assert_eq!(pow10(-324), 0.0);
    }
}
