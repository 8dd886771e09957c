"""The engine's Lua scripts: every state change of a run is one of these, one atomic round trip.

Python reads the state, decides (scoring, the next question, the frames to send) and hands the
result to a script that re-checks the facts the decision rests on (the *guards*) and applies it with
its events. A script whose guards fail returns a status (``stale``, ``answered``, ...) and changes
nothing; the caller reads again or refuses the command.

Every script gets the same KEYS (:func:`script_keys`) and starts with the same ARGV: channel,
speedrun id, stream maxlen, TTL, now (Unix ms, the deciding instance's clock). Events go out
through the shared ``EMIT_LUA`` so sequence numbers, the replay stream and the bus stay one thing;
all the events of one script are one bus message (:func:`run_script`).

Global keys (one Redis, cluster mode off — scripts touch a run's keys and these together):

* ``speedrun:deadlines`` — zset of due items (score = due Unix ms), claimed with a lease;
* ``speedrun:outbox`` — zset of finished runs whose completion message is not yet on SQS, and
  ``speedrun:outbox:msgs`` — hash speedrun id -> completion message JSON.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from speedrun_protocol.state import EMIT_LUA, RunKeys
from speedrun_redis import RedisBatch, Then

DEADLINES_KEY = "speedrun:deadlines"
INSTANCES_KEY = "speedrun:instances"
"""zset: instance id -> its last heartbeat (Unix ms)."""
OUTBOX_KEY = "speedrun:outbox"
OUTBOX_MSGS_KEY = "speedrun:outbox:msgs"


def control_channel(instance_id: str) -> str:
    """Return the pub/sub channel on which an instance takes orders (close a replaced socket)."""
    return f"speedrun:ctl:{instance_id}"


def instance_conns_key(instance_id: str) -> str:
    """Return the hash of an instance's live connections: ``<run>|<who>`` -> presence value."""
    return f"speedrun:instance:{instance_id}:conns"


def script_keys(keys: RunKeys) -> list[str]:
    """Return the KEYS every run script receives, in the order the Lua prelude names them."""
    return [
        keys.meta,
        keys.events,
        keys.config,
        keys.questions,
        keys.participants,
        keys.nicks,
        keys.scores,
        keys.answers,
        keys.progress,
        keys.presence,
        keys.pending,
        keys.qstats,
        keys.present,
        DEADLINES_KEY,
        OUTBOX_KEY,
        OUTBOX_MSGS_KEY,
    ]


_PRELUDE = (
    EMIT_LUA
    + r"""
local META, EVENTS, CONFIG, QUESTIONS, PARTS, NICKS, SCORES, ANSWERS, PROGRESS, PRESENCE,
      PENDING, QSTATS, PRESENT, DEADLINES, OUTBOX, OUTBOX_MSGS = unpack(KEYS)
local CHANNEL, SID, MAXLEN, TTL, NOW = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local function out(audience, pid, body, close)
  return emit(META, EVENTS, CHANNEL, SID, audience, pid, body, close, MAXLEN)
end

-- every state change renews the run's lifetime (the 13 run keys; the 3 global ones are not)
local function touch()
  for i = 1, 13 do redis.call('EXPIRE', KEYS[i], TTL) end
end

-- answers renew it only when due: when they were the run's first ones (the answers and stats
-- hashes were just created), or when the lifetime left is a few minutes short of full
local function touch_after_answers(added)
  if redis.call('HLEN', ANSWERS) == added or redis.call('TTL', META) < tonumber(TTL) - 300 then
    touch()
  end
end

-- nil: no such participant; true/false: kicked or not
local function is_kicked(pid)
  local rec = redis.call('HGET', PARTS, pid)
  if not rec then return nil end
  return cjson.decode(rec)['kicked'] == true
end

-- joined and not kicked is on the leaderboard (sign-on adds everyone with 0 points, a kick
-- removes them): one lookup instead of decoding the record (is_kicked tells the two apart)
local function on_board(pid)
  return redis.call('ZSCORE', SCORES, pid) ~= false
end

-- host-paced: the run is running with question q (a string) in this phase
local function in_phase(phase, q)
  local m = redis.call('HMGET', META, 'status', 'phase', 'current_question')
  return m[1] == 'running' and m[2] == phase and m[3] == q
end

-- one 'participant' event per pid/frame body pair in ARGV[first .. last]
local function out_each(first, last)
  for i = first, last, 2 do out('participant', ARGV[i], ARGV[i + 1], '') end
end

-- one command per 1,000 arguments instead of one per member or pair (a script that touches
-- every participant spent most of its time in the calls); pairs stay whole (1,000 is even)
local function add_all(command, key, members)
  for i = 1, #members, 1000 do
    redis.call(command, key, unpack(members, i, math.min(i + 999, #members)))
  end
end

local function is_finished(progress_json)
  local v = cjson.decode(progress_json)['finished_at_ms']
  return v ~= nil and v ~= cjson.null
end

-- the event says how many answered: the host's answer_progress views are coalesced and may
-- not have caught up with the last answers, which are often the ones that close it
local function close_question(q, reason)
  redis.call('HSET', META, 'phase', 'closed', 'closed_reason', reason)
  redis.call('ZREM', DEADLINES, 'q|' .. SID .. '|' .. q)
  redis.call('UNLINK', PENDING)
  local answered = tonumber(redis.call('HGET', QSTATS, q .. ':answered') or '0')
  return out('all', '', '{"type":"question_closed","question_index":' .. q ..
             ',"reason":"' .. reason .. '","answered":' .. answered .. '}', '')
end

-- host-paced: close the open question once every connected participant has answered
-- (m: the meta's status, phase and current question when the caller has read them already)
local function maybe_all_answered(m)
  m = m or redis.call('HMGET', META, 'status', 'phase', 'current_question')
  if m[1] == 'running' and m[2] == 'question' and redis.call('SCARD', PENDING) == 0 then
    local answered = tonumber(redis.call('HGET', QSTATS, m[3] .. ':answered') or '0')
    if answered > 0 then close_question(m[3], 'all_answered') end
  end
end

-- self-paced: once every playing participant is done, schedule the finish (any instance runs it)
local function maybe_complete()
  local m = redis.call('HMGET', META, 'status', 'playing_count', 'finished_count')
  if m[1] == 'running' and tonumber(m[3] or '0') >= tonumber(m[2] or '0') then
    redis.call('ZADD', DEADLINES, NOW, 'f|' .. SID)
    return 1
  end
  return 0
end
"""
)

SELF_START = r"""
-- ARGV 6 run_started body, 7 grace due, 8 the first question's progress, 9 its body, 10 its due
-- Everyone on the board (joined, not kicked) gets question 1 at the same moment: one event to
-- all participants, not one each (at 10,000 players that was 10,000 events in one script and a
-- bus message of megabytes).
if redis.call('HGET', META, 'status') ~= 'lobby' then return {'wrong_state'} end
local players = redis.call('ZRANGE', SCORES, 0, -1)
if #players == 0 then return {'empty'} end
redis.call('HSET', META, 'status', 'running', 'phase', 'question', 'started_at_ms', NOW,
           'finished_count', 0, 'playing_count', #players)
out('all', '', ARGV[6], '')
out('participants', '', ARGV[9], '')
-- each player's progress and answer deadline; the grace period's too for one not connected
local present = {}
for _, who in ipairs(redis.call('HKEYS', PRESENCE)) do present[who] = true end
local progress, due = {}, {}
for _, pid in ipairs(players) do
  progress[#progress + 1] = pid
  progress[#progress + 1] = ARGV[8]
  due[#due + 1] = ARGV[10]
  due[#due + 1] = 'a|' .. SID .. '|' .. pid .. '|0'
  if not present[pid] then
    due[#due + 1] = ARGV[7]
    due[#due + 1] = 'g|' .. SID .. '|' .. pid
  end
end
add_all('HSET', PROGRESS, progress)
add_all('ZADD', DEADLINES, due)
touch()
return {'ok'}
"""

SELF_ISSUE_FIRST = r"""
-- ARGV 6 pid, 7 progress, 8 question body, 9 deadline member, 10 due
local pid = ARGV[6]
if redis.call('HGET', META, 'status') ~= 'running' then return {'wrong_state'} end
if not on_board(pid) then return {'kicked'} end
if redis.call('HEXISTS', PROGRESS, pid) == 1 then return {'exists'} end
redis.call('HSET', PROGRESS, pid, ARGV[7])
redis.call('HINCRBY', META, 'playing_count', 1)
out('participant', pid, ARGV[8], '')
redis.call('ZADD', DEADLINES, ARGV[10], ARGV[9])
touch()
return {'ok'}
"""

SELF_RESOLVE = r"""
-- Self-paced steps (answers, time-outs, forfeits) that reached an instance together, one reply
-- status each, in order ('done': 'ok', and it completed the run).
-- ARGV 6 count, then per step: pid, q, expected progress, new progress, answer record, points,
--   result body, next question body or '', next due, finished 1/0, finished body,
--   require absent 1/0, correct 1/0, timed out 1/0, count of selected options, the options
-- (the host hears of each step from its result event: see the hub's participants_progress)
local function step(a)
  local pid, q = ARGV[a], ARGV[a + 1]
  if not on_board(pid) then return 'kicked' end
  if (redis.call('HGET', PROGRESS, pid) or '') ~= ARGV[a + 2] then return 'stale' end
  local field = pid .. ':' .. q
  if redis.call('HEXISTS', ANSWERS, field) == 1 then return 'answered' end
  if ARGV[a + 11] == '1' and redis.call('HEXISTS', PRESENCE, pid) == 1 then return 'present' end
  redis.call('HSET', ANSWERS, field, ARGV[a + 4])
  redis.call('HSET', PROGRESS, pid, ARGV[a + 3])
  redis.call('ZINCRBY', SCORES, ARGV[a + 5], pid)
  redis.call('ZREM', DEADLINES, 'a|' .. SID .. '|' .. pid .. '|' .. q)
  if ARGV[a + 13] == '1' then
    redis.call('HINCRBY', QSTATS, q .. ':timed_out', 1)
  else
    redis.call('HINCRBY', QSTATS, q .. ':answered', 1)
  end
  if ARGV[a + 12] == '1' then redis.call('HINCRBY', QSTATS, q .. ':correct', 1) end
  for i = a + 15, a + 14 + tonumber(ARGV[a + 14]) do
    redis.call('HINCRBY', QSTATS, q .. ':o' .. ARGV[i], 1)
  end
  out('participant', pid, ARGV[a + 6], '')
  if ARGV[a + 7] ~= '' then
    out('participant', pid, ARGV[a + 7], '')
    redis.call('ZADD', DEADLINES, ARGV[a + 8],
               'a|' .. SID .. '|' .. pid .. '|' .. (tonumber(q) + 1))
  end
  if ARGV[a + 9] == '1' then
    redis.call('HINCRBY', META, 'finished_count', 1)
    redis.call('ZREM', DEADLINES, 'g|' .. SID .. '|' .. pid)
    -- the finisher and the host; the others see the count in their leaderboard frames
    out('participant', pid, ARGV[a + 10], '')
    out('host', '', ARGV[a + 10], '')
    if maybe_complete() == 1 then return 'done' end
  end
  return 'ok'
end

local running = redis.call('HGET', META, 'status') == 'running'
local replies, added, a = {}, 0, 7
for n = 1, tonumber(ARGV[6]) do
  local status = 'wrong_state'
  if running then status = step(a) end
  if status == 'ok' or status == 'done' then added = added + 1 end
  replies[n] = status
  a = a + 15 + tonumber(ARGV[a + 14])
end
if added > 0 then touch_after_answers(added) end
return replies
"""

HOST_OPEN = r"""
-- ARGV 6 expected status, 7 expected phase, 8 expected current question or '', 9 q,
--      10 deadline, 11 question body, 12 run_started body or ''
local m = redis.call('HMGET', META, 'status', 'phase', 'current_question', 'results_due_ms')
if m[1] ~= ARGV[6] or m[2] ~= ARGV[7] or (m[3] or '') ~= ARGV[8] then return {'stale'} end
-- the last reveal's results are still being sent (see HOST_RESULTS): they come first
if m[4] and tonumber(m[4]) > tonumber(NOW) then return {'busy', m[4]} end
redis.call('HDEL', META, 'results_due_ms', 'results_sent_to')
if ARGV[12] ~= '' then
  redis.call('HSET', META, 'status', 'running', 'started_at_ms', NOW)
  out('all', '', ARGV[12], '')
end
redis.call('HSET', META, 'phase', 'question', 'current_question', ARGV[9],
           'question_opened_ms', NOW, 'question_deadline_ms', ARGV[10])
-- every present player is pending: a copy of PRESENT, made in C (building the set from the
-- presence hash in Lua was most of this script: 0.2 ms at 1,000 players, 2.4 ms at 10,000).
-- A PRESENT that disagrees with the presence in size (the run was live while instances of an
-- earlier version, which did not keep it, served it) is rebuilt first.
local players = redis.call('HLEN', PRESENCE) - redis.call('HEXISTS', PRESENCE, 'host')
if redis.call('SCARD', PRESENT) ~= players then
  redis.call('UNLINK', PRESENT)
  local ids = {}
  for _, who in ipairs(redis.call('HKEYS', PRESENCE)) do
    if who ~= 'host' then ids[#ids + 1] = who end
  end
  add_all('SADD', PRESENT, ids)
end
redis.call('UNLINK', PENDING)
redis.call('COPY', PRESENT, PENDING)
out('all', '', ARGV[11], '')
redis.call('ZADD', DEADLINES, ARGV[10], 'q|' .. SID .. '|' .. ARGV[9])
touch()
return {'ok'}
"""

HOST_ANSWERS = r"""
-- The answers to question q that arrived at an instance together, one reply status each, in
-- order (answer_accepted is each caller's reply, not an event; the host's answer_progress is a
-- coalesced view: answers emit nothing unless the last one closes the question).
-- ARGV 6 q, 7 count, then per answer: pid, arrival ms, answer record
local q = ARGV[6]
local m = redis.call('HMGET', META, 'status', 'phase', 'current_question',
                     'question_deadline_ms')
local open, asking, deadline = m[1] == 'running' and m[3] == q, m[2] == 'question',
                               tonumber(m[4])
local replies, added = {}, 0
for i = 8, 7 + 3 * tonumber(ARGV[7]), 3 do
  local pid = ARGV[i]
  local status = 'ok'
  if not open then
    status = 'not_open'
  elseif not asking or tonumber(ARGV[i + 1]) > deadline then
    status = 'late'
  elseif not on_board(pid) then
    status = 'kicked'
  elseif redis.call('HSETNX', ANSWERS, pid .. ':' .. q, ARGV[i + 2]) == 0 then
    status = 'answered'
  else
    redis.call('SREM', PENDING, pid)
    added = added + 1
  end
  replies[#replies + 1] = status
end
if added > 0 then
  redis.call('HINCRBY', QSTATS, q .. ':answered', added)
  maybe_all_answered(m)
  touch_after_answers(added)
end
return replies
"""

HOST_CLOSE = r"""
-- ARGV 6 q, 7 reason
if not in_phase('question', ARGV[6]) then return {'stale'} end
close_question(ARGV[6], ARGV[7])
touch()
return {'ok'}
"""

HOST_SETTLE = r"""
-- Reveal: apply the closed question's answers and time-outs, then show the distribution.
-- ARGV 6 q, 7 question_revealed body, 8 when the results not sent here are due ('' for none),
--      9 when any instance sends them if the sender has not, 10 k, 11.. k stat field/value
--      pairs, then r, r pid/result body pairs (the results sent here, at most RESULTS_CHUNK, in
--      participant id order), then groups of 5: pid, progress, points, answer field, its final
--      record (a time-out's or the answer scored with the streak)
if not in_phase('closed', ARGV[6]) then return {'stale'} end
redis.call('HSET', META, 'phase', 'revealed')
local i = 11
for _ = 1, tonumber(ARGV[10]) do
  redis.call('HSET', QSTATS, ARGV[i], ARGV[i + 1])
  i = i + 2
end
local results, groups = i + 1, i + 1 + 2 * tonumber(ARGV[i])
if ARGV[8] ~= '' then
  -- the rest follow (HOST_RESULTS) after the last participant sent here
  redis.call('HSET', META, 'results_due_ms', ARGV[8], 'results_sent_to', ARGV[groups - 2])
  redis.call('ZADD', DEADLINES, ARGV[9], 'r|' .. SID .. '|' .. ARGV[6])
end
i = groups
local progress, records = {}, {}
while i <= #ARGV do
  local pid = ARGV[i]
  progress[#progress + 1] = pid
  progress[#progress + 1] = ARGV[i + 1]
  -- a participant kicked since the read has left the leaderboard: do not bring them back
  if redis.call('ZSCORE', SCORES, pid) then redis.call('ZINCRBY', SCORES, ARGV[i + 2], pid) end
  records[#records + 1] = ARGV[i + 3]
  records[#records + 1] = ARGV[i + 4]
  i = i + 5
end
add_all('HSET', PROGRESS, progress)
add_all('HSET', ANSWERS, records)
out_each(results, groups - 1)
out('all', '', ARGV[7], '')
touch()
return {'ok'}
"""

HOST_RESULTS = r"""
-- The results of a large reveal beyond its first chunk, RESULTS_CHUNK per script, so that no
-- script holds Redis for all of them (every other run on this Redis waits meanwhile), in
-- participant id order: each chunk follows the last participant sent to, or is refused (stale:
-- another instance sent it), so that each result goes out once whoever sends it.
-- ARGV 6 q, 7 last chunk 1/0, 8 the participant this chunk follows, 9.. pid/result body pairs
if not in_phase('revealed', ARGV[6]) then return {'stale'} end
if redis.call('HGET', META, 'results_sent_to') ~= ARGV[8] then return {'stale'} end
out_each(9, #ARGV)
if ARGV[7] == '1' then
  redis.call('HDEL', META, 'results_due_ms', 'results_sent_to')
  redis.call('ZREM', DEADLINES, 'r|' .. SID .. '|' .. ARGV[6])
else
  redis.call('HSET', META, 'results_sent_to', ARGV[#ARGV - 1])
end
return {'ok'}
"""

FINISH = r"""
-- ARGV 6 reason, 7 expected seq or '', 8 run_finished body, 9 completion message, 10 lobby ok
local m = redis.call('HMGET', META, 'status', 'seq')
if m[1] == 'finished' then return {'finished'} end
if m[1] ~= 'running' and ARGV[10] ~= '1' then return {'wrong_state'} end
if ARGV[7] ~= '' and (m[2] or '0') ~= ARGV[7] then return {'stale'} end
redis.call('HSET', META, 'status', 'finished', 'phase', 'finished', 'ended_at_ms', NOW,
           'end_reason', ARGV[6])
redis.call('DEL', PENDING)
redis.call('ZADD', OUTBOX, NOW, SID)
redis.call('HSET', OUTBOX_MSGS, SID, ARGV[9])
redis.call('ZREM', DEADLINES, 'f|' .. SID, 'h|' .. SID)
out('all', '', ARGV[8], 'finished')
touch()
return {'ok'}
"""

KICK = r"""
-- ARGV 6 pid, 7 kicked record, 8 current deadline member or '', 9 mode
local pid = ARGV[6]
if not on_board(pid) then return {'unknown'} end
local status = redis.call('HGET', META, 'status')
if status == 'finished' then return {'wrong_state'} end
redis.call('HSET', PARTS, pid, ARGV[7])
local n = redis.call('HINCRBY', META, 'participant_count', -1)
redis.call('ZREM', SCORES, pid)
redis.call('HDEL', PRESENCE, pid)
redis.call('SREM', PRESENT, pid)
redis.call('SREM', PENDING, pid)
if ARGV[8] ~= '' then redis.call('ZREM', DEADLINES, ARGV[8]) end
redis.call('ZREM', DEADLINES, 'g|' .. SID .. '|' .. pid)
local progress = redis.call('HGET', PROGRESS, pid)
if status == 'running' and ARGV[9] == 'self-paced' and progress then
  redis.call('HINCRBY', META, 'playing_count', -1)
  if is_finished(progress) then redis.call('HINCRBY', META, 'finished_count', -1) end
end
out('all', pid, '{"type":"participant_kicked","participant_id":"' .. pid ..
    '","participant_count":' .. n .. '}', 'kicked')
if status == 'running' then
  if ARGV[9] == 'self-paced' then maybe_complete() else maybe_all_answered() end
end
touch()
return {'ok'}
"""

LOCK = r"""
-- ARGV 6 '1' or '0'
if redis.call('HGET', META, 'status') == 'finished' then return {'wrong_state'} end
redis.call('HSET', META, 'locked', ARGV[6])
local locked = 'false'
if ARGV[6] == '1' then locked = 'true' end
out('all', '', '{"type":"lock_changed","locked":' .. locked .. '}', '')
touch()
return {'ok'}
"""

CONNECT = r"""
-- KEYS 17 the connecting instance's connections; ARGV 6 who ('host' or a participant id),
-- 7 presence value. Returns ok, the presence replaced or '', and for a participant the run's
-- status and whether they have progress (self-paced: whether they still need question 1).
local who = ARGV[6]
if who ~= 'host' then
  local kicked = is_kicked(who)
  if kicked == nil then return {'unknown'} end
  if kicked then return {'kicked'} end
end
local old = redis.call('HGET', PRESENCE, who)
redis.call('HSET', PRESENCE, who, ARGV[7])
-- so that another instance can release this presence if the connecting one dies
redis.call('HSET', KEYS[17], SID .. '|' .. who, ARGV[7])
if who == 'host' then
  redis.call('ZREM', DEADLINES, 'h|' .. SID)
  return {'ok', old or ''}
end
redis.call('SADD', PRESENT, who)
redis.call('ZREM', DEADLINES, 'g|' .. SID .. '|' .. who)
if not old then
  out('host', '', '{"type":"participant_connection","participant_id":"' .. who ..
      '","connected":true}', '')
end
local m = redis.call('HMGET', META, 'status', 'phase', 'current_question')
if m[1] == 'running' and m[2] == 'question' and m[3]
   and redis.call('HEXISTS', ANSWERS, who .. ':' .. m[3]) == 0 then
  redis.call('SADD', PENDING, who)
end
return {'ok', old or '', m[1] or '', redis.call('HEXISTS', PROGRESS, who)}
"""

DISCONNECT = r"""
-- KEYS 17 the instance's connections; ARGV 6 who, 7 presence value, 8 participant grace due,
-- 9 host grace due, 10 mode
local who = ARGV[6]
if redis.call('HGET', KEYS[17], SID .. '|' .. who) == ARGV[7] then
  redis.call('HDEL', KEYS[17], SID .. '|' .. who)
end
if redis.call('HGET', PRESENCE, who) ~= ARGV[7] then return {'replaced'} end
redis.call('HDEL', PRESENCE, who)
redis.call('SREM', PRESENT, who)
local m = redis.call('HMGET', META, 'status', 'phase')
if m[1] == 'finished' then return {'ok'} end
if who == 'host' then
  if m[1] == 'lobby' or ARGV[10] == 'host-paced' then
    redis.call('ZADD', DEADLINES, ARGV[9], 'h|' .. SID)
  end
  return {'ok'}
end
out('host', '', '{"type":"participant_connection","participant_id":"' .. who ..
    '","connected":false}', '')
if m[1] == 'running' then
  if ARGV[10] == 'self-paced' then
    local progress = redis.call('HGET', PROGRESS, who)
    if progress and not is_finished(progress) then
      redis.call('ZADD', DEADLINES, ARGV[8], 'g|' .. SID .. '|' .. who)
    end
  else
    redis.call('SREM', PENDING, who)
    maybe_all_answered()
  end
end
return {'ok'}
"""

SNAPSHOT = r"""
-- What one client may see now, read atomically with the run's seq (the welcome snapshot).
-- KEYS as every run script; ARGV 1 rows of the board, 2 participant id or '' for the host.
-- Returns meta, the board (flat, with scores), then for the host: participants, progress,
-- presence, how many answered the current question (or false); for a participant: progress,
-- score, rank, answered the open question 1/0, record.
local META, SCORES, PARTS, PROGRESS, PRESENCE, ANSWERS, QSTATS =
  KEYS[1], KEYS[7], KEYS[5], KEYS[9], KEYS[10], KEYS[8], KEYS[12]
local pid = ARGV[2]
local meta = redis.call('HGETALL', META)
local status = redis.call('HGET', META, 'status')
-- in the lobby there is no board (everyone has 0): the rows would only cost nickname reads
local board = {}
if status and status ~= 'lobby' then
  board = redis.call('ZREVRANGE', SCORES, 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
end
if pid == '' then
  local current = redis.call('HGET', META, 'current_question')
  local answered = current and redis.call('HGET', QSTATS, current .. ':answered') or false
  return {meta, board, redis.call('HGETALL', PARTS), redis.call('HGETALL', PROGRESS),
          redis.call('HKEYS', PRESENCE), answered}
end
local fields = redis.call('HMGET', META, 'phase', 'current_question')
local score = redis.call('ZSCORE', SCORES, pid)
local rank = false
if score and status ~= 'lobby' then
  rank = 1 + redis.call('ZCOUNT', SCORES, '(' .. score, '+inf')
end
local answered = 0
if fields[1] == 'question' and fields[2] then
  answered = redis.call('HEXISTS', ANSWERS, pid .. ':' .. fields[2])
end
return {meta, board, redis.call('HGET', PROGRESS, pid) or false, score or false, rank, answered,
        redis.call('HGET', PARTS, pid) or false}
"""

CLAIM = r"""
-- KEYS 1 a zset of due items; ARGV 1 now, 2 limit, 3 lease until
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for i = 1, #due do redis.call('ZADD', KEYS[1], 'XX', ARGV[3], due[i]) end
return due
"""

ACK = r"""
-- KEYS 1 the zset, 2 a hash of payloads or nothing; ARGV 1 member, 2 the lease it was claimed with
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if KEYS[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
  return 1
end
return 0
"""

_RUN_SCRIPTS = {
    "self_start": SELF_START,
    "self_issue_first": SELF_ISSUE_FIRST,
    "self_resolve": SELF_RESOLVE,
    "host_open": HOST_OPEN,
    "host_answers": HOST_ANSWERS,
    "host_close": HOST_CLOSE,
    "host_settle": HOST_SETTLE,
    "host_results": HOST_RESULTS,
    "finish": FINISH,
    "kick": KICK,
    "lock": LOCK,
    "connect": CONNECT,
    "disconnect": DISCONNECT,
}


def run_script(body: str) -> str:
    """Return a run script: the prelude, then ``body`` run as a function, then its events
    published as one bus message (whichever ``return`` the body took)."""
    return (
        f"{_PRELUDE}local function body()\n{body}\nend\n"
        "local reply = body()\npublish_events()\nreturn reply\n"
    )


class Scripts:
    """The scripts registered on one Redis client (EVALSHA, loaded again after a restart).

    Run scripts go through the instance's :class:`RedisBatch`: the scripts of many sockets that
    arrive together share one round trip.
    """

    def __init__(self, redis: Redis, batch: RedisBatch) -> None:
        """Register every script.

        Args:
            redis: The state store client.
            batch: Where run scripts are sent.
        """
        self.batch = batch
        self._run = {
            name: redis.register_script(run_script(body)) for name, body in _RUN_SCRIPTS.items()
        }
        self.snapshot = redis.register_script(SNAPSHOT)
        self.claim = redis.register_script(CLAIM)
        self.ack = redis.register_script(ACK)

    def every(self) -> tuple[AsyncScript, ...]:
        """Every script registered here."""
        return (*self._run.values(), self.snapshot, self.claim, self.ack)

    async def load(self) -> None:
        """Load every script into Redis now (an instance does so when it starts): otherwise the
        first burst of answers to a fresh Redis is thousands of EVALSHAs refused with NOSCRIPT
        in one batch, and sent again."""
        for script in self.every():
            await script.registered_client.script_load(script.script)

    async def run(self, name: str, keys: list[str], args: list[Any]) -> list[Any]:
        """Run one run script and return its reply (first element: ``ok`` or a refusal)."""
        reply: list[Any] = await self.batch.script(self._run[name], keys, args)
        return reply

    def run_then(self, name: str, keys: list[str], args: list[Any], then: Then) -> None:
        """Run one run script and tell ``then`` its reply (or the exception it failed with) as
        soon as it is read (:meth:`RedisBatch.script_then`)."""
        self.batch.script_then(self._run[name], keys, args, then)
