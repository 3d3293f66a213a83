#!/usr/bin/env bash
# Runs every test of endpoint-hub on a fresh machine: starts PostgreSQL if needed, installs the
# pinned AWS emulator and sqlx-cli, then lints, checks that the committed `.sqlx` query cache
# matches the code and the migrations, runs the emulator's own tests, the Rust tests, and last
# (alone, because it restarts PostgreSQL) the PostgreSQL-restart test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The sqlx query macros are checked against the committed .sqlx cache, never a live database.
export SQLX_OFFLINE=true
pg_url="postgres://postgres@127.0.0.1:5432"

scripts/ensure-postgres.sh

# Leftover databases of interrupted earlier runs.
psql -h 127.0.0.1 -U postgres -d postgres -Atc \
  "SELECT datname FROM pg_database WHERE datname LIKE 'eh_test_%'" |
  while read -r db; do dropdb -h 127.0.0.1 -U postgres --if-exists "$db" || true; done

scripts/emulator-setup.sh

# Chromium and chromedriver for the console's browser tests (tests/console.rs), which fail
# rather than skip when EH_REQUIRE_BROWSER is set.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
fi
export EH_REQUIRE_BROWSER=1

# sqlx-cli at the version of sqlx in Cargo.lock, installed once into ~/.cargo/bin.
sqlx_version="$(awk '$0 == "name = \"sqlx\"" { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
if [[ "$(cargo sqlx --version 2>/dev/null | awk '{print $NF}')" != "$sqlx_version" ]]; then
  echo "== installing sqlx-cli $sqlx_version"
  sqlx_build="$(mktemp -d)"
  cargo install sqlx-cli --version "$sqlx_version" --locked --force \
    --no-default-features --features postgres,rustls --target-dir "$sqlx_build"
  rm -rf "$sqlx_build"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== sqlx prepare --check (the committed .sqlx cache matches the queries and migrations)"
scratch_db="eh_test_sqlx_$$"
createdb -h 127.0.0.1 -U postgres "$scratch_db"
trap 'dropdb -h 127.0.0.1 -U postgres --if-exists --force "$scratch_db" || true' EXIT
DATABASE_URL="$pg_url/$scratch_db" cargo sqlx migrate run --source migrations
DATABASE_URL="$pg_url/$scratch_db" cargo sqlx prepare --check -- --all-targets --locked
dropdb -h 127.0.0.1 -U postgres --force "$scratch_db"
trap - EXIT
echo "== cargo clippy"
# Test targets get the `sim` feature through the dev-dependency on this package itself.
cargo clippy --all-targets --all-features --locked -- -D warnings
echo "== without the simulated cloud (what a release build compiles)"
# The library and binary as `cargo build` sees them: no `sim` feature, no dead code; the
# library's metadata must not name the simulator.
no_sim=$(cargo clippy --lib --bins --locked --message-format=json-render-diagnostics -- -D warnings)
rmeta=$(grep -o '"[^"]*/libendpoint_hub-[^"]*\.rmeta"' <<<"$no_sim" | tr -d '"' | head -n 1)
if [ -z "$rmeta" ] || grep -q SimCloud "$rmeta"; then
  echo "the library built without the sim feature contains the simulated cloud (${rmeta:-no rmeta})"
  exit 1
fi
echo "== emulator tests"
tests/emulator/run-tests.sh -q
echo "== cargo test"
cargo test --locked -- --skip pg_restart
echo "== PostgreSQL restart test (alone)"
if [ -f tests/e2e_pg_restart.rs ]; then
  cargo test --locked --test e2e_pg_restart -- --test-threads=1
fi
echo "== all tests passed"
