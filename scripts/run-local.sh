#!/usr/bin/env bash
# Runs endpoint-hub locally against the AWS emulator, with a demo hub ready to enrol spokes into.
#
#   scripts/run-local.sh            # Ctrl-C stops the service and the emulator it started
#
# Starts PostgreSQL when it is down, installs the emulator's venv (scripts/emulator-setup.sh),
# starts the emulator (or reuses one already answering on the port), creates the database when
# missing, builds and starts the service, seeds the emulated accounts (tests/emulator/seed.py:
# hub VPC in 111111111111, spoke VPCs in 222222222222 and 333333333333), creates an admin token,
# registers the hub `demo` through the API, waits until it is ready and prints what to do next.
#
# The emulator keeps everything in memory: with a freshly started emulator, hubs left in the
# database by an earlier run point at VPCs that no longer exist, so the database is recreated
# (set EH_KEEP_DB=1 to keep it and skip the demo hub instead).
#
#   EH_EMULATOR_PORT  emulator port (default 4566)
#   EH_BIND           service address (default 127.0.0.1:8080)
#   EH_DB_NAME        database name (default endpoint_hub)
#   EH_KEEP_DB        keep a database holding hubs even when the emulator is new
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

emu_port="${EH_EMULATOR_PORT:-4566}"
bind="${EH_BIND:-127.0.0.1:8080}"
db_name="${EH_DB_NAME:-endpoint_hub}"
pg_url="postgres://postgres@127.0.0.1:5432"
emu_url="http://127.0.0.1:${emu_port}"
api="http://${bind}"
venv="${EH_VENV:-$repo/.venv}"
logs="$repo/target/run-local"
mkdir -p "$logs"

emu_pid=""
svc_pid=""
cleanup() {
  trap - INT TERM EXIT
  echo
  if [[ -n "$svc_pid" ]] && kill -0 "$svc_pid" 2>/dev/null; then
    echo "stopping endpoint-hub (pid $svc_pid)"
    kill -TERM "$svc_pid" 2>/dev/null || true
    wait "$svc_pid" 2>/dev/null || true
  fi
  if [[ -n "$emu_pid" ]] && kill -0 "$emu_pid" 2>/dev/null; then
    echo "stopping the emulator (pid $emu_pid)"
    kill -TERM "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "run-local: $*" >&2; exit 1; }

wait_http() { # url, what, pid (optional: give up when it exits)
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    if [[ -n "${3:-}" ]] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# 1. PostgreSQL
if ! pg_isready -q -h 127.0.0.1; then
  echo "== starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 || die "PostgreSQL did not come up"
fi

# 2. The emulator
echo "== emulator venv"
scripts/emulator-setup.sh
fresh_emulator=0
if curl -fsS -o /dev/null "$emu_url/_emulator/health" 2>/dev/null; then
  echo "== reusing the emulator already running at $emu_url"
else
  echo "== starting the emulator on $emu_url (log: $logs/emulator.log)"
  "$venv/bin/python" tests/emulator/emulator.py --host 127.0.0.1 --port "$emu_port" \
    >"$logs/emulator.log" 2>&1 &
  emu_pid=$!
  wait_http "$emu_url/_emulator/health" emulator "$emu_pid" ||
    die "the emulator did not start; see $logs/emulator.log"
  fresh_emulator=1
fi

# 3. The database
psql_q() { psql -h 127.0.0.1 -U postgres -d "$1" -Atqc "$2"; }
if [[ "$(psql_q postgres "SELECT 1 FROM pg_database WHERE datname = '$db_name'")" != 1 ]]; then
  echo "== creating database $db_name"
  createdb -h 127.0.0.1 -U postgres "$db_name"
elif [[ "$fresh_emulator" == 1 && -z "${EH_KEEP_DB:-}" ]]; then
  hubs="$(psql_q "$db_name" "SELECT count(*) FROM hubs" 2>/dev/null || echo 0)"
  if [[ "$hubs" != 0 ]]; then
    echo "== database $db_name holds $hubs hub(s) of an earlier emulator run: recreating it"
    dropdb -h 127.0.0.1 -U postgres --force "$db_name"
    createdb -h 127.0.0.1 -U postgres "$db_name"
  fi
fi

# 4. The service
echo "== building endpoint-hub"
# SQLX_OFFLINE: the query macros use the committed .sqlx cache, not a live database.
SQLX_OFFLINE=true CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo build --quiet
export DATABASE_URL="$pg_url/$db_name"
export AWS_ENDPOINT_URL="$emu_url" AWS_REGION=eu-west-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
export EH_BIND="$bind" EH_POLL_INTERVAL_MS="${EH_POLL_INTERVAL_MS:-500}"
if curl -fsS -o /dev/null "$api/healthz" 2>/dev/null; then
  die "something already answers on $api (set EH_BIND to another address)"
fi
token="$(target/debug/endpoint-hub token create --name "local-admin-$(date +%s)" --scope admin)"
echo "== starting endpoint-hub on $api (log: $logs/endpoint-hub.log)"
target/debug/endpoint-hub serve >"$logs/endpoint-hub.log" 2>&1 &
svc_pid=$!
wait_http "$api/healthz" endpoint-hub "$svc_pid" ||
  die "endpoint-hub did not start; see $logs/endpoint-hub.log"

# 5. Seed the accounts and register the demo hub
echo "== seeding the emulated accounts"
seed="$("$venv/bin/python" tests/emulator/seed.py --endpoint "$emu_url")"
echo "$seed" >"$logs/seed.json"
hub_vpc="$(jq -r .hub.vpc_id <<<"$seed")"
spoke_vpc="$(jq -r '.spokes[0].vpc_id' <<<"$seed")"
spoke2_vpc="$(jq -r '.spokes[1].vpc_id' <<<"$seed")"

auth=(-H "Authorization: Bearer $token")
existing="$(curl -fsS "${auth[@]}" "$api/v1/hubs?limit=200" |
  jq -r '.items[]? | select(.name == "demo") | "\(.id) \(.vpc_id)"')"
if [[ -n "$existing" ]]; then
  hub_id="${existing%% *}"
  [[ "${existing#* }" == "$hub_vpc" ]] ||
    die "hub demo in $db_name uses ${existing#* }, not the emulator's $hub_vpc (run without EH_KEEP_DB)"
  echo "== hub demo already registered ($hub_id)"
else
  body="$(jq -c '{
      name: "demo", account_id: .hub.account_id, region: .region, vpc_id: .hub.vpc_id,
      cidrs: [.hub.cidr], subnet_ids: .hub.subnet_ids, route_table_ids: .hub.route_table_ids,
      services: ["sqs", "ssm", "ssmmessages", "ec2messages", "kms"],
      role_arn: "arn:aws:iam::\(.hub.account_id):role/endpoint-hub"}' <<<"$seed")"
  answer="$(curl -sS "${auth[@]}" -H 'Content-Type: application/json' -d "$body" "$api/v1/hubs")"
  hub_id="$(jq -r '.id // empty' <<<"$answer")"
  [[ -n "$hub_id" ]] || die "registering the hub failed: $answer"
  echo "== registered hub demo ($hub_id), provisioning"
fi
status=""
for _ in $(seq 1 240); do
  status="$(curl -fsS "${auth[@]}" "$api/v1/hubs/$hub_id" | jq -r .status)" || status=""
  [[ "$status" == ready || "$status" == failed ]] && break
  sleep 0.5
done
if [[ "$status" != ready ]]; then
  curl -fsS "${auth[@]}" "$api/v1/hubs/$hub_id" | jq . >&2 || true
  die "hub demo is '$status', not ready; see $logs/endpoint-hub.log"
fi

cat <<EOF

endpoint-hub is running on $api with the hub "demo" ready (VPC $hub_vpc in 111111111111).

  Admin token (shown once):
    export TOKEN=$token

  Enrol the spoke VPC of account 222222222222:
    curl -sS -X POST $api/v1/spokes \\
      -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
      -d '{"hub": "demo", "account_id": "222222222222", "region": "eu-west-1", "vpc_id": "$spoke_vpc", "role_arn": "arn:aws:iam::222222222222:role/endpoint-hub"}'

  Then follow it:  curl -sS -H "Authorization: Bearer \$TOKEN" $api/v1/spokes/<id>
  Another spoke:   account 333333333333, VPC $spoke2_vpc
  Console:         $api/ui/  (sign in with the admin token above)
  Swagger UI:      $api/swagger-ui/
  Emulator:        $emu_url (call log: $emu_url/_emulator/calls)
  Logs:            $logs/

Ctrl-C stops everything this script started.
EOF

wait "$svc_pid"
