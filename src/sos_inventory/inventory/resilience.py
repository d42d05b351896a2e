"""Retries for transient faults, a run-wide retry budget, a circuit breaker and a deadline.

The policy, from the outside in:

* **Circuit breaker**: after ``breaker_failures`` requests in a row have failed for
  good (retries spent) with a transient error, the inventory is considered down
  and every further call raises :class:`~sos_inventory.errors.CircuitOpen`: the
  run stops (exit 4) instead of hammering a dead service.
* **Retry budget** (a token bucket, as botocore's "standard" retry mode): a
  retry costs tokens (more after a timeout, the most expensive failure), a
  first-try success earns one back, and a retried success refunds its cost. A
  healthy run with a few percent of faults never runs dry; a failing upstream
  empties it quickly, after which failures are final at once.
* **Retries** of transient faults only (DNS, connect, timeout, dropped
  connection, 500/502/503/504, 429), with capped exponential backoff and full
  jitter, or the server's ``Retry-After`` (capped) on 429/503. 401/403 and other
  4xx are never retried. Updates carry absolute values, so a retried update
  whose first answer was lost is safe.
* **Deadline**: no attempt starts, and no backoff or rate-limit wait sleeps, past the run's
  deadline.

Clock, sleep and randomness are injected, so tests run without real sleeps.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sos_inventory.config.settings import RetryPolicy
from sos_inventory.errors import (
    CircuitOpen,
    DeadlineExceeded,
    RateOutlastsDeadline,
    SosError,
    SosHttpError,
    SosTimeoutError,
    is_transient,
)

T = TypeVar("T")


class RetryBudget:
    """A token bucket shared by every request of the run."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.tokens = policy.budget
        self.spent = 0  # retries granted
        self.refused = 0  # retries refused for lack of tokens

    def acquire(self, error: SosError) -> int | None:
        """Take the cost of one retry after ``error``; None when the budget is spent."""
        cost = (
            self.policy.timeout_retry_cost if isinstance(error, SosTimeoutError) else self.policy.retry_cost
        )
        if cost > self.tokens:
            self.refused += 1
            return None
        self.tokens -= cost
        self.spent += 1
        return cost

    def success(self, refund: int) -> None:
        """A request succeeded: give back what its retries cost, or one token for a first try."""
        self.tokens = min(self.policy.budget, self.tokens + (refund or 1))


class CircuitBreaker:
    """Opens after N requests in a row failed for good with a transient error."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.consecutive = 0
        self.opened_by: SosError | None = None

    @property
    def is_open(self) -> bool:
        return self.opened_by is not None

    def check(self) -> None:
        if self.opened_by is not None:
            raise CircuitOpen(
                f"{self.threshold} requests in a row failed; the last: {self.opened_by}", self.opened_by
            )

    def success(self) -> None:
        self.consecutive = 0

    def failure(self, error: SosError) -> None:
        self.consecutive += 1
        if self.consecutive >= self.threshold and self.opened_by is None:
            self.opened_by = error


class Resilience:
    """One per run: every request to the inventory goes through :meth:`call`."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        deadline: float | None = None,  # on ``clock``'s scale
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.budget = RetryBudget(self.policy)
        self.breaker = CircuitBreaker(self.policy.breaker_failures)
        self.deadline = deadline
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.attempts = 0
        self.retries = 0
        self.attempts_by_kind: Counter[str] = Counter()  # kind: the caller's name for the request

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - self.clock()

    def check_deadline(self) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded("the run's deadline passed")

    def _delay(self, error: SosError, retry: int) -> float:
        if isinstance(error, SosHttpError) and error.retry_after is not None:
            return min(error.retry_after, self.policy.max_retry_after)
        return self.policy.backoff(retry, self.rng)

    async def call(self, attempt: Callable[[], Awaitable[T]], kind: str = "request") -> T:
        """Run ``attempt`` until it succeeds, fails for good, or the run must stop."""
        refund = 0
        retry = 0
        while True:
            self.breaker.check()
            self.check_deadline()
            self.attempts += 1
            self.attempts_by_kind[kind] += 1
            try:
                result = await attempt()
            except SosError as error:
                if not is_transient(error):
                    # The service answered: it is up, whatever it thought of the request.
                    self.breaker.success()
                    raise
                cost = self.budget.acquire(error) if retry + 1 < self.policy.attempts else None
                if cost is None:
                    self.breaker.failure(error)
                    raise
                retry += 1
                delay = self._delay(error, retry)
                left = self.remaining()
                if left is not None and delay >= left:
                    self.breaker.failure(error)
                    raise
                refund += cost
                self.retries += 1
                await self.sleep(delay)
            else:
                self.budget.success(refund)
                self.breaker.success()
                return result


class RateLimiter:
    """At most ``rate`` request starts per second, evenly spaced (for a shared production API).

    It keeps the run's ``deadline`` (on ``clock``'s scale): a request whose turn would come at
    or after it is refused at once with DeadlineExceeded, never waited for.
    """

    def __init__(
        self,
        rate: float,
        *,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("the rate must be a positive number")
        self.interval = 1.0 / rate
        self.deadline = deadline
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0

    async def wait(self) -> None:
        """Return when the caller may start its request; DeadlineExceeded if that is too late."""
        now = self.clock()
        slot = max(now, self._next)
        if self.deadline is not None and slot >= self.deadline:
            raise RateOutlastsDeadline(
                f"the rate limit (one request every {self.interval:g}s) leaves the next request no "
                f"turn before the run's deadline, {max(self.deadline - now, 0):.1f}s from now"
            )
        self._next = slot + self.interval
        if slot > now:
            await self.sleep(slot - now)


async def gather_or_cancel(*work: Awaitable[T]) -> list[T]:
    """Like asyncio.gather, but the first failure cancels the rest before it is raised.

    A read that failed for good makes the whole plan impossible; its siblings must
    not go on retrying against a service that is failing.
    """
    tasks = [asyncio.ensure_future(w) for w in work]
    if not tasks:
        return []
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    if pending:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return [task.result() for task in tasks]
