-- Route 53 pacing shared by every process on this database: one token bucket per key
-- ('route53:<account>' and 'route53:<account>:<operation>'). `tokens` may be negative: slots
-- reserved ahead, each waiting for the refill. Written by store::pacing only.
CREATE TABLE pace_buckets (
    key          text PRIMARY KEY,
    burst        double precision NOT NULL CHECK (burst >= 1),
    per_second   double precision NOT NULL CHECK (per_second > 0),
    tokens       double precision NOT NULL,
    refilled_at  timestamptz NOT NULL
);
