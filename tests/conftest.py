"""Fixtures shared by every test module.

``catalog`` and ``indexes``: the bundled catalog and its name indexes (a module may define its own).
``bundled_state``: the whole bundled corpus (every card in data/cards) built once per session with
the real refresh, for the API, agent-evaluation and search-quality tests.
"""

from __future__ import annotations

import os

# The embedding model ships in a pip package; nothing may try a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from api_helpers import bundled_state  # noqa: E402,F401  (registers the session fixture)
from reading_fixtures import catalog, indexes, read  # noqa: E402,F401  (catalog, name indexes and reader, once per session)
