# Exponential backoff with jitter ("equal jitter": half the ceiling plus a random part of the other half).
import random


def _rand(n: int) -> int:
    return random.getrandbits(30) % n


class Backoff:
    def __init__(self, base_ms: int, max_ms: int, factor: int = 2, rand=None) -> None:
        self.base_ms = base_ms
        self.max_ms = max_ms
        self.factor = factor
        self.attempts = 0
        self._rand = rand or _rand

    def ceiling_ms(self) -> int:
        """Upper bound of the next delay."""
        c = self.base_ms
        for _ in range(self.attempts):
            c *= self.factor
            if c >= self.max_ms:
                return self.max_ms
        return min(c, self.max_ms)

    def next_ms(self) -> int:
        """The next delay: in [ceiling/2, ceiling], the ceiling doubling per attempt up to max_ms."""
        c = self.ceiling_ms()
        self.attempts += 1
        half = c // 2
        return half + self._rand(c - half + 1)

    def reset(self) -> None:
        self.attempts = 0
