"""What both import loaders (loader_pg, loader_orm) are given: the job, its plan, the file, progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from leads.imports.reader import FileShape
from leads.imports.spec import ImportSpec
from leads.models_imports import ImportJob

Progress = Callable[[int], None]


@dataclass
class Loader:
    job: ImportJob
    spec: ImportSpec
    path: Path
    shape: FileShape
    progress: Progress | None
    timings: dict[str, float] = field(default_factory=dict)
