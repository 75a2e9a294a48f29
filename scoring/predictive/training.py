"""Training, evaluation and explanation of the predictive model.

The model is a logistic regression on the indicator columns of `encoding` (columns scaled to unit
variance, the penalty chosen by 3-fold cross-validated log loss). It was chosen over boosted trees for
two reasons that matter to users: a model fitted by log loss on this kind of input is well calibrated
without a separate calibration step (the evaluation shows the calibration bins, so this is checked, not
assumed), and every lead's log-odds split exactly into one contribution per field (coefficient times
the lead's column minus the average lead's), so "why" is arithmetic, not an approximation.

Points: a factor's points are the percentage points by which the lead's probability would fall if that
field were at the average lead's value, everything else equal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from scoring.predictive.encoding import OTHER, UNKNOWN, FieldEncoder, design_matrix, min_support
from scoring.predictive.features import TOKENS, LeadFrame

LEAKAGE_AUC = 0.95
TEST_SHARE = 0.25
SEED = 7
CS = (0.002, 0.01, 0.05, 0.2, 1.0)
# Newton steps on the Gram matrix: a handful of iterations when leads far outnumber columns, as here.
SOLVER = "newton-cholesky"
FACTORS_PER_SIDE = 3
MIN_FACTOR_POINTS = 0.05
ALGORITHM = "Logistic regression on binned fields (additive, L2, C by 3-fold CV log loss)"

Progress = Callable[[int, str], None]


class InsufficientData(Exception):
    """There is not enough labelled history to train or to judge a model; the message says what is missing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Exclusion:
    field: str
    label: str
    reason: str
    source: str  # "user", "leakage" or "data"
    auc: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "label": self.label,
            "reason": self.reason,
            "source": self.source,
            "auc": None if self.auc is None else round(self.auc, 4),
        }


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


# --- data sufficiency -------------------------------------------------------------------------------


def data_check(labels: np.ndarray, *, min_labelled: int, min_per_class: int) -> None:
    n = len(labels)
    positives = int((labels == 1).sum())
    negatives = n - positives
    if n >= min_labelled and positives >= min_per_class and negatives >= min_per_class:
        return
    raise InsufficientData(
        f"Not enough history to train a trustworthy model: {n:,} leads have a known outcome "
        f"({positives:,} became customers, {negatives:,} were lost). It needs at least {min_labelled:,}, "
        f"with at least {min_per_class:,} customers and {min_per_class:,} lost leads. Keep recording "
        "outcomes (stage changes to customer, disqualified or recycled) and train again."
    )


# --- field selection and the leakage check -----------------------------------------------------------


def univariate_auc(encoder: FieldEncoder, columns: Any, y: np.ndarray) -> float | None:
    """How well this field alone separates the classes, judged out of fold (0.5 = not at all, 1 = fully).

    Numeric and categorical fields: each lead gets its column's positive rate learnt on the other folds.
    Token fields: the best single word. Both directions count (a field that marks the lost leads leaks too).
    """
    if len(np.unique(y)) < 2 or encoder.width == 0:
        return None
    dense = np.asarray(columns.todense())
    if encoder.spec.kind == TOKENS:
        best = 0.5
        for j in range(dense.shape[1]):
            column = dense[:, j]
            if 0 < column.sum() < len(column):
                auc = float(roc_auc_score(y, column))
                best = max(best, auc, 1 - auc)
        return best
    codes = dense.argmax(axis=1)
    codes[dense.sum(axis=1) == 0] = encoder.width  # a value with no column of its own
    width = encoder.width + 1
    prior = float(y.mean())
    encoded = np.empty(len(y), dtype=np.float64)
    folds = np.random.default_rng(SEED).permutation(len(y)) % 5
    for fold in range(5):
        test = folds == fold
        train = ~test
        sums = np.bincount(codes[train], weights=y[train], minlength=width)
        counts = np.bincount(codes[train], minlength=width)
        encoded[test] = ((sums + prior) / (counts + 1.0))[codes[test]]
    if len(np.unique(encoded)) < 2:
        return 0.5
    auc = float(roc_auc_score(y, encoded))
    return max(auc, 1 - auc)


def fields_select(
    frame: LeadFrame, rows: np.ndarray, user_excluded: dict[str, str]
) -> tuple[list[FieldEncoder], list[Exclusion]]:
    """The fields the model may use, and every other one with the reason it is left out."""
    y = frame.labels[rows].astype(np.float64)
    encoders: list[FieldEncoder] = []
    exclusions: list[Exclusion] = []
    support = min_support(len(rows))
    for spec in frame.fields:
        if spec.key in user_excluded:
            exclusions.append(Exclusion(spec.key, spec.label, user_excluded[spec.key], "user"))
            continue
        values = [frame.values[spec.key][i] for i in rows]
        encoder = FieldEncoder.fit(spec, values)
        columns = encoder.matrix(values)
        # Counts, not sparse means: scipy's mean of a column of ones is 0.9999999999995, not 1.
        counts = np.asarray(columns.sum(axis=0)).ravel() if encoder.width else np.empty(0)
        varying = int(((counts > 0) & (counts < len(rows))).sum())
        if varying == 0:
            if encoder.width and encoder.levels[0] == UNKNOWN:
                reason = "No lead has a value."
            elif encoder.width == 0 or (encoder.width == 1 and encoder.levels[0] == OTHER):
                reason = f"No value is shared by {support:,} leads or more, so it cannot generalise."
            else:
                reason = "Every lead has the same value."
            exclusions.append(Exclusion(spec.key, spec.label, reason, "data"))
            continue
        auc = univariate_auc(encoder, columns, y)
        if auc is not None and auc > LEAKAGE_AUC:
            exclusions.append(
                Exclusion(
                    spec.key,
                    spec.label,
                    f"On its own it separates customers from lost leads almost perfectly (AUC {auc:.2f} "
                    f"> {LEAKAGE_AUC:.2f}): it is most likely recorded after the outcome (leakage).",
                    "leakage",
                    auc,
                )
            )
            continue
        encoders.append(encoder)
    if not encoders:
        raise InsufficientData(
            "No field is left to learn from: every candidate field is excluded, constant or leaking. "
            "Review the excluded fields, or record more about your leads (fit fields, custom fields, "
            "touchpoints)."
        )
    return encoders, exclusions


# --- the model -----------------------------------------------------------------------------------------


@dataclass
class TrainedModel:
    """Encoders, weights on the 0/1 columns (not the scaled ones), and what explanations need."""

    encoders: list[FieldEncoder]
    weights: np.ndarray
    intercept: float
    means: np.ndarray
    base_rate: float
    C: float
    estimator: LogisticRegression
    n_train: int

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.encoders]

    def matrix(self, frame: LeadFrame, rows: np.ndarray) -> Any:
        return design_matrix(self.encoders, frame.values, rows)

    def log_odds(self, X: Any) -> np.ndarray:
        return np.asarray(X @ self.weights).ravel() + self.intercept

    def predict(self, X: Any) -> np.ndarray:
        return _sigmoid(self.log_odds(X))

    def _grouping(self) -> sparse.csr_matrix:
        rows, cols, data = [], [], []
        for index, encoder in enumerate(self.encoders):
            for j in range(encoder.offset, encoder.offset + encoder.width):
                rows.append(j)
                cols.append(index)
                data.append(self.weights[j])
        return sparse.csr_matrix((data, (rows, cols)), shape=(len(self.weights), len(self.encoders)))

    def contributions(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(log-odds, per-field contribution to them relative to the average lead) for each row of X."""
        grouped = np.asarray((X @ self._grouping()).todense())
        baseline = np.array(
            [
                float(self.means[e.offset : e.offset + e.width] @ self.weights[e.offset : e.offset + e.width])
                for e in self.encoders
            ]
        )
        return self.log_odds(X), grouped - baseline

    def factors(self, frame: LeadFrame, rows: np.ndarray, X: Any) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Probabilities and each lead's strongest positive and negative factors in words."""
        z, contributions = self.contributions(X)
        probability = _sigmoid(z)
        points = 100.0 * (probability[:, None] - _sigmoid(z[:, None] - contributions))
        X = X.tocsr()
        order = np.argsort(points, axis=1)
        highest, lowest = order[:, ::-1][:, :FACTORS_PER_SIDE], order[:, :FACTORS_PER_SIDE]
        explained: list[dict[str, Any]] = []
        for r, row in enumerate(rows):
            positive = [int(j) for j in highest[r] if points[r, j] >= MIN_FACTOR_POINTS]
            negative = [int(j) for j in lowest[r] if points[r, j] <= -MIN_FACTOR_POINTS]
            present = X.indices[X.indptr[r] : X.indptr[r + 1]]
            explained.append(
                {
                    "positive": [self._factor(frame, row, j, present, points[r, j]) for j in positive],
                    "negative": [self._factor(frame, row, j, present, points[r, j]) for j in negative],
                }
            )
        return probability, explained

    def _factor(
        self, frame: LeadFrame, row: int, j: int, present: np.ndarray, points: float
    ) -> dict[str, Any]:
        encoder = self.encoders[j]
        mine: list[int] = []
        if encoder.spec.kind == TOKENS:  # only words need the lead's columns; a value speaks for itself
            end = encoder.offset + encoder.width
            mine = [int(c) - encoder.offset for c in present if encoder.offset <= c < end]
        return {
            "field": encoder.key,
            "text": encoder.value_text(frame.values[encoder.key][row], mine),
            "points": round(float(points), 1),
        }

    def global_factors(self, X: Any, limit: int = 8) -> dict[str, Any]:
        """The strongest single values across the training leads, and the fields by average influence."""
        z0 = _logit(self.base_rate)
        p0 = 1.0 / (1.0 + math.exp(-z0))
        n = X.shape[0]
        support = min_support(n)
        effects: list[dict[str, Any]] = []
        for encoder in self.encoders:
            block = slice(encoder.offset, encoder.offset + encoder.width)
            weights, means = self.weights[block], self.means[block]
            baseline = float(means @ weights)
            for j, level in enumerate(encoder.levels):
                if means[j] * n < support:
                    continue
                # A word is present or not; a level replaces the field's other levels.
                effect = weights[j] * (1 - means[j]) if encoder.spec.kind == TOKENS else weights[j] - baseline
                points = 100.0 * (1.0 / (1.0 + math.exp(-(z0 + effect))) - p0)
                effects.append(
                    {
                        "field": encoder.key,
                        "text": encoder.level_text(j),
                        "points": round(points, 1),
                        "share": round(float(means[j]), 4),
                        "level": level,
                    }
                )
        effects.sort(key=lambda e: e["points"])
        positive = [e for e in reversed(effects) if e["points"] > 0][:limit]
        negative = [e for e in effects if e["points"] < 0][:limit]
        z, contributions = self.contributions(X)
        points = 100.0 * (_sigmoid(z)[:, None] - _sigmoid(z[:, None] - contributions))
        influence = np.abs(points).mean(axis=0) if n else np.zeros(len(self.encoders))
        ranked = sorted(zip(self.encoders, influence, strict=True), key=lambda pair: -float(pair[1]))
        fields = [
            {"field": e.key, "label": e.spec.label, "group": e.spec.group, "points": round(float(v), 2)}
            for e, v in ranked
        ]
        return {"positive": positive, "negative": negative, "fields": fields}


def _fit_weights(X: Any, y: np.ndarray) -> tuple[LogisticRegression, np.ndarray, np.ndarray, float]:
    means = np.asarray(X.sum(axis=0)).ravel() / X.shape[0]
    std = np.sqrt(means * (1 - means))
    scale = np.divide(1.0, std, out=np.zeros_like(std), where=std > 1e-12)
    Xs = X @ sparse.diags(scale)
    best_c, best_loss = CS[-1], math.inf
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=SEED)
    for c in CS:
        losses = []
        for train, test in folds.split(np.zeros(len(y)), y):
            model = LogisticRegression(C=c, solver=SOLVER, max_iter=500).fit(Xs[train], y[train])
            losses.append(log_loss(y[test], model.predict_proba(Xs[test])[:, 1], labels=[0, 1]))
        loss = float(np.mean(losses))
        if loss < best_loss:
            best_c, best_loss = c, loss
    estimator = LogisticRegression(C=best_c, solver=SOLVER, max_iter=500).fit(Xs, y)
    return estimator, estimator.coef_[0] * scale, means, best_c


def model_fit(frame: LeadFrame, rows: np.ndarray, keys: list[str]) -> TrainedModel:
    """Encoders fitted on `rows` (training leads only) for the fields `keys`, then the weights."""
    by_key = {spec.key: spec for spec in frame.fields}
    encoders: list[FieldEncoder] = []
    offset = 0
    for key in keys:
        encoder = FieldEncoder.fit(by_key[key], [frame.values[key][i] for i in rows])
        encoder.offset = offset
        offset += encoder.width
        encoders.append(encoder)
    X = design_matrix(encoders, frame.values, rows)
    y = frame.labels[rows].astype(np.int64)
    estimator, weights, means, c = _fit_weights(X, y)
    return TrainedModel(
        encoders=encoders,
        weights=weights,
        intercept=float(estimator.intercept_[0]),
        means=means,
        base_rate=float(y.mean()),
        C=c,
        estimator=estimator,
        n_train=len(rows),
    )


# --- evaluation ------------------------------------------------------------------------------------------


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Leads in equal-count groups by predicted probability: predicted vs observed rate in each."""
    order = np.argsort(p, kind="stable")
    out = []
    for group in np.array_split(order, min(bins, len(order))):
        if len(group) == 0:
            continue
        out.append(
            {
                "predicted": round(float(p[group].mean()), 4),
                "observed": round(float(y[group].mean()), 4),
                "count": len(group),
            }
        )
    return out


def lift_by_decile(y: np.ndarray, p: np.ndarray) -> list[dict[str, float]]:
    """Leads ranked by probability, in tenths: their customer rate against the average, and the share of
    all customers found down to each tenth."""
    order = np.argsort(-p, kind="stable")
    total_rate = float(y.mean()) if len(y) else 0.0
    total_positives = float(y.sum())
    found = 0.0
    out = []
    for decile, group in enumerate(np.array_split(order, 10), start=1):
        if len(group) == 0:
            continue
        positives = float(y[group].sum())
        found += positives
        rate = positives / len(group)
        out.append(
            {
                "decile": decile,
                "count": len(group),
                "rate": round(rate, 4),
                "lift": round(rate / total_rate, 2) if total_rate else 0.0,
                "captured": round(found / total_positives, 4) if total_positives else 0.0,
            }
        )
    return out


def evaluation_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "n_test": len(y),
        "positive_rate": round(float(y.mean()), 4),
        "mean_predicted": round(float(p.mean()), 4),
        "calibration": calibration_bins(y, p),
        "lift": lift_by_decile(y, p),
    }


def split_random(frame: LeadFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    train, test = train_test_split(rows, test_size=TEST_SHARE, random_state=SEED, stratify=frame.labels[rows])
    return np.sort(train), np.sort(test)


def split_time(frame: LeadFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The oldest leads train, the newest test: the frame is in (created_at, id) order already."""
    order = np.lexsort((frame.lead_ids[rows], frame.created[rows]))
    ordered = rows[order]
    cut = round(len(ordered) * (1 - TEST_SHARE))
    return ordered[:cut], ordered[cut:]


SPLITS: dict[str, Callable[[LeadFrame, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "random": split_random,
    "time": split_time,
}


def evaluate(frame: LeadFrame, rows: np.ndarray, keys: list[str], split: str) -> dict[str, Any]:
    train, test = SPLITS[split](frame, rows)
    y_train = frame.labels[train]
    if len(np.unique(y_train)) < 2:
        return {
            "n_train": len(train),
            "n_test": len(test),
            "note": "The training part of this split holds only one outcome; it cannot be evaluated.",
        }
    started = time.perf_counter()
    model = model_fit(frame, train, keys)
    fit_seconds = time.perf_counter() - started
    y_test = frame.labels[test].astype(np.int64)
    p = model.predict(model.matrix(frame, test))
    metrics = {"split": split, "n_train": len(train), **evaluation_metrics(y_test, p)}
    metrics["positive_rate_train"] = round(float(y_train.mean()), 4)
    metrics["fit_seconds"] = round(fit_seconds, 2)
    if metrics["roc_auc"] is None:
        metrics["note"] = "The test part of this split holds only one outcome: ROC AUC is undefined."
    return metrics


@dataclass
class TrainingResult:
    model: TrainedModel
    metrics: dict[str, dict[str, Any]]
    exclusions: list[Exclusion]
    global_factors: dict[str, Any]
    n_labelled: int
    n_positive: int
    seconds: dict[str, float] = field(default_factory=dict)

    def features_json(self) -> list[dict[str, Any]]:
        return [
            {
                "key": e.key,
                "label": e.spec.label,
                "kind": e.spec.kind,
                "group": e.spec.group,
                "columns": e.width,
            }
            for e in self.model.encoders
        ]


def train(
    frame: LeadFrame,
    *,
    user_excluded: dict[str, str],
    min_labelled: int,
    min_per_class: int,
    progress: Progress | None = None,
) -> TrainingResult:
    """Check the data, choose the fields, evaluate on both splits, fit the model on every labelled lead."""
    report = progress or (lambda percent, step: None)
    rows = frame.labelled
    data_check(frame.labels[rows], min_labelled=min_labelled, min_per_class=min_per_class)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    report(25, "Checking fields for leakage")
    encoders, exclusions = fields_select(frame, rows, user_excluded)
    keys = [e.key for e in encoders]
    seconds["select"] = time.perf_counter() - started
    metrics: dict[str, dict[str, Any]] = {}
    for percent, split in ((40, "random"), (55, "time")):
        report(percent, f"Evaluating on a held-out {'random' if split == 'random' else 'out-of-time'} split")
        started = time.perf_counter()
        metrics[split] = evaluate(frame, rows, keys, split)
        seconds[f"evaluate_{split}"] = time.perf_counter() - started
    report(70, "Fitting the model on every lead with a known outcome")
    started = time.perf_counter()
    model = model_fit(frame, rows, keys)
    seconds["fit"] = time.perf_counter() - started
    factors = model.global_factors(model.matrix(frame, rows))
    labels = frame.labels[rows]
    return TrainingResult(
        model=model,
        metrics=metrics,
        exclusions=exclusions,
        global_factors=factors,
        n_labelled=len(rows),
        n_positive=int((labels == 1).sum()),
        seconds=seconds,
    )
