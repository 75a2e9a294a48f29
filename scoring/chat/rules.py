"""The chat's conditions, one shape for both uses: a question asked only if an earlier answer matches
(skip conditions), and the answers that make a conversation qualified. A condition is
{"question": <key>, "op": <ConditionOp>, "values": [...]}: explicit, checked when saved, evaluated
without surprises, and said back in words in the editor and in the hand-off's reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.core.exceptions import ValidationError

from scoring.models_chat import AnswerType, ConditionOp, QualificationMatch

MAX_CONDITIONS = 20
MAX_VALUES = 50


class QuestionLike(Protocol):
    key: str
    answer_type: str
    options: Any


def number_parse(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def yes_no(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"yes", "true", "y", "1"}:
        return True
    if text in {"no", "false", "n", "0"}:
        return False
    return None


def condition_clean(raw: Any, questions: Mapping[str, QuestionLike], *, field: str) -> dict[str, Any]:
    """A condition as stored, or a ValidationError under `field` that says what is wrong.
    `questions` are the ones it may refer to (for a skip condition: the questions asked before)."""

    def refuse(message: str) -> ValidationError:
        return ValidationError({field: [message]})

    if not isinstance(raw, Mapping):
        raise refuse("A condition is an object with question, op and values.")
    key = str(raw.get("question") or "").strip()
    question = questions.get(key)
    if question is None:
        known = ", ".join(questions) or "none"
        raise refuse(f"'{key}' is not a question it can refer to (known: {known}).")
    op = str(raw.get("op") or ConditionOp.IN)
    if op not in ConditionOp.values:
        raise refuse(f"'{op}' is not a comparison; use one of {', '.join(ConditionOp.values)}.")
    values = raw.get("values", [])
    if isinstance(values, str | int | float | bool):
        values = [values]
    if not isinstance(values, list) or len(values) > MAX_VALUES:
        raise refuse(f"Give the values as a list of at most {MAX_VALUES}.")
    kind = question.answer_type
    cleaned: list[Any]
    if op == ConditionOp.ANSWERED:
        cleaned = []
    elif op in {ConditionOp.GTE, ConditionOp.LTE}:
        if kind != AnswerType.NUMBER:
            raise refuse(f"'{key}' is not a number question: compare it with 'is one of'.")
        number = number_parse(values[0]) if len(values) == 1 else None
        if number is None:
            raise refuse("Give exactly one number to compare with.")
        cleaned = [float(number) if number != number.to_integral_value() else int(number)]
    else:
        if not values:
            raise refuse("Give at least one value.")
        if kind == AnswerType.CHOICE:
            options = [str(o) for o in question.options or []]
            unknown = [str(v) for v in values if str(v) not in options]
            if unknown:
                raise refuse(f"'{unknown[0]}' is not an option of '{key}' ({', '.join(options)}).")
            cleaned = [str(v) for v in values]
        elif kind == AnswerType.YES_NO:
            booleans = [yes_no(v) for v in values]
            if any(b is None for b in booleans):
                raise refuse("Compare a yes/no question with yes or no.")
            cleaned = list(dict.fromkeys(booleans))
        elif kind == AnswerType.NUMBER:
            numbers = [number_parse(v) for v in values]
            if any(n is None for n in numbers):
                raise refuse("Compare a number question with numbers.")
            cleaned = [float(n) if n != n.to_integral_value() else int(n) for n in numbers if n is not None]
        else:
            cleaned = [str(v).strip() for v in values if str(v).strip()]
            if not cleaned:
                raise refuse("Give at least one value.")
    return {"question": key, "op": op, "values": cleaned}


def conditions_clean(
    raw: Any, questions: Mapping[str, QuestionLike], *, field: str = "qualification"
) -> list[dict[str, Any]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ValidationError({field: ["Give a list of conditions."]})
    if len(raw) > MAX_CONDITIONS:
        raise ValidationError({field: [f"At most {MAX_CONDITIONS} conditions."]})
    return [condition_clean(item, questions, field=f"{field}.{index}") for index, item in enumerate(raw)]


def condition_met(condition: Mapping[str, Any], answers: Mapping[str, Any]) -> bool:
    """Whether the answers meet the condition. A question not answered (skipped, or not reached) never
    meets one: a visitor is not qualified by what they did not say."""
    key = condition.get("question", "")
    if key not in answers or answers[key] is None:
        return False
    answer = answers[key]
    op = condition.get("op")
    values = list(condition.get("values") or [])
    if op == ConditionOp.ANSWERED:
        return True
    if op in {ConditionOp.GTE, ConditionOp.LTE}:
        number, bound = number_parse(answer), number_parse(values[0]) if values else None
        if number is None or bound is None:
            return False
        return number >= bound if op == ConditionOp.GTE else number <= bound
    matched = any(_equal(answer, value) for value in values)
    return matched if op == ConditionOp.IN else not matched


def _equal(answer: Any, value: Any) -> bool:
    if isinstance(answer, bool) or isinstance(value, bool):
        return answer is value or yes_no(answer) is yes_no(value)
    number, other = number_parse(answer), number_parse(value)
    if number is not None and other is not None:
        return number == other
    return str(answer).strip().casefold() == str(value).strip().casefold()


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"“{value}”"


def condition_words(condition: Mapping[str, Any]) -> str:
    """'budget is one of “50k+”, “10-50k”' — how the editor and the reasons say a condition."""
    op = condition.get("op", ConditionOp.IN)
    values = ", ".join(_shown(v) for v in condition.get("values") or [])
    label = ConditionOp(op).label if op in ConditionOp.values else str(op)
    if op == ConditionOp.ANSWERED:
        return f"{condition.get('question')} is answered"
    if op in {ConditionOp.IN, ConditionOp.NOT_IN} and len(condition.get("values") or []) == 1:
        label = "is" if op == ConditionOp.IN else "is not"
    return f"{condition.get('question')} {label} {values}"


def rule_words(conditions: Sequence[Mapping[str, Any]], match: str) -> str:
    """The whole qualification rule in one sentence."""
    if not conditions:
        return "No qualification conditions: no conversation qualifies."
    joiner = " AND " if match == QualificationMatch.ALL else " OR "
    return "Qualified when " + joiner.join(condition_words(c) for c in conditions) + "."


@dataclass(frozen=True)
class Verdict:
    qualified: bool
    # (condition, met, the visitor's answer as shown) for every condition, in order.
    checks: tuple[tuple[dict[str, Any], bool, str], ...]

    def reason(self, flow_name: str) -> str:
        """The plain-words reason kept on the conversation and on the lead's stage change."""
        met = [f"{c['question']} {_shown(shown)}" for c, ok, shown in self.checks if ok]
        missed = [
            f"{c['question']} {_shown(shown) if shown else 'not answered'} (needs: {condition_words(c)})"
            for c, ok, shown in self.checks
            if not ok
        ]
        if self.qualified:
            return f"Qualified in the chat “{flow_name}”: " + "; ".join(met) + "."
        if not self.checks:
            return f"The chat “{flow_name}” has no qualification conditions."
        return f"Not qualified in the chat “{flow_name}”: " + "; ".join(missed) + "."


def qualification_evaluate(
    conditions: Iterable[Mapping[str, Any]], match: str, answers: Mapping[str, Any], shown: Mapping[str, str]
) -> Verdict:
    checks = tuple(
        (dict(c), condition_met(c, answers), shown.get(str(c.get("question")), "")) for c in conditions
    )
    if not checks:
        return Verdict(False, checks)
    results = [ok for _, ok, _ in checks]
    qualified = all(results) if match == QualificationMatch.ALL else any(results)
    return Verdict(qualified, checks)
