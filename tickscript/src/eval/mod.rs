//! The lambda evaluator (skeleton): expressions compiled once per node into closures.
