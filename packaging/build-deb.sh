#!/usr/bin/env bash
# Builds target/debian/kapacitor_<version>_<arch>.deb. Not part of CI.
# Needs cargo-deb: `cargo install cargo-deb --locked`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
# The shipped config is exactly the built-in defaults, as `kapacitord config` prints them.
target/release/kapacitord config > packaging/kapacitor.conf
cargo deb -p kapacitord --no-build "$@"
