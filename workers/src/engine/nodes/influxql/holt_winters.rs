//! Holt-Winters forecasting as InfluxDB's `FloatHoltWintersReducer` computes it (damped
//! method; parameters fitted with a Nelder-Mead simplex started from a small grid of
//! guesses), reproduced operation for operation so that forecasts match Kapacitor's bits.

const HW_WEIGHT: f64 = 0.5;
const EPSILON: f64 = 1.0e-4;
const GUESS_LOWER: f64 = 0.3;
const GUESS_UPPER: f64 = 1.0;
const GUESS_STEP: f64 = 0.4;

/// Returns `(time, value)` forecast points (with the fitted points first when `fit`).
pub fn forecast(
    points: &[(i64, f64)],
    h: usize,
    m: usize,
    interval: i64,
    fit: bool,
) -> Vec<(i64, f64)> {
    let seasonal = m >= 2;
    if points.len() < 2 || (seasonal && points.len() < m) || h == 0 || interval <= 0 {
        return Vec::new();
    }
    let half = interval / 2;
    let round = |t: i64| -> i64 {
        if t % interval > half {
            (t / interval + 1) * interval
        } else {
            (t / interval) * interval
        }
    };
    let start = round(points[0].0);
    let stop = round(points[points.len() - 1].0);
    if (stop - start) / interval <= 0 {
        return Vec::new();
    }
    let mut y = vec![points[0].1];
    let mut t = start;
    for &(pt, v) in &points[1..] {
        let rounded = round(pt);
        if rounded <= t {
            continue;
        }
        t += interval;
        while rounded != t {
            y.push(f64::NAN);
            t += interval;
        }
        y.push(v);
    }
    let mut l0 = 0.0;
    if seasonal {
        for yi in y.iter().take(m) {
            if !yi.is_nan() {
                l0 += (1.0 / m as f64) * yi;
            }
        }
    } else {
        l0 += HW_WEIGHT * y[0];
    }
    let mut b0 = 0.0;
    if seasonal {
        let mut i = 0;
        while i < m && m + i < y.len() {
            if !y[i].is_nan() && !y[m + i].is_nan() {
                b0 += 1.0 / (m * m) as f64 * (y[m + i] - y[i]);
            }
            i += 1;
        }
    } else if !y[1].is_nan() {
        b0 = HW_WEIGHT * (y[1] - y[0]);
    }
    let mut params = vec![0.0, 0.0, 0.0, 0.0, l0, b0];
    if seasonal {
        for yi in y.iter().take(m) {
            params.push(if yi.is_nan() { 0.0 } else { yi / l0 });
        }
    }
    let hw = Hw { y: &y, seasonal };
    let mut min_sse = f64::INFINITY;
    let mut best: Option<Vec<f64>> = None;
    let mut alpha = GUESS_LOWER;
    while alpha < GUESS_UPPER {
        let mut beta = GUESS_LOWER;
        while beta < GUESS_UPPER {
            let mut gamma = GUESS_LOWER;
            while gamma < GUESS_UPPER {
                let mut phi = GUESS_LOWER;
                while phi < GUESS_UPPER {
                    params[0] = alpha;
                    params[1] = beta;
                    params[2] = gamma;
                    params[3] = phi;
                    let (sse, p) = optimize(|x| hw.sse(x), &params, EPSILON, 1.0);
                    if sse < min_sse || best.is_none() {
                        min_sse = sse;
                        best = Some(p);
                    }
                    phi += GUESS_STEP;
                }
                gamma += GUESS_STEP;
            }
            beta += GUESS_STEP;
        }
        alpha += GUESS_STEP;
    }
    let Some(mut best) = best else {
        return Vec::new();
    };
    let forecasted = hw.forecast(h, &mut best);
    if fit {
        let start = points[0].0;
        forecasted
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, v)| (start + interval * i as i64, *v))
            .collect()
    } else {
        let stop = points[points.len() - 1].0;
        forecasted[y.len()..]
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, v)| (stop + interval * (i as i64 + 1), *v))
            .collect()
    }
}

struct Hw<'a> {
    y: &'a [f64],
    seasonal: bool,
}

impl Hw<'_> {
    /// Like the Go code, this clamps the smoothing parameters and writes the evolving
    /// seasonals back into `params` (the optimizer's vertices see both).
    fn forecast(&self, h: usize, params: &mut [f64]) -> Vec<f64> {
        for v in params.iter_mut().take(4) {
            *v = v.clamp(0.0, 1.0);
        }
        let mut y_t = self.y[0];
        let phi = params[3];
        let mut phi_h = phi;
        let mut l_t = params[4];
        let mut b_t = params[5];
        let m = if self.seasonal { params.len() - 6 } else { 0 };
        let mut so = 0usize;
        if self.seasonal {
            if m == 1 {
                params[6] = 1.0;
            }
            so = m - 1;
        }
        let l = self.y.len();
        let mut out = vec![0.0; l + h];
        out[0] = y_t;
        for t in 1..l + h {
            let (mut stm, mut stmh) = (1.0, 1.0);
            if self.seasonal {
                let hm = t % m;
                stm = params[6 + (t + so - m) % m];
                stmh = params[6 + (t + hm + so - m) % m];
            }
            let (alpha, beta, gamma) = (params[0], params[1], params[2]);
            let (l_tp, b_tp) = (l_t, b_t);
            l_t = alpha * (y_t / stm) + (1.0 - alpha) * (l_tp + phi * b_tp);
            b_t = beta * (l_t - l_tp) + (1.0 - beta) * phi * b_tp;
            let s_t = gamma * (y_t / (l_tp + phi * b_tp)) + (1.0 - gamma) * stm;
            y_t = (l_t + phi_h * b_t) * stmh;
            phi_h += phi.powf(t as f64);
            if self.seasonal {
                params[6 + (t + so) % m] = s_t;
                so += 1;
            }
            out[t] = y_t;
        }
        out
    }

    fn sse(&self, params: &mut [f64]) -> f64 {
        let f = self.forecast(0, params);
        let mut sse = 0.0;
        for (i, v) in f.iter().enumerate() {
            if !self.y[i].is_nan() {
                if v.is_nan() {
                    return f64::INFINITY;
                }
                let d = v - self.y[i];
                sse += d * d;
            }
        }
        sse
    }
}

/// Nelder-Mead simplex minimisation (Michael F. Hutt's formulation, as in InfluxDB). The
/// objective may modify the vertex it is given, as InfluxDB's does.
fn optimize(
    mut objfunc: impl FnMut(&mut [f64]) -> f64,
    start: &[f64],
    epsilon: f64,
    scale: f64,
) -> (f64, Vec<f64>) {
    const MAX_ITER: usize = 1000;
    const ALPHA: f64 = 1.0;
    const BETA: f64 = 0.5;
    const GAMMA: f64 = 2.0;
    let n = start.len();
    let mut v = vec![vec![0.0; n]; n + 1];
    let mut f = vec![0.0; n + 1];
    let mut vr = vec![0.0; n];
    let mut ve = vec![0.0; n];
    let mut vc = vec![0.0; n];
    let mut vm = vec![0.0; n];
    let nf = n as f64;
    let pn = scale * ((nf + 1.0).sqrt() - 1.0 + nf) / (nf * 2f64.sqrt());
    let qn = scale * ((nf + 1.0).sqrt() - 1.0) / (nf * 2f64.sqrt());
    v[0].copy_from_slice(start);
    for (i, row) in v.iter_mut().enumerate().skip(1) {
        for (j, x) in row.iter_mut().enumerate() {
            *x = if i - 1 == j {
                pn + start[j]
            } else {
                qn + start[j]
            };
        }
    }
    for j in 0..=n {
        f[j] = objfunc(&mut v[j]);
    }
    for _ in 1..=MAX_ITER {
        let mut vg = 0;
        let mut vs = 0;
        for i in 0..=n {
            if f[i] > f[vg] {
                vg = i;
            }
            if f[i] < f[vs] {
                vs = i;
            }
        }
        let mut vh = vs;
        for i in 0..=n {
            if f[i] > f[vh] && f[i] < f[vg] {
                vh = i;
            }
        }
        for i in 0..n {
            let mut cent = 0.0;
            for (m, row) in v.iter().enumerate() {
                if m != vg {
                    cent += row[i];
                }
            }
            vm[i] = cent / nf;
        }
        for i in 0..n {
            vr[i] = vm[i] + ALPHA * (vm[i] - v[vg][i]);
        }
        let fr = objfunc(&mut vr);
        if fr < f[vh] && fr >= f[vs] {
            v[vg].copy_from_slice(&vr);
            f[vg] = fr;
        }
        if fr < f[vs] {
            for i in 0..n {
                ve[i] = vm[i] + GAMMA * (vr[i] - vm[i]);
            }
            let fe = objfunc(&mut ve);
            if fe < fr {
                v[vg].copy_from_slice(&ve);
                f[vg] = fe;
            } else {
                v[vg].copy_from_slice(&vr);
                f[vg] = fr;
            }
        }
        if fr >= f[vh] {
            if fr < f[vg] && fr >= f[vh] {
                for i in 0..n {
                    vc[i] = vm[i] + BETA * (vr[i] - vm[i]);
                }
            } else {
                for i in 0..n {
                    vc[i] = vm[i] - BETA * (vm[i] - v[vg][i]);
                }
            }
            let fc = objfunc(&mut vc);
            if fc < f[vg] {
                v[vg].copy_from_slice(&vc);
                f[vg] = fc;
            } else {
                let base = v[vs].clone();
                for (row, vrow) in v.iter_mut().enumerate() {
                    if row != vs {
                        for i in 0..n {
                            vrow[i] = base[i] + (vrow[i] - base[i]) / 2.0;
                        }
                    }
                }
                f[vg] = objfunc(&mut v[vg]);
                f[vh] = objfunc(&mut v[vh]);
            }
        }
        let fsum: f64 = f.iter().sum();
        let favg = fsum / (nf + 1.0);
        let mut s = 0.0;
        for fi in &f {
            s += (fi - favg).powf(2.0) / nf;
        }
        if s.sqrt() < epsilon {
            break;
        }
    }
    let mut vs = 0;
    for i in 0..=n {
        if f[i] < f[vs] {
            vs = i;
        }
    }
    let params = v[vs].clone();
    let min = objfunc(&mut v[vs]);
    (min, params)
}
