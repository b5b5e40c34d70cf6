"""Token buckets per customer and per platform, in the process and in Redis (shared)."""

from __future__ import annotations

import uuid

import pytest

from core.runtime.limits import Limits, MemoryLimiter, Rate, RedisLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_customer_gets_their_burst_then_one_notice_then_waits() -> None:
    clock = Clock()
    limiter = MemoryLimiter(Limits(Rate(60, 3), Rate(6000, 100)), clock)
    results = [await limiter.admit("tg:alice", "telegram") for _ in range(6)]
    assert [r.allowed for r in results] == [True, True, True, False, False, False]
    assert [r.notify for r in results[3:]] == [True, False, False]  # told once
    assert all(r.by_customer for r in results[3:])
    assert 0.9 <= results[3].retry_after_s <= 1.0  # one token a second
    assert (await limiter.admit("tg:bob", "telegram")).allowed  # others are not affected
    clock.now += 1.0
    assert (await limiter.admit("tg:alice", "telegram")).allowed
    assert (await limiter.admit("tg:alice", "telegram")).notify  # a new stretch: told again


async def test_the_platform_bucket_caps_everyone_together_without_notices() -> None:
    limiter = MemoryLimiter(Limits(Rate(60, 5), Rate(60, 4)), Clock())
    results = [await limiter.admit(f"tg:{i}", "telegram") for i in range(6)]
    assert [r.allowed for r in results] == [True] * 4 + [False] * 2
    assert not any(r.notify or r.by_customer for r in results)
    assert (await limiter.admit("wh:x", "webhook")).allowed  # another platform


@pytest.fixture
async def redis_limits():  # type: ignore[no-untyped-def]
    prefix = f"kefu-test:{uuid.uuid4().hex[:8]}:"
    limiters = [
        RedisLimiter(REDIS_URL, Limits(Rate(6, 3), Rate(6000, 100)), prefix) for _ in range(2)
    ]
    probe = await limiters[0].admit("probe", "probe")
    if limiters[0]._failing:
        for limiter in limiters:
            await limiter.close()
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    assert probe.allowed
    yield limiters
    for limiter in limiters:
        await limiter.close()


async def test_redis_buckets_hold_across_replicas(redis_limits) -> None:  # type: ignore[no-untyped-def]
    first, second = redis_limits
    results = [await (first if i % 2 else second).admit("tg:alice", "telegram") for i in range(6)]
    assert [r.allowed for r in results] == [True, True, True, False, False, False]
    assert [r.notify for r in results] == [False, False, False, True, False, False]
    assert 9.0 <= results[3].retry_after_s <= 10.5  # 6 a minute: one token every 10 s
    assert (await second.admit("tg:bob", "telegram")).allowed


async def test_an_unreachable_redis_admits_everyone() -> None:
    limiter = RedisLimiter("redis://127.0.0.1:9/0", Limits(Rate(1, 1), Rate(1, 1)), timeout_s=0.2)
    try:
        assert all([(await limiter.admit("c", "p")).allowed for _ in range(3)])
    finally:
        await limiter.close()
