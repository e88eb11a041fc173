"""Shared evaluations within one scope (one answer): a configuration the cost model has evaluated is not redone.

One answer runs a few dozen estimates of the same workload that differ only in the techniques applied; each
estimate walks from the naive baseline through the techniques one at a time, so the early steps (the naive
baseline, then the reference stack) are identical across estimates. Inside :func:`shared_evaluations` those
steps are computed once. Outside a scope nothing is remembered: every call computes afresh.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator

# a context variable, so concurrent answers (API worker threads) never see each other's entries
_SCOPE: ContextVar[dict | None] = ContextVar("accelsage_costmodel_memo", default=None)


@contextmanager
def shared_evaluations() -> Iterator[None]:
    """Within this block, equal cost-model evaluations share one result; a nested block reuses the outer one."""
    if _SCOPE.get() is not None:
        yield
        return
    token = _SCOPE.set({})
    try:
        yield
    finally:
        _SCOPE.reset(token)


def remembered(key: tuple, compute: Callable[[], Any], keep: tuple = ()) -> Any:
    """``compute()`` once per ``key`` in the current scope (always afresh outside one).

    Args:
        key: inputs the result depends on; objects identified by ``id()`` go in ``keep`` too. A key that cannot
            be hashed is computed afresh.
        keep: objects held for the scope's life, so an ``id()`` in the key is never reused by another object.
    """
    memo = _SCOPE.get()
    if memo is None:
        return compute()
    # one lookup on a hit, two on a miss: keys are long tuples holding dataclasses, and hashing them is the cost
    try:
        found = memo.get(key)
    except TypeError:  # a key that cannot be hashed (e.g. a list among the knobs): computed afresh
        return compute()
    if found is None:
        found = memo[key] = (compute(), keep)
    return found[0]
