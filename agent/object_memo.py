"""A value worked out once per object, for objects that do not change while kept (a catalog, a technique)."""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class ObjectMemo(Generic[T]):
    """``memo(obj)`` is ``compute(obj)``, worked out once per object: keyed by ``id()``, with the object held so its id
    is not reused by another while its value is kept; cleared once ``limit`` objects are held (test runs load many
    catalogs)."""

    def __init__(self, compute: Callable[[Any], T], limit: int) -> None:
        self._compute = compute
        self._limit = limit
        self._values: dict[int, tuple[Any, T]] = {}

    def __call__(self, obj: Any) -> T:
        entry = self._values.get(id(obj))
        if entry is None or entry[0] is not obj:
            if len(self._values) >= self._limit:
                self._values.clear()
            entry = self._values[id(obj)] = (obj, self._compute(obj))
        return entry[1]
