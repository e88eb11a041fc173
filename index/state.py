"""The state directory: every generated file (database, FAISS index, PDFs, calibration) lives here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StateDir:
    """Paths inside one state directory. Nothing here is tracked by git."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "accelsage.db"

    @property
    def index_path(self) -> Path:
        return self.root / "index.faiss"

    @property
    def index_meta_path(self) -> Path:
        return self.root / "index.json"

    @property
    def pdf_dir(self) -> Path:
        return self.root / "pdfs"

    @property
    def lock_path(self) -> Path:
        return self.root / "refresh.lock"

    @property
    def calibration_path(self) -> Path:
        return self.root / "calibration.json"

    def ensure(self) -> "StateDir":
        """Create the directory tree if missing and return self."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.pdf_dir.mkdir(exist_ok=True)
        return self
