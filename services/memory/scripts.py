"""The Lua scripts behind the L2 queues (each runs atomically, one round trip)."""

from __future__ import annotations

from services.core.lua import LuaScript

# Queue members are "<seq>:<message json>", scored by seq: unique, ordered, self-describing.
_MEMBER_ID = """
local function member_id(member)
  local colon = string.find(member, ':', 1, true)
  return cjson.decode(string.sub(member, colon + 1))['id']
end
"""

#: KEYS: queue, ids, meta, due, stats. ARGV: topic, message id, member body, group, now,
#: threshold, force-after seconds, max length. Returns {length, dropped, seq, duplicate}.
PUSH = LuaScript(
    _MEMBER_ID
    + """
local q, ids, meta, due, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local topic, mid, body, group, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local threshold, force_after, max_len = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local existing = redis.call('HGET', ids, mid)
if existing then
  return {redis.call('ZCARD', q), 0, tonumber(existing), 1}
end
local m = redis.call('HMGET', meta, 'group', 'updated_at', 'first_at')
local owner, updated_at, first_at = m[1], m[2], m[3]
if owner and owner ~= group then
  return redis.error_reply('WRONGGROUP topic belongs to group ' .. owner)
end
local len = redis.call('ZCARD', q)
if len == 0 then
  first_at = now
  redis.call('HSET', meta, 'group', group, 'first_at', now)
end
local seq = redis.call('HINCRBY', meta, 'seq', 1)
redis.call('ZADD', q, seq, seq .. ':' .. body)
redis.call('HSET', ids, mid, seq)
len = len + 1
local dropped = 0
if len > max_len then
  dropped = len - max_len
  for _, member in ipairs(redis.call('ZRANGE', q, 0, dropped - 1)) do
    redis.call('HDEL', ids, member_id(member))
  end
  redis.call('ZREMRANGEBYRANK', q, 0, dropped - 1)
  redis.call('HINCRBY', meta, 'dropped', dropped)
  redis.call('HINCRBY', stats, 'dropped', dropped)
  len = max_len
end
local due_at
if dropped > 0 or len >= threshold then
  due_at = now
else
  due_at = tonumber(updated_at or first_at) + force_after
end
-- LT: only ever moves the due time earlier (adds the topic if absent)
redis.call('ZADD', due, 'LT', due_at, topic)
return {len, dropped, seq, 0}
"""
)

#: KEYS: queue, ids, meta, due, stats. ARGV: topic, watermark, now, threshold, force-after seconds.
#: Removes messages with seq <= watermark, re-computes the topic's due time.
#: Returns {remaining length, removed}.
ACK = LuaScript(
    _MEMBER_ID
    + """
local q, ids, meta, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local topic, watermark, now = ARGV[1], ARGV[2], ARGV[3]
local threshold, force_after = tonumber(ARGV[4]), tonumber(ARGV[5])
local old = redis.call('ZRANGEBYSCORE', q, '-inf', watermark)
for _, member in ipairs(old) do
  local mid = member_id(member)
  local colon = string.find(member, ':', 1, true)
  if redis.call('HGET', ids, mid) == string.sub(member, 1, colon - 1) then
    redis.call('HDEL', ids, mid)
  end
end
redis.call('ZREMRANGEBYSCORE', q, '-inf', watermark)
redis.call('HSET', meta, 'updated_at', now)
local len = redis.call('ZCARD', q)
if len == 0 then
  redis.call('ZREM', due, topic)
  redis.call('HDEL', meta, 'first_at')
elseif len >= threshold then
  redis.call('ZADD', due, tonumber(now), topic)
else
  redis.call('ZADD', due, tonumber(now) + force_after, topic)
end
return {len, #old}
"""
)

#: KEYS: arq queue, then (job key, result key) per job. ARGV: score ms, expiry ms, then
#: (job id, serialized job) per job. Enqueues each job whose id is not queued or running,
#: dropping a stale result that would block the id. Returns the job ids enqueued.
ENQUEUE_UNIQUE = LuaScript(
    """
local queue, score, expires = KEYS[1], ARGV[1], ARGV[2]
local enqueued = {}
for i = 2, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('DEL', KEYS[i + 1])
    redis.call('PSETEX', KEYS[i], expires, ARGV[i + 2])
    redis.call('ZADD', queue, score, ARGV[i + 1])
    table.insert(enqueued, ARGV[i + 1])
  end
end
return enqueued
"""
)

ALL_SCRIPTS = (PUSH, ACK, ENQUEUE_UNIQUE)
