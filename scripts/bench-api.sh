#!/usr/bin/env bash
# API speed against PostgreSQL's own: `GET /v1/spokes/{id}` through the service, loaded by wrk,
# beside pgbench running the very SELECT that request runs, on the same database, with the same
# concurrency, one after the other. Prints both rates and their ratio.
#
#   scripts/bench-api.sh                 # release-optimised build (profile bench-api)
#   EH_BENCH_PROFILE=dev scripts/bench-api.sh   # the debug build, for comparison
#
#   EH_BENCH_SPOKES (1000)  EH_BENCH_CONNECTIONS (8)  EH_BENCH_SECONDS (10)
#
# Needs wrk (Debian package `wrk`, installed when missing) and pgbench (PostgreSQL's client).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" SQLX_OFFLINE=true
profile="${EH_BENCH_PROFILE:-bench-api}"
spokes="${EH_BENCH_SPOKES:-1000}"
conns="${EH_BENCH_CONNECTIONS:-8}"
secs="${EH_BENCH_SECONDS:-10}"
pg_url="postgres://postgres@127.0.0.1:5432"
db="eh_bench_api"
port=18480
work="$repo/target/bench-api"
mkdir -p "$work"

scripts/ensure-postgres.sh
if ! command -v wrk >/dev/null; then
  sudo_=""; [[ "$(id -u)" != 0 ]] && sudo_="sudo"
  $sudo_ apt-get install -y wrk >/dev/null
fi

cargo build --profile "$profile" --bin endpoint-hub
dir="$profile"; [[ "$profile" == dev ]] && dir=debug
bin="$repo/target/$dir/endpoint-hub"

dropdb -h 127.0.0.1 -U postgres --if-exists --force "$db"
createdb -h 127.0.0.1 -U postgres "$db"
export DATABASE_URL="$pg_url/$db"
"$bin" migrate >/dev/null
token="$("$bin" token create bench --scope read)"

# One hub, `spokes` attached spokes with ids 00000000-0000-0000-0000-<n>, each with a CIDR
# claim and labels, as enrolments leave them.
psql -q -h 127.0.0.1 -U postgres -d "$db" -v ON_ERROR_STOP=1 -v n="$spokes" <<'SQL'
INSERT INTO hubs (id, name, account_id, region, vpc_id, cidrs, subnet_ids, route_table_ids,
                  role_arn, status, prefix_list_max_entries)
VALUES ('10000000-0000-0000-0000-000000000001', 'bench', '111111111111', 'eu-west-1',
        'vpc-0000aaaa', ARRAY['172.16.0.0/16']::cidr[], ARRAY['subnet-0000aaaa'],
        ARRAY['rtb-0000aaaa'], 'arn:aws:iam::111111111111:role/endpoint-hub', 'ready', 1000);
INSERT INTO spokes (id, hub_id, account_id, region, vpc_id, cidrs_given, cidrs_seen, role_arn,
                    labels, status, peering_id)
SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid,
       '10000000-0000-0000-0000-000000000001', (200000000000 + n)::text, 'eu-west-1',
       'vpc-' || lpad(to_hex(n), 8, '0'), true,
       ARRAY[('10.' || (n / 256) || '.' || (n % 256) || '.0/24')::cidr],
       'arn:aws:iam::' || (200000000000 + n)::text || ':role/endpoint-hub',
       jsonb_build_object('team', 'team-' || (n % 7), 'env', 'prod'), 'attached',
       'pcx-' || lpad(to_hex(n), 8, '0')
FROM generate_series(1, :n) n;
INSERT INTO cidr_claims (hub_id, cidr, owner_kind, owner_id)
SELECT hub_id, cidrs_seen[1], 'spoke', id FROM spokes;
ANALYZE;
SQL

# The request's SELECT (src/store/spokes.rs `spoke_get`), for pgbench.
cat > "$work/select.sql" <<SQL
\set n random(1, $spokes)
SELECT s.id, s.hub_id, s.account_id, s.region, s.vpc_id,
    COALESCE((SELECT array_agg(c.cidr ORDER BY c.cidr) FROM cidr_claims c
              WHERE c.owner_id = s.id), s.cidrs_seen) AS cidrs,
    s.route_table_ids, s.role_arn, s.external_id, s.labels, s.status, s.peering_id,
    s.tgw_attachment_id, s.transit_subnet_ids, s.drift, s.last_error, s.current_job_id,
    s.created_at, s.updated_at, j.kind, j.status, j.steps, j.next_step, j.last_error
FROM spokes s LEFT JOIN jobs j ON j.id = s.current_job_id
WHERE s.id = ('00000000-0000-0000-0000-' || lpad(:n::text, 12, '0'))::uuid;
SQL
cat > "$work/get.lua" <<LUA
request = function()
  local n = math.random(1, $spokes)
  local path = string.format("/v1/spokes/00000000-0000-0000-0000-%012d", n)
  return wrk.format("GET", path, { ["Authorization"] = "Bearer $token" })
end
LUA

EH_BIND="127.0.0.1:$port" EH_DB_MAX_CONNECTIONS="$((conns + 2))" \
  "$bin" serve --no-workers >"$work/service.log" 2>&1 &
svc=$!
trap 'kill $svc 2>/dev/null || true; wait $svc 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
  sleep 0.1
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
  "http://127.0.0.1:$port/v1/spokes/00000000-0000-0000-0000-000000000001")
[[ "$code" == 200 ]] || { echo "GET /v1/spokes/{id} answered $code"; exit 1; }

threads=$(( conns < 2 ? conns : 2 ))
wrk -t"$threads" -c"$conns" -d2s -s "$work/get.lua" "http://127.0.0.1:$port" >/dev/null # warm-up
api=$(wrk -t"$threads" -c"$conns" -d"${secs}s" -s "$work/get.lua" "http://127.0.0.1:$port" |
  tee "$work/wrk.txt" | awk '/Requests\/sec/ {print $2}')
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
kill $svc; wait $svc 2>/dev/null || true; trap - EXIT

pgbench -h 127.0.0.1 -U postgres -n -M prepared -c "$conns" -j "$threads" -T 2 \
  -f "$work/select.sql" "$db" >/dev/null # warm-up
pg=$(pgbench -h 127.0.0.1 -U postgres -n -M prepared -c "$conns" -j "$threads" -T "$secs" \
  -f "$work/select.sql" "$db" | tee "$work/pgbench.txt" | awk '/^tps/ {print $3}')

dropdb -h 127.0.0.1 -U postgres --force "$db"
echo "GET /v1/spokes/{id} ($profile build): $api requests/s${non2xx:+ ($non2xx not 2xx)}"
echo "pgbench, the same SELECT:           $pg transactions/s"
awk -v a="$api" -v p="$pg" 'BEGIN { printf "ratio: %.2f (%d connections, %d spokes, %d s each)\n", a / p, '"$conns"', '"$spokes"', '"$secs"' }'
