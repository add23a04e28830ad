package redislimit

import "github.com/redis/go-redis/v9"

// Every key's state lives under one hash tag ({keyID}) so a Redis Cluster keeps it in
// one slot and a script may touch it all:
//
//	<prefix>{id}:rpm   ZSET  admitted requests, score = admit time (ms), 1-minute window
//	<prefix>{id}:rph   ZSET  the same over an hour
//	<prefix>{id}:tpm   HASH  second -> tokens booked by releases, last 60 seconds
//	<prefix>{id}:tpmc  STRING "<second>:<tokens>": the tpm seconds before that second, summed (2 s)
//	<prefix>{id}:lease ZSET  in-flight requests, score = lease expiry (ms)
//	<prefix>{id}:spend STRING USD spent in the key's lifetime (INCRBYFLOAT)
//	<prefix>{id}:spend:<start ms> STRING USD spent in the budget period starting then,
//	                  expiring a day after the period ends
//
// A replica that dies leaves its leases behind; they stop counting once their expiry
// passes, because every admission first drops expired ones.

// Windows and leases are timed by Redis's clock (TIME), not each replica's, so clock
// skew between replicas cannot widen or narrow a window. Scripts are replicated by
// effects (the default since Redis 5), which allows TIME before writes.
const redisNow = `
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// tpmSum is shared Lua: drop token buckets older than 60 s, return the sum and the
// oldest bucket still counted (-1 when none).
const tpmSum = `
local function tpm_sum(key, now)
  local cutoff = math.floor(now / 1000) - 59
  local sum, oldest = 0, -1
  local tok = redis.call('HGETALL', key)
  for i = 1, #tok, 2 do
    local sec = tonumber(tok[i])
    if sec < cutoff then
      redis.call('HDEL', key, tok[i])
    else
      sum = sum + tonumber(tok[i + 1])
      if oldest < 0 or sec < oldest then oldest = sec end
    end
  end
  return sum, oldest
end
`

// tpmFast is tpm_sum at one HGET and one GET per admission: seconds before the
// current one no longer change (releases book into the current second), so their sum
// is cached per second in KEYS[6] ("<second>:<sum>", gone after 2 s) and the
// full scan (which also prunes) runs once per second per key, not per admission.
// Only the sum: a refusal scans again for the oldest bucket.
const tpmFast = `
local function tpm_fast(key, ckey, now)
  local sec = math.floor(now / 1000)
  local c = redis.call('GET', ckey)
  if c then
    local cs, cv = string.match(c, '^(%d+):(%d+)$')
    if tonumber(cs) == sec then
      return tonumber(cv) + tonumber(redis.call('HGET', key, sec) or '0')
    end
  end
  local sum = tpm_sum(key, now)
  local past = sum - tonumber(redis.call('HGET', key, sec) or '0')
  redis.call('SET', ckey, string.format('%d:%d', sec, past), 'PX', 2000)
  return sum
end
`

// acquireScript checks the budget, RPM, RPH and TPM and takes a concurrency lease,
// atomically. KEYS: rpm, rph, tpm, lease, spend (the budget period's account), the
// TPM cache (see tpmFast). ARGV: 0 (unused: Redis's clock decides), rpm, rph, tpm, concurrent,
// lease_ttl_ms, member, budget_usd (-1 = none). Returns {code, rpm_used, rph_used,
// tpm_used, in_flight, retry_ms} where code is 0 admitted, 1 RPM, 2 RPH, 3 TPM,
// 4 concurrency full, 5 budget spent (retry_ms is then the spend in micro-USD).
var acquireScript = redis.NewScript(redisNow + tpmSum + tpmFast + `
local now = redis_now()
local rpm, rph, tpm, conc = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600000)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local nm = redis.call('ZCARD', KEYS[1])
local nh = redis.call('ZCARD', KEYS[2])
local nl = redis.call('ZCARD', KEYS[4])
local ts, toldest = 0, -1
if tpm > 0 then
  ts = tpm_fast(KEYS[3], KEYS[6], now)
  if ts >= tpm then ts, toldest = tpm_sum(KEYS[3], now) end
end
local function until_below(key, span, limit, n)
  local o = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
  if #o == 0 then return 1000 end
  return tonumber(o[2]) + span - now
end
local budget = tonumber(ARGV[8])
if budget >= 0 then
  local spent = tonumber(redis.call('GET', KEYS[5]) or '0')
  if spent >= budget then return {5, nm, nh, ts, nl, math.floor(spent * 1000000 + 0.5)} end
end
if rpm > 0 and nm >= rpm then return {1, nm, nh, ts, nl, until_below(KEYS[1], 60000, rpm, nm)} end
if rph > 0 and nh >= rph then return {2, nm, nh, ts, nl, until_below(KEYS[2], 3600000, rph, nh)} end
if tpm > 0 and ts >= tpm then return {3, nm, nh, ts, nl, (toldest + 60) * 1000 - now} end
if conc > 0 and nl >= conc then return {4, nm, nh, ts, nl, 1000} end
if rpm > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[7])
  redis.call('PEXPIRE', KEYS[1], 60000)
  nm = nm + 1
end
if rph > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[7])
  redis.call('PEXPIRE', KEYS[2], 3600000)
  nh = nh + 1
end
redis.call('ZADD', KEYS[4], now + ttl, ARGV[7])
redis.call('PEXPIRE', KEYS[4], ttl + 60000)
return {0, nm, nh, ts, nl + 1, 0}
`)

// releaseScript books spend deferred to this release, frees a lease and books
// tokens against TPM. KEYS: lease, tpm, lifetime spend, then period spend keys.
// ARGV: member, tokens, then per spend item: usd, the KEYS index of its period
// key (0: none), that key's expiry (unix ms).
var releaseScript = redis.NewScript(redisNow + `
local i = 3
while ARGV[i] do
  redis.call('INCRBYFLOAT', KEYS[3], ARGV[i])
  local p = tonumber(ARGV[i + 1])
  if p > 0 then
    redis.call('INCRBYFLOAT', KEYS[p], ARGV[i])
    redis.call('PEXPIREAT', KEYS[p], ARGV[i + 2])
  end
  i = i + 3
end
redis.call('ZREM', KEYS[1], ARGV[1])
local t = tonumber(ARGV[2])
if t > 0 then
  redis.call('HINCRBY', KEYS[2], math.floor(redis_now() / 1000), t)
  redis.call('PEXPIRE', KEYS[2], 120000)
end
return 1
`)

// peekScript reads a key's counters for the dashboard. KEYS: rpm, rph, tpm, lease.
// Returns {rpm_used, rph_used, tpm_used, in_flight}.
var peekScript = redis.NewScript(redisNow + tpmSum + `
local now = redis_now()
local ts = tpm_sum(KEYS[3], now)
return {redis.call('ZCOUNT', KEYS[1], now - 60000, '+inf'), redis.call('ZCOUNT', KEYS[2], now - 3600000, '+inf'),
  ts, redis.call('ZCOUNT', KEYS[4], now, '+inf')}
`)

// refreshScript extends one held lease. KEYS: lease. ARGV: lease_ttl_ms, member.
var refreshScript = redis.NewScript(redisNow + `
redis.call('ZADD', KEYS[1], 'XX', redis_now() + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + 60000)
return 1
`)

// spendScript books spend: KEYS: the lifetime account and, optionally, the period's.
// ARGV: usd, the period account's expiry (unix ms; unused without a period).
var spendScript = redis.NewScript(`
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if KEYS[2] then
  redis.call('INCRBYFLOAT', KEYS[2], ARGV[1])
  redis.call('PEXPIREAT', KEYS[2], ARGV[2])
end
return 1
`)
