"""A reliable, deduplicating request queue for one crawl session in Redis.

scrapy-redis pops requests destructively: a worker killed after the pop loses
them. Here a pop moves the request, in one atomic Lua call, from the session's
sorted set into an in-flight hash under a token naming its worker. The worker
acknowledges (deletes) the token once the page is fully processed; requests
whose worker stopped heart-beating are put back by whoever notices first.
"""

from __future__ import annotations

import os
from typing import Any

from scrapy import Request, Spider
from scrapy_redis.queue import PriorityQueue

# Random bytes in front of each member keep equal requests (dont_filter retries) distinct
# in the sorted set.
_NONCE_BYTES = 8

_PUSH = """
if ARGV[1] ~= '' then
  if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# Up to ARGV[2] best requests, each under the field "<ARGV[1]>.<n>|<score>".
_POP = """
local items = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #items, 2 do
  redis.call('ZREM', KEYS[1], items[i])
  local field = ARGV[1] .. '.' .. ((i + 1) / 2) .. '|' .. items[i + 1]
  redis.call('HSET', KEYS[2], field, items[i])
  out[#out + 1] = field
  out[#out + 1] = items[i]
end
return out
"""

_REQUEUE = """
local moved = 0
for _, field in ipairs(ARGV) do
  local data = redis.call('HGET', KEYS[1], field)
  if data then
    local score = string.match(field, '|([^|]*)$')
    redis.call('ZADD', KEYS[2], score, data)
    redis.call('HDEL', KEYS[1], field)
    redis.call('SREM', KEYS[3], field)
    moved = moved + 1
  end
end
return moved
"""


def token_owner(field: str) -> str:
    """The worker id in an in-flight field ``<worker_id>|<seq>|<score>``."""
    return field.split("|", 1)[0]


class ReliablePriorityQueue(PriorityQueue):
    """scrapy-redis's priority queue with atomic dedupe-and-push and pop-into-in-flight."""

    def __init__(
        self,
        server: Any,
        spider: Spider,
        key: str,
        *,
        inflight_key: str,
        dupefilter_key: str,
        parked_key: str,
        serializer: Any = None,
    ) -> None:
        super().__init__(server, spider, key, serializer=serializer)
        self.inflight_key = inflight_key
        self.dupefilter_key = dupefilter_key
        self.parked_key = parked_key
        self._push = server.register_script(_PUSH)
        self._pop = server.register_script(_POP)
        self._requeue = server.register_script(_REQUEUE)

    def push_unique(self, request: Request, fingerprint: str | None) -> bool:
        """Queue ``request`` unless ``fingerprint`` was seen in the session (one round trip)."""
        member = os.urandom(_NONCE_BYTES) + self._encode_request(request)
        added = self._push(
            keys=[self.dupefilter_key, self.key],
            args=[fingerprint or "", -request.priority, member],
        )
        return bool(added)

    def push(self, request: Request) -> None:
        self.push_unique(request, None)

    def pop_reliable(self, token: str, count: int = 1) -> list[tuple[str, Request]]:
        """Move up to ``count`` best requests into the in-flight hash (one round trip);
        returns (field, request) pairs, best first."""
        popped = self._pop(keys=[self.key, self.inflight_key], args=[token, max(1, count)])
        return [
            (field.decode(), self._decode_request(data[_NONCE_BYTES:]))
            for field, data in zip(popped[::2], popped[1::2], strict=True)
        ]

    def pop(self, timeout: int = 0) -> Request | None:
        raise NotImplementedError("use pop_reliable(token): a plain pop would lose the request")

    def settle(self, done: list[str], parked: list[str]) -> None:
        """Forget ``done`` fields; mark ``parked`` ones processed (items not yet stored).
        One round trip for both."""
        if not done and not parked:
            return
        pipe = self.server.pipeline(transaction=False)
        if done:
            pipe.hdel(self.inflight_key, *done)
            pipe.srem(self.parked_key, *done)
        if parked:
            pipe.sadd(self.parked_key, *parked)
        pipe.execute()

    def requeue(self, fields: list[str]) -> int:
        """Put in-flight requests back in the queue (those still in flight; atomic)."""
        if not fields:
            return 0
        keys = [self.inflight_key, self.key, self.parked_key]
        return int(self._requeue(keys=keys, args=fields))

    def inflight_fields(self) -> list[str]:
        return [f.decode() for f in self.server.hkeys(self.inflight_key)]
