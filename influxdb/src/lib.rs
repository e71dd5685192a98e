//! InfluxDB integration (skeleton).
