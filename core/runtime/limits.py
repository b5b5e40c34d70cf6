"""Rate limits on answering: a token bucket per customer and one per platform.

Every message is still stored (and acknowledged) at once: a limit never loses a message.
It decides what the worker does with a turn it claimed (see :mod:`core.runtime.worker`):

* admitted: answered as usual (one token from the customer's bucket and one from the
  platform's);
* the customer is over their limit: the turn is answered *together* with the customer's
  next message if one is already waiting (it is joined into that turn), or held until the
  bucket has a token again and then answered, with everything joined into it. The first
  refusal since the customer was last admitted sends one polite notice (``rate_limited``
  in :mod:`core.texts`); later ones are silent.
* the platform is over its limit: the turn waits (no notice: it is not the customer's
  doing).

:class:`MemoryLimiter` keeps the buckets in the process; :class:`RedisLimiter` keeps them
in Redis (one Lua script per decision, Redis's clock), so that every replica of ``serve``
shares them. When Redis cannot be reached the limiter admits (and counts it): a limit is a
protection for everybody else, and must never stop customers from being answered.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter

log = logging.getLogger(__name__)

ADMISSIONS = Counter("kefu_rate_limit_total", "Rate-limit decisions", ["result"])
MAX_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: ``per_minute`` tokens a minute, at most ``burst`` saved up."""

    per_minute: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass(frozen=True, slots=True)
class Limits:
    customer: Rate = Rate(20, 8)
    platform: Rate = Rate(6000, 300)


@dataclass(frozen=True, slots=True)
class Admission:
    """A limiter's answer.

    Attributes:
        allowed: Answer now.
        retry_after_s: When refused, seconds until a token is due.
        notify: When refused: this is the customer's first refusal since they were last
            admitted, so tell them (once).
        by_customer: Refused because of the customer's own bucket (not the platform's).
    """

    allowed: bool
    retry_after_s: float = 0.0
    notify: bool = False
    by_customer: bool = False


ADMITTED = Admission(True)


class RateLimiter(Protocol):
    async def admit(self, customer: str, platform: str) -> Admission:
        """Take a token for one answer to ``customer`` on ``platform``."""
        ...

    async def close(self) -> None: ...


class _Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at

    def level(self, rate: Rate, now: float) -> float:
        self.tokens = min(float(rate.burst), self.tokens + (now - self.at) * rate.per_second)
        self.at = now
        return self.tokens

    def take(self) -> None:
        self.tokens -= 1


class MemoryLimiter:
    """Token buckets in this process (one ``serve``; replicas need :class:`RedisLimiter`).

    Args:
        limits: The rates.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._noticed: set[str] = set()

    def _bucket(self, key: str, rate: Rate, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(rate.burst), now)
            while len(self._buckets) > MAX_BUCKETS:  # the oldest are full again by now
                old, _ = self._buckets.popitem(last=False)
                self._noticed.discard(old)
        self._buckets.move_to_end(key)
        return bucket

    async def admit(self, customer: str, platform: str) -> Admission:
        now = self._clock()
        limits = self.limits
        own = self._bucket("c:" + customer, limits.customer, now)
        shared = self._bucket("p:" + platform, limits.platform, now)
        if own.level(limits.customer, now) < 1:
            notify = customer not in self._noticed
            self._noticed.add(customer)
            ADMISSIONS.labels("customer_limited").inc()
            return Admission(False, (1 - own.tokens) / limits.customer.per_second, notify, True)
        if shared.level(limits.platform, now) < 1:
            ADMISSIONS.labels("platform_limited").inc()
            return Admission(False, (1 - shared.tokens) / limits.platform.per_second)
        own.take()
        shared.take()
        self._noticed.discard(customer)
        ADMISSIONS.labels("admitted").inc()
        return ADMITTED

    async def close(self) -> None:
        return None


# KEYS: customer bucket, platform bucket, customer's "told" flag.
# ARGV: customer rate/s, customer burst, platform rate/s, platform burst.
# Returns {admitted 0|1, retry_after (string: Lua numbers become integers), notify 0|1, which}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function level(key, rate, burst)
  local v = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(v[1]) or burst
  local at = tonumber(v[2]) or now
  return math.min(burst, tokens + math.max(0, now - at) * rate)
end
local function save(key, tokens, rate, burst)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('EXPIRE', key, math.ceil(burst / rate) + 60)
end
local c_rate, c_burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local p_rate, p_burst = tonumber(ARGV[3]), tonumber(ARGV[4])
local c = level(KEYS[1], c_rate, c_burst)
if c < 1 then
  save(KEYS[1], c, c_rate, c_burst)
  local first = redis.call('SET', KEYS[3], '1', 'NX', 'EX', 86400)
  return {0, tostring((1 - c) / c_rate), first and 1 or 0, 'customer'}
end
local p = level(KEYS[2], p_rate, p_burst)
if p < 1 then
  save(KEYS[2], p, p_rate, p_burst)
  return {0, tostring((1 - p) / p_rate), 0, 'platform'}
end
save(KEYS[1], c - 1, c_rate, c_burst)
save(KEYS[2], p - 1, p_rate, p_burst)
redis.call('DEL', KEYS[3])
return {1, '0', 0, 'admitted'}
"""


class RedisLimiter:
    """Token buckets in Redis, shared by every replica.

    Args:
        url: ``redis://host:port/db``.
        limits: The rates.
        prefix: Key prefix (several kefu deployments may share one Redis).
        timeout_s: Socket timeout; a slower Redis is treated as unreachable.
    """

    def __init__(
        self, url: str, limits: Limits, prefix: str = "kefu:rl:", timeout_s: float = 0.5
    ) -> None:
        from redis.asyncio import Redis

        self.limits = limits
        self.prefix = prefix
        self._redis: Any = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._script = self._redis.register_script(_ADMIT)
        self._failing = False

    async def admit(self, customer: str, platform: str) -> Admission:
        from redis.exceptions import RedisError

        c, p = self.limits.customer, self.limits.platform
        keys = [f"{self.prefix}c:{customer}", f"{self.prefix}p:{platform}",
                f"{self.prefix}n:{customer}"]  # fmt: skip
        try:
            allowed, retry_after, notify, which = await self._script(
                keys=keys, args=[c.per_second, c.burst, p.per_second, p.burst]
            )
        except (RedisError, OSError) as exc:
            if not self._failing:  # said once per outage, counted every time
                log.warning("rate limiter: Redis unreachable, admitting everyone: %s", exc)
            self._failing = True
            ADMISSIONS.labels("unlimited_redis_down").inc()
            return ADMITTED
        self._failing = False
        if allowed:
            ADMISSIONS.labels("admitted").inc()
            return ADMITTED
        scope = _text(which)
        ADMISSIONS.labels(f"{scope}_limited").inc()
        return Admission(False, float(retry_after), bool(notify), scope == "customer")

    async def close(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
