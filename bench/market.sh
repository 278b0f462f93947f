#!/usr/bin/env bash
# The internal market's matching core against OrderBook-rs (issue 16), one core, same stream.
# Usage: bench/market.sh [OPERATIONS] [ROUNDS]   (defaults: 2000000 3)
# The peer is built in its own workspace (bench/market-book), so it never enters the platform's build.
set -euo pipefail
cd "$(dirname "$0")/market-book"
cargo build --release --quiet
# One core: the figure is per core, and both run on the same one, alternating rounds.
exec taskset -c 0 ./target/release/market-book-bench "${1:-2000000}" "${2:-3}"
