"""Server-side chat sessions: one ``agent.service.Conversation`` per session id, bounded in number and age.

The server issues the ids (``secrets.token_urlsafe``, 192 bits): a session id is the only thing
that ties a turn to a conversation, so it must not be guessable or chosen by a client. An unknown
or expired id starts a fresh conversation under a new id (the response carries it, and its ``turn``
says 1), never under the id the client sent. Sessions live in the memory of one worker process, so
a client behind several workers still gets answers, only without the earlier turns.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.service import Conversation

SESSION_ID_BYTES = 24  # 32 URL-safe characters; within the 8-64 characters a request may send


@dataclass
class Session:
    """One conversation; ``lock`` serialises its turns (two tabs posting at once)."""

    session_id: str
    conversation: Conversation = field(default_factory=Conversation)
    lock: threading.Lock = field(default_factory=threading.Lock)
    turns: int = 0
    last_used_s: float = 0.0


class ChatSessions:
    """Least-recently-used sessions, at most ``max_sessions``, each forgotten after ``ttl_s`` unused."""

    def __init__(self, max_sessions: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self.clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return len(self._sessions)

    def _expire(self, now: float) -> None:
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if now - oldest.last_used_s <= self.ttl_s:
                break
            self._sessions.popitem(last=False)

    def open(self, session_id: str | None) -> Session:
        """The session for ``session_id``, marked as used now; a new one (with a new id) when None, unknown or expired."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            session = self._sessions.pop(session_id, None) if session_id else None
            if session is None:
                session = Session(self._new_id())
            session.last_used_s = now
            self._sessions[session.session_id] = session  # most recently used goes last
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            return session

    def _new_id(self) -> str:
        while True:  # a collision at 192 bits will not happen; the loop only makes it impossible
            session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
            if session_id not in self._sessions:
                return session_id
