//! Per-group state of the stateful functions `sigma`, `count` and `spread`.

use super::value::{Ty, Val};

/// The mutable state of one lambda for one group: one slot per stateful call in the expression.
/// Create it with [`super::Lambda::new_state`]; clone it to start a new group from a snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub(crate) slots: Vec<FnState>,
}

impl State {
    /// Forgets everything seen so far (Kapacitor's `Reset`).
    pub fn reset(&mut self) {
        for slot in &mut self.slots {
            *slot = slot.kind().initial();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatefulKind {
    Sigma,
    Count,
    Spread,
}

impl StatefulKind {
    pub(crate) fn lookup(name: &str) -> Option<StatefulKind> {
        match name {
            "sigma" => Some(StatefulKind::Sigma),
            "count" => Some(StatefulKind::Count),
            "spread" => Some(StatefulKind::Spread),
            _ => None,
        }
    }

    pub(crate) fn signatures(self) -> &'static [(&'static [Ty], Ty)] {
        match self {
            StatefulKind::Sigma | StatefulKind::Spread => &[(&[Ty::Float], Ty::Float)],
            StatefulKind::Count => &[(&[], Ty::Int)],
        }
    }

    pub(crate) fn initial(self) -> FnState {
        match self {
            StatefulKind::Sigma => FnState::Sigma {
                mean: 0.0,
                m2: 0.0,
                n: 0.0,
            },
            StatefulKind::Count => FnState::Count(0),
            StatefulKind::Spread => FnState::Spread {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FnState {
    Sigma { mean: f64, m2: f64, n: f64 },
    Count(i64),
    Spread { min: f64, max: f64 },
}

impl FnState {
    fn kind(&self) -> StatefulKind {
        match self {
            FnState::Sigma { .. } => StatefulKind::Sigma,
            FnState::Count(_) => StatefulKind::Count,
            FnState::Spread { .. } => StatefulKind::Spread,
        }
    }

    /// Feeds one value (already checked against the signature) and returns the result.
    pub(crate) fn update(&mut self, args: &[Val<'_>]) -> Result<Val<'static>, String> {
        match (self, args) {
            (FnState::Count(n), []) => {
                *n = n.wrapping_add(1);
                Ok(Val::Int(*n))
            }
            // Welford's running variance, exactly as Kapacitor computes it.
            (FnState::Sigma { mean, m2, n }, [Val::Float(x)]) => {
                *n += 1.0;
                let delta = x - *mean;
                *mean += delta / *n;
                *m2 += delta * (x - *mean);
                let variance = *m2 / (*n - 1.0);
                if *n < 2.0 || variance == 0.0 {
                    Ok(Val::Float(0.0))
                } else {
                    Ok(Val::Float((x - *mean).abs() / variance.sqrt()))
                }
            }
            (FnState::Spread { min, max }, [Val::Float(x)]) => {
                if *x < *min {
                    *min = *x;
                }
                if *x > *max {
                    *max = *x;
                }
                Ok(Val::Float(*max - *min))
            }
            _ => Err("state does not belong to this lambda".to_string()),
        }
    }
}
