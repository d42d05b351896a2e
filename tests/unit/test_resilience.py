"""Retry, budget, breaker and deadline, with an injected clock: no real sleep."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sos_inventory.config import RetryPolicy
from sos_inventory.errors import (
    CircuitOpen,
    DeadlineExceeded,
    SosAuthError,
    SosConnectError,
    SosDnsError,
    SosError,
    SosRateLimited,
    SosRejected,
    SosServerError,
    SosTimeoutError,
    is_transient,
)
from sos_inventory.inventory.resilience import Resilience


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def http(cls: type[SosError], status: int, retry_after: float | None = None) -> SosError:
    return cls(f"HTTP {status}", status=status, retry_after=retry_after, operation="query", c_code="ALC")  # type: ignore[call-arg]


def transport(cls: type[SosError] = SosConnectError) -> SosError:
    return cls("dropped", operation="update", c_code="ALC")


def flaky(errors: list[SosError | None]) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """An attempt that raises the given errors in turn, then succeeds."""
    calls = [0]

    async def attempt() -> str:
        calls[0] += 1
        error = errors.pop(0) if errors else None
        if error is not None:
            raise error
        return "ok"

    return attempt, calls


def make(policy: RetryPolicy | None = None, deadline: float | None = None) -> tuple[Resilience, FakeTime]:
    fake = FakeTime()
    return Resilience(
        policy, deadline=deadline, clock=fake.clock, sleep=fake.sleep, rng=random.Random(7)
    ), fake


def run(coroutine: Awaitable[str]) -> str:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (transport(SosDnsError), True),
        (transport(SosConnectError), True),
        (transport(SosTimeoutError), True),
        (http(SosServerError, 500), True),
        (http(SosServerError, 502), True),
        (http(SosServerError, 503), True),
        (http(SosServerError, 504), True),
        (http(SosServerError, 501), False),
        (http(SosRateLimited, 429), True),
        (http(SosRejected, 400), False),
        (http(SosRejected, 404), False),
        (http(SosRejected, 422), False),
        (http(SosAuthError, 401), False),
        (http(SosAuthError, 403), False),
    ],
)
def test_only_transient_faults_are_retried(error: SosError, transient: bool) -> None:
    assert is_transient(error) is transient
    resilience, _ = make()
    attempt, calls = flaky([error])
    if transient:
        assert run(resilience.call(attempt)) == "ok"
        assert calls[0] == 2
    else:
        with pytest.raises(type(error)):
            run(resilience.call(attempt))
        assert calls[0] == 1


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    rng = random.Random(1)
    for retry, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)):
        delays = [policy.backoff(retry, rng) for _ in range(300)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # the whole range is used: full jitter
        assert min(delays) < ceiling * 0.2


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    resilience, fake = make(RetryPolicy(attempts=4))
    attempt, calls = flaky([transport() for _ in range(10)])
    with pytest.raises(SosConnectError):
        run(resilience.call(attempt))
    assert calls[0] == 4
    assert len(fake.sleeps) == 3


def test_retry_after_is_honoured_and_capped() -> None:
    resilience, fake = make(RetryPolicy(max_retry_after=60))
    attempt, _ = flaky(
        [http(SosServerError, 503, retry_after=7), http(SosRateLimited, 429, retry_after=3600)]
    )
    assert run(resilience.call(attempt)) == "ok"
    assert fake.sleeps == [7, 60]


def test_budget_runs_dry_when_everything_fails_and_refills_on_success() -> None:
    policy = RetryPolicy(attempts=4, budget=20, retry_cost=5, timeout_retry_cost=10, breaker_failures=1000)
    resilience, _ = make(policy)
    for _ in range(3):
        attempt, _calls = flaky([transport() for _ in range(10)])
        with pytest.raises(SosConnectError):
            run(resilience.call(attempt))
    assert resilience.budget.tokens < policy.retry_cost
    assert resilience.budget.spent == 4  # 20 tokens / 5 per retry
    attempt, calls = flaky([transport()])
    with pytest.raises(SosConnectError):
        run(resilience.call(attempt))
    assert calls[0] == 1  # no token left: the failure is final at once
    for _ in range(10):
        attempt, _calls = flaky([])
        run(resilience.call(attempt))
    assert resilience.budget.tokens == 10


def test_timeouts_cost_more_than_other_retries() -> None:
    resilience, _ = make(RetryPolicy(budget=100, retry_cost=5, timeout_retry_cost=10))
    attempt, _ = flaky([transport(SosTimeoutError)])
    run(resilience.call(attempt))
    assert resilience.budget.tokens == 100  # a retried success refunds its cost
    resilience.budget.acquire(transport(SosTimeoutError))
    assert resilience.budget.tokens == 90


def test_breaker_opens_after_n_final_failures_in_a_row_and_stops_every_call() -> None:
    resilience, _ = make(RetryPolicy(attempts=2, breaker_failures=3))
    for _ in range(3):
        attempt, _calls = flaky([transport(), transport()])
        with pytest.raises(SosConnectError):
            run(resilience.call(attempt))
    attempt, calls = flaky([])
    with pytest.raises(CircuitOpen) as caught:
        run(resilience.call(attempt))
    assert calls[0] == 0
    assert isinstance(caught.value.cause, SosConnectError)


def test_breaker_counts_only_consecutive_failures() -> None:
    resilience, _ = make(RetryPolicy(attempts=1, breaker_failures=3))
    for _ in range(5):
        for errors in ([transport()], [transport()], []):
            attempt, _calls = flaky(list(errors))
            with contextlib.suppress(SosConnectError):
                run(resilience.call(attempt))
    assert not resilience.breaker.is_open
    # A 4xx answer proves the service is up: it resets the count too.
    for errors in ([transport()], [transport()], [http(SosRejected, 422)], [transport()]):
        attempt, _calls = flaky(list(errors))
        with pytest.raises(SosError):
            run(resilience.call(attempt))
    assert not resilience.breaker.is_open


def test_deadline_stops_new_attempts_and_never_sleeps_past_it() -> None:
    resilience, fake = make(RetryPolicy(base_delay=10, max_delay=10), deadline=12.0)
    attempt, calls = flaky([transport() for _ in range(10)])
    with pytest.raises(SosConnectError):
        run(resilience.call(attempt))
    assert fake.now <= 12.0
    assert calls[0] >= 1
    fake.now = 12.5
    with pytest.raises(DeadlineExceeded):
        run(resilience.call(flaky([])[0]))


def test_auth_errors_are_never_retried_and_do_not_open_the_breaker() -> None:
    resilience, fake = make(RetryPolicy(breaker_failures=1))
    attempt, calls = flaky([http(SosAuthError, 401)])
    with pytest.raises(SosAuthError):
        run(resilience.call(attempt))
    assert calls[0] == 1
    assert fake.sleeps == []
    assert not resilience.breaker.is_open


def test_gather_or_cancel_cancels_the_siblings_of_a_failure_before_it_raises() -> None:
    from sos_inventory.inventory.resilience import gather_or_cancel

    cancelled: list[str] = []

    async def waits_forever(name: str) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return name

    async def fail() -> str:
        await asyncio.sleep(0)
        raise transport()

    async def main() -> None:
        with pytest.raises(SosConnectError):
            await asyncio.wait_for(gather_or_cancel(waits_forever("a"), fail(), waits_forever("b")), 10)
        assert sorted(cancelled) == ["a", "b"]  # before asyncio.run's own clean-up
        assert await gather_or_cancel(asyncio.sleep(0, "x"), asyncio.sleep(0, "y")) == ["x", "y"]

    asyncio.run(main())


def test_rate_limiter_spaces_request_starts_evenly() -> None:
    from sos_inventory.inventory.resilience import RateLimiter

    fake = FakeTime()
    limiter = RateLimiter(4, clock=fake.clock, sleep=fake.sleep)
    starts = []

    async def main() -> None:
        for _ in range(9):
            await limiter.wait()
            starts.append(fake.now)

    asyncio.run(main())
    assert starts == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


@pytest.mark.parametrize(
    ("strategy", "hosts", "total", "chosen"),
    [
        ("auto", 10, 1_000_000, "per-host"),  # a few machines of a huge inventory
        ("auto", 90_000, 100_000, "bulk"),  # most of an inventory
        ("auto", 5, 1000, "bulk"),  # one page holds it all
        ("auto", 998, 1_000_000, "per-host"),
        ("auto", 999, 1_000_000, "bulk"),  # as many requests either way: pages carry more
        ("bulk", 1, 1_000_000, "bulk"),
        ("per-host", 50_000, 60_000, "per-host"),
    ],
)
def test_query_strategy_choice(strategy: str, hosts: int, total: int, chosen: str) -> None:
    from sos_inventory.inventory.sos.inventory import choose_strategy

    assert choose_strategy(strategy, hosts, total, 1000) == chosen  # type: ignore[arg-type]


def test_the_default_policy_is_the_one_the_readme_documents() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("  retry:", 1)[1].split("\nlifecycle:", 1)[0]
    documented = {
        key: float(value) for key, value in re.findall(r"^\s+(\w+): ([0-9.]+)", block, flags=re.MULTILINE)
    }
    costs = re.search(r"\((\d+) per retry, (\d+) after a timeout\)", block)
    assert costs is not None
    documented["retry_cost"], documented["timeout_retry_cost"] = float(costs[1]), float(costs[2])
    policy = RetryPolicy()
    assert documented == {key: float(getattr(policy, key)) for key in documented}
    assert len(documented) == 8


def test_every_attempt_retry_and_refusal_is_counted() -> None:
    policy = RetryPolicy(attempts=4, budget=10, retry_cost=5, breaker_failures=1000)
    resilience, _ = make(policy)
    attempt, _calls = flaky([transport(), transport()])
    assert run(resilience.call(attempt, kind="query")) == "ok"
    assert (resilience.attempts, resilience.retries) == (3, 2)
    assert resilience.budget.tokens == 10  # a retried success refunds exactly what it cost
    resilience.budget.tokens = 5  # one retry left
    attempt, _calls = flaky([transport(), transport()])
    with pytest.raises(SosConnectError):
        run(resilience.call(attempt, kind="update"))
    assert (resilience.attempts, resilience.retries) == (5, 3)
    assert resilience.attempts_by_kind == {"query": 3, "update": 2}
    assert (resilience.budget.spent, resilience.budget.refused) == (3, 1)


def test_a_retried_success_refunds_its_cost_below_a_full_budget() -> None:
    resilience, _ = make(RetryPolicy(budget=100, retry_cost=5))
    resilience.budget.tokens = 50
    run(resilience.call(flaky([transport()])[0]))
    assert resilience.budget.tokens == 50  # took 5, gave 5 back
    run(resilience.call(flaky([])[0]))
    assert resilience.budget.tokens == 51  # a first-try success earns one


def test_the_injected_randomness_draws_the_backoff_and_a_default_one_works() -> None:
    policy = RetryPolicy(base_delay=4, max_delay=4)
    resilience, fake = make(policy)  # rng=random.Random(7)
    run(resilience.call(flaky([transport()])[0]))
    assert fake.sleeps == [policy.backoff(1, random.Random(7))]
    fake = FakeTime()
    unseeded = Resilience(policy, clock=fake.clock, sleep=fake.sleep)
    assert run(unseeded.call(flaky([transport()])[0])) == "ok"
    assert 0 <= fake.sleeps[0] <= 4


def test_a_wait_that_ends_exactly_at_the_deadline_is_not_taken() -> None:
    # Retry-After 5 with 5 s left: waking at the deadline could start nothing.
    resilience, fake = make(deadline=5.0)
    attempt, calls = flaky([http(SosRateLimited, 429, retry_after=5)])
    with pytest.raises(SosRateLimited):
        run(resilience.call(attempt))
    assert (calls[0], fake.sleeps) == (1, [])
    # With more time left the same wait is taken and the retry succeeds.
    resilience, fake = make(deadline=5.5)
    assert run(resilience.call(flaky([http(SosRateLimited, 429, retry_after=5)])[0])) == "ok"
    assert fake.sleeps == [5]


def test_no_attempt_starts_at_the_deadline_itself() -> None:
    resilience, fake = make(deadline=12.0)
    fake.now = 12.0
    with pytest.raises(DeadlineExceeded):
        run(resilience.call(flaky([])[0]))


def test_a_success_restarts_the_breaker_count_from_zero() -> None:
    resilience, _ = make(RetryPolicy(attempts=1, breaker_failures=2))
    for errors in ([transport()], [], [transport()]):
        with contextlib.suppress(SosConnectError):
            run(resilience.call(flaky(list(errors))[0]))
    assert not resilience.breaker.is_open  # one failure since the success
    with contextlib.suppress(SosConnectError):
        run(resilience.call(flaky([transport()])[0]))
    assert resilience.breaker.is_open  # two in a row


def test_gather_or_cancel_cancelled_waits_for_every_child_to_finish_cancelling() -> None:
    from sos_inventory.inventory.resilience import gather_or_cancel

    cleaned: list[str] = []

    async def child(name: str, clean_up_steps: int) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            for _ in range(clean_up_steps):  # a clean-up that itself awaits
                await asyncio.sleep(0)
            cleaned.append(name)
            raise
        return name

    async def main() -> None:
        outer = asyncio.ensure_future(gather_or_cancel(child("quick", 1), child("slow", 5)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(outer, 10)
        assert sorted(cleaned) == ["quick", "slow"]

    asyncio.run(main())


def test_rate_limiter_lets_the_first_request_go_at_once_and_takes_rates_of_one_or_less() -> None:
    from sos_inventory.inventory.resilience import RateLimiter

    for rate, interval in ((1, 1.0), (0.5, 2.0)):
        fake = FakeTime()
        limiter = RateLimiter(rate, clock=fake.clock, sleep=fake.sleep)

        async def twice(limiter: RateLimiter = limiter) -> None:
            await limiter.wait()
            await limiter.wait()

        asyncio.run(twice())
        assert fake.sleeps == [interval]  # no sleep of 0 before the first


def test_rate_limiter_never_waits_past_the_deadline() -> None:
    from sos_inventory.inventory.resilience import RateLimiter

    # One start every 10 s and a deadline at 5 s: the first goes at once, the second is refused
    # without sleeping (its turn, at 10 s, is after the deadline), and so is every later one.
    fake = FakeTime()
    limiter = RateLimiter(0.1, deadline=5.0, clock=fake.clock, sleep=fake.sleep)

    async def main() -> None:
        await limiter.wait()
        for _ in range(3):
            with pytest.raises(DeadlineExceeded, match="rate limit"):
                await limiter.wait()

    asyncio.run(main())
    assert fake.sleeps == []
    assert fake.now < 5.0


def test_rate_limiter_takes_a_turn_that_comes_before_the_deadline() -> None:
    from sos_inventory.inventory.resilience import RateLimiter

    fake = FakeTime()
    limiter = RateLimiter(0.5, deadline=5.0, clock=fake.clock, sleep=fake.sleep)

    async def main() -> None:
        for _ in range(3):  # at 0, 2 and 4 s
            await limiter.wait()
        with pytest.raises(DeadlineExceeded):  # 6 s: past it
            await limiter.wait()

    asyncio.run(main())
    assert fake.sleeps == [2.0, 2.0]
