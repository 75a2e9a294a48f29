"""From field values to a sparse 0/1 design matrix, and back from columns to words.

Every field becomes a handful of indicator columns, learned from the training leads only:
- numeric: its own value when it has few distinct values (a code like 999 keeps its meaning), else deciles;
  plus "unknown" when some leads have no value;
- categorical: the values shared by enough leads, the rest pooled as "another value" (so a free-text or
  id-like field cannot give every lead a column of its own), plus "unknown";
- tokens (job titles): the words shared by enough leads, one column each, plus "empty".
A logistic regression on such columns is an additive model with a step function per field: non-linear
where the data is, and each lead's score still splits exactly into one contribution per field.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from scoring.predictive.features import CATEGORICAL, NUMERIC, TOKENS, FieldSpec

MAX_LEVELS = 30
MAX_TOKENS = 40
DISTINCT_AS_LEVELS = 12
HEAVY_SHARE = 0.05
OTHER = "(other)"
UNKNOWN = "(unknown)"
TOKEN_RE = re.compile(r"[^\W\d_]{2,}")


def min_support(n: int) -> int:
    """Leads a value must be shared by to get a column: enough for its rate to mean something."""
    return max(10, math.ceil(0.005 * n))


def _format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def tokens_of(text: str) -> set[str]:
    return set(TOKEN_RE.findall(text.casefold())) if text else set()


@dataclass
class FieldEncoder:
    """How one field turns into columns; `levels` name the columns in order."""

    spec: FieldSpec
    levels: list[str] = field(default_factory=list)
    edges: np.ndarray = field(default_factory=lambda: np.empty(0))
    heavy: np.ndarray = field(default_factory=lambda: np.empty(0))
    exact: bool = False
    has_unknown: bool = False
    has_other: bool = False
    offset: int = 0  # first column in the design matrix

    @property
    def width(self) -> int:
        return len(self.levels)

    @property
    def key(self) -> str:
        return self.spec.key

    # --- fitting -----------------------------------------------------------------------------------

    @classmethod
    def fit(cls, spec: FieldSpec, values: list[Any]) -> FieldEncoder:
        encoder = cls(spec=spec)
        n = len(values)
        support = min_support(n)
        if spec.kind == NUMERIC:
            array = np.asarray(values, dtype=np.float64)
            known = array[~np.isnan(array)]
            encoder.has_unknown = len(known) < n
            distinct, counts = np.unique(known, return_counts=True)
            if len(distinct) <= DISTINCT_AS_LEVELS:
                encoder.exact = True
                encoder.edges = (distinct[:-1] + distinct[1:]) / 2 if len(distinct) > 1 else np.empty(0)
                encoder.levels = [_format_number(v) for v in distinct]
            else:
                # A value shared by many leads (999 for "never", 0 for "none") keeps a column of its own;
                # the others fall in deciles of what remains.
                heavy = distinct[counts >= HEAVY_SHARE * len(known)][:DISTINCT_AS_LEVELS]
                rest = known[~np.isin(known, heavy)]
                encoder.heavy = heavy
                encoder.levels = [_format_number(v) for v in heavy]
                if len(rest):
                    edges = np.unique(np.quantile(rest, np.linspace(0.1, 0.9, 9)))
                    # An edge equal to the maximum would leave an empty top bin.
                    encoder.edges = edges[edges < rest.max()]
                    bounds = [rest.min(), *encoder.edges, rest.max()]
                    encoder.levels += [cls._range_label(bounds, i) for i in range(len(bounds) - 1)]
            if encoder.has_unknown:
                encoder.levels.append(UNKNOWN)
        elif spec.kind == CATEGORICAL:
            frequency = Counter(v for v in values if v is not None)
            kept = [v for v, c in frequency.most_common(MAX_LEVELS) if c >= support]
            encoder.levels = kept
            encoder.has_other = sum(frequency.values()) > sum(frequency[v] for v in kept)
            encoder.has_unknown = any(v is None for v in values)
            if encoder.has_other:
                encoder.levels.append(OTHER)
            if encoder.has_unknown:
                encoder.levels.append(UNKNOWN)
        elif spec.kind == TOKENS:
            documents = Counter(t for v in values for t in tokens_of(v or ""))
            encoder.levels = [t for t, c in documents.most_common(MAX_TOKENS) if c >= support]
            encoder.has_unknown = any(not v for v in values)
            if encoder.has_unknown:
                encoder.levels.append(UNKNOWN)
        return encoder

    @staticmethod
    def _range_label(bounds: list[float], index: int) -> str:
        low, high = bounds[index], bounds[index + 1]
        if index == 0:
            return f"below {_format_number(high)}"
        if index == len(bounds) - 2:
            return f"{_format_number(low)} or more"
        return f"{_format_number(low)} to {_format_number(high)}"

    # --- encoding ----------------------------------------------------------------------------------

    def codes(self, values: list[Any]) -> np.ndarray:
        """The column (0..width-1) each lead falls in, for numeric and categorical fields."""
        n = len(values)
        if self.spec.kind == NUMERIC:
            array = np.asarray(values, dtype=np.float64)
            missing = np.isnan(array)
            filled = np.where(missing, 0.0, array)
            codes = np.searchsorted(self.edges, filled, side="right") + len(self.heavy)
            for position, value in enumerate(self.heavy):
                codes[filled == value] = position
            if self.has_unknown:
                codes[missing] = self.width - 1
            else:
                # No lead lacked a value in training: the middle bin, the least surprising guess.
                codes[missing] = self.width // 2
            return codes.astype(np.int64)
        index = {level: i for i, level in enumerate(self.levels)}
        other = index.get(OTHER, -1)
        unknown = index.get(UNKNOWN, -1)
        codes = np.empty(n, dtype=np.int64)
        for i, value in enumerate(values):
            if value is None:
                codes[i] = unknown
            else:
                codes[i] = index.get(value, other)
        return codes

    def matrix(self, values: list[Any]) -> sparse.csr_matrix:
        n = len(values)
        if self.spec.kind == TOKENS:
            rows: list[int] = []
            cols: list[int] = []
            index = {level: i for i, level in enumerate(self.levels)}
            unknown = index.get(UNKNOWN, -1)
            for i, value in enumerate(values):
                if not value:
                    if unknown >= 0:
                        rows.append(i)
                        cols.append(unknown)
                    continue
                for token in tokens_of(value):
                    column = index.get(token)
                    if column is not None and column != unknown:
                        rows.append(i)
                        cols.append(column)
            data = np.ones(len(rows), dtype=np.float64)
            return sparse.csr_matrix((data, (rows, cols)), shape=(n, self.width))
        codes = self.codes(values)
        keep = codes >= 0
        data = np.ones(int(keep.sum()), dtype=np.float64)
        return sparse.csr_matrix((data, (np.flatnonzero(keep), codes[keep])), shape=(n, self.width))

    # --- words ---------------------------------------------------------------------------------------

    def level_text(self, column: int) -> str:
        """The column as a statement about a lead: "job is 'retired'", "age is 60 or more"."""
        label, level = self.spec.label, self.levels[column]
        if level == UNKNOWN:
            return f"{label} is empty" if self.spec.kind == TOKENS else f"{label} is unknown"
        if level == OTHER:
            return f"{label} is a rarer value"
        if self.spec.kind == TOKENS:
            return f"{label} contains '{level}'"
        if self.spec.kind == CATEGORICAL:
            return f"{label} is '{level}'"
        return f"{label} is {level}"

    def value_text(self, value: Any, present: list[int]) -> str:
        """What a lead's own value says, for its factors: its value, or the words its title contains."""
        label = self.spec.label
        if self.spec.kind == TOKENS:
            words = [self.levels[c] for c in present if self.levels[c] != UNKNOWN]
            if not value:
                return f"{label} is empty"
            if not words:
                return f"{label} '{str(value)[:60]}' has none of the telling words"
            return f"{label} contains " + ", ".join(f"'{w}'" for w in words[:3])
        if self.spec.kind == CATEGORICAL:
            if value is None:
                return f"{label} is unknown"
            return f"{label} is '{str(value)[:60]}'"
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return f"{label} is unknown"
        return f"{label} is {_format_number(float(value))}"


def design_matrix(encoders: list[FieldEncoder], values: dict[str, list[Any]], rows: np.ndarray) -> Any:
    """The sparse 0/1 matrix of `rows` (indices into the frame's columns) for the given encoders."""
    # A field gone since training (a custom field deleted) reads as unknown for every lead.
    missing: list[Any] = [None] * (int(max(rows)) + 1 if len(rows) else 0)
    blocks = [encoder.matrix([values.get(encoder.key, missing)[i] for i in rows]) for encoder in encoders]
    if not blocks:
        return sparse.csr_matrix((len(rows), 0))
    return sparse.hstack(blocks, format="csr")
