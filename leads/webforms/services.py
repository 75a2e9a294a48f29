"""Every write of web forms: building forms (fields, consent texts, settings), accepting submissions,
and capturing the lead from a stored submission.

A submission is stored (with its outbox event) in the request's one short transaction and answered at
once; `submission_process` then does the capture in a task. The outbox re-dispatches the event when
the broker was down, so a stored submission always gets its lead.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from leadhub.events import FormSubmitted, publish
from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.models import ApiKey, PublicKeyKind
from leadhub.tenancy.public import public_key_issue, public_key_revoke
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Campaign, CustomField, Touchpoint, TouchpointType
from leads.models_forms import (
    ConsentPurpose,
    ConsentSource,
    ConsentStatus,
    ConsentText,
    Form,
    FormField,
    FormStatus,
    FormSubmission,
    SubmissionSource,
    SubmissionStatus,
)
from leads.services import lead_capture, touchpoints_record
from leads.tracking.channels import channel_classify
from leads.tracking.services import visitor_identify
from leads.webforms import consent
from leads.webforms.schema import (
    COMPANY_TARGETS,
    CONTACT_TARGETS,
    EMAIL_TARGET,
    LEAD_TARGETS,
    LH_KEY,
    MAX_LH_KEYS,
    UTM_KEYS,
    Cleaned,
    default_label,
    pattern_check,
)

FORM_SETTINGS = (
    "name",
    "status",
    "submit_label",
    "success_message",
    "redirect_url",
    "allowed_domains",
    "hidden_fields",
    "max_fields_shown",
    "double_opt_in",
)
FIELD_SETTINGS = (
    "label",
    "help_text",
    "placeholder",
    "required",
    "min_length",
    "max_length",
    "pattern",
    "choices",
)
DUPLICATE_WINDOW_SECONDS = 300
DOMAIN_RE = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$")


# --- forms ------------------------------------------------------------------------------------------


def _domains_clean(value: Any) -> list[str]:
    from leads.webforms.guard import domain_normalize_entry

    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list | tuple):
        raise ValidationError({"allowed_domains": ["Give a list of domains."]})
    domains: list[str] = []
    for entry in value:
        domain = domain_normalize_entry(str(entry))
        if not domain:
            continue
        if not DOMAIN_RE.match(domain):
            raise ValidationError({"allowed_domains": [f"'{entry}' is not a domain (like example.com)."]})
        if domain not in domains:
            domains.append(domain)
    if len(domains) > 50:
        raise ValidationError({"allowed_domains": ["At most 50 domains."]})
    return domains


def _hidden_clean(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValidationError({"hidden_fields": ["Give an object of lh_* keys and values."]})
    if len(value) > MAX_LH_KEYS:
        raise ValidationError({"hidden_fields": [f"At most {MAX_LH_KEYS} hidden values."]})
    cleaned: dict[str, str] = {}
    for key, item in value.items():
        if not LH_KEY.match(str(key)):
            raise ValidationError(
                {
                    "hidden_fields": [
                        f"'{key}' is not a hidden key: use lh_ then lower-case letters, digits or _."
                    ]
                }
            )
        cleaned[str(key)] = str(item)[:500]
    return cleaned


def _form_apply(form: Form, data: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in FORM_SETTINGS:
        if name not in data:
            continue
        value = data[name]
        if name == "allowed_domains":
            value = _domains_clean(value)
        elif name == "hidden_fields":
            value = _hidden_clean(value)
        elif name in {"name", "submit_label", "success_message", "redirect_url"}:
            value = str(value or "").strip()
        if name == "name" and not value:
            raise ValidationError({"name": ["The form needs a name."]})
        if name == "status" and value not in FormStatus.values:
            raise ValidationError({"status": ["Choose active or paused."]})
        if name == "redirect_url" and value:
            try:
                URLValidator(schemes=["http", "https"])(value)
            except ValidationError:
                raise ValidationError({"redirect_url": ["Enter a full http(s) URL."]}) from None
        if name == "max_fields_shown" and not (0 <= int(value or 0) <= 50):
            raise ValidationError({"max_fields_shown": ["Between 0 (all) and 50."]})
        if getattr(form, name) != value:
            changes[name] = value
            setattr(form, name, value)
    if not form.submit_label:
        form.submit_label = "Submit"
    return changes


def form_create(*, data: Mapping[str, Any], actor: Actor) -> Form:
    """A new form asking for the email (the one field every form has), with its public key."""
    form = Form(created_by=actor.user)
    _form_apply(form, data)
    if not form.name:
        raise ValidationError({"name": ["The form needs a name."]})
    with transaction.atomic():
        if Form.objects.filter(name=form.name).exists():
            raise ValidationError({"name": ["Another form already has this name."]})
        form.save()
        form.public_key = public_key_issue(
            organization=form.organization_id, kind=PublicKeyKind.FORM, object_id=form.pk
        ).key
        form.save(update_fields=["public_key"])
        FormField.objects.create(form=form, target=EMAIL_TARGET, label="Email", required=True, position=0)
        audit_record(actor=actor, action="form.create", target=form, changes={"name": form.name})
    return form


def form_update(*, form: Form, data: Mapping[str, Any], actor: Actor) -> Form:
    with transaction.atomic():
        changes = _form_apply(form, data)
        if "name" in changes and Form.objects.filter(name=form.name).exclude(pk=form.pk).exists():
            raise ValidationError({"name": ["Another form already has this name."]})
        if changes:
            form.updated_at = timezone.now()
            form.save()
            audit_record(actor=actor, action="form.update", target=form, changes=_printable(changes))
    return form


def _printable(changes: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, str | int | bool | list | dict) else str(value)
        for key, value in changes.items()
    }


def form_delete(*, form: Form, actor: Actor) -> None:
    """Delete a form with its fields and submissions; leads it captured stay. Refused while
    submissions still wait for their capture, so none is lost."""
    with transaction.atomic():
        if FormSubmission.objects.filter(form=form, status=SubmissionStatus.PENDING).exists():
            raise ValidationError(
                {"form": ["Some submissions of this form are still being captured; try again in a minute."]}
            )
        if form.public_key:
            public_key_revoke(key=form.public_key)
        audit_record(actor=actor, action="form.delete", target=form, changes={"name": form.name})
        form.delete()


def _touch(form: Form) -> None:
    Form.objects.filter(pk=form.pk).update(updated_at=timezone.now())


# --- fields -----------------------------------------------------------------------------------------


def _target_resolve(target: str) -> CustomField | None:
    """The custom field a target names (None for built-in targets); raises for an unknown target."""
    entity, _, rest = target.partition(".")
    if entity == "contact" and rest in CONTACT_TARGETS:
        return None
    if entity == "company" and rest in COMPANY_TARGETS:
        return None
    if entity == "lead" and rest in LEAD_TARGETS:
        return None
    if entity == "custom":
        custom_entity, _, key = rest.partition(".")
        found = CustomField.objects.filter(entity=custom_entity, key=key).first()
        if found is not None:
            return found
        raise ValidationError({"target": [f"No {custom_entity or 'contact'} custom field '{key}' exists."]})
    raise ValidationError({"target": [f"'{target}' is not a field a form can ask."]})


def _field_apply(field: FormField, data: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in FIELD_SETTINGS:
        if name not in data:
            continue
        value = data[name]
        if name in {"label", "help_text", "placeholder", "pattern"}:
            value = str(value or "").strip()
        if name in {"min_length", "max_length"}:
            value = int(value) if value not in (None, "") else None
            if value is not None and not (0 < value <= 2000):
                raise ValidationError({name: ["Between 1 and 2,000 characters."]})
        if name == "choices":
            if isinstance(value, str):
                value = [line.strip() for line in value.splitlines()]
            value = [str(c).strip() for c in value or [] if str(c).strip()]
            if len(value) > 200:
                raise ValidationError({"choices": ["At most 200 choices."]})
        if name == "pattern" and value:
            problem = pattern_check(value)
            if problem:
                raise ValidationError({"pattern": [problem]})
        if getattr(field, name) != value:
            changes[name] = value
            setattr(field, name, value)
    if field.min_length and field.max_length and field.min_length > field.max_length:
        raise ValidationError({"min_length": ["The minimum length is above the maximum."]})
    if field.target == EMAIL_TARGET:
        field.required = True
    if not field.label:
        field.label = default_label(field.target, field.custom_field)
    return changes


def form_field_add(*, form: Form, data: Mapping[str, Any], actor: Actor) -> FormField:
    target = str(data.get("target") or "").strip()
    if not target:
        raise ValidationError({"target": ["Choose what the field asks for."]})
    custom = _target_resolve(target)
    with transaction.atomic():
        if FormField.objects.filter(form=form, target=target).exists():
            raise ValidationError({"target": ["The form already asks for this."]})
        position = (FormField.objects.filter(form=form).aggregate(p=Max("position"))["p"] or 0) + 1
        field = FormField(form=form, target=target, custom_field=custom, position=position)
        _field_apply(field, data)
        field.save()
        _touch(form)
        audit_record(
            actor=actor,
            action="form.field_add",
            target=form,
            changes={"target": target, "label": field.label},
        )
    return field


def form_field_update(*, field: FormField, data: Mapping[str, Any], actor: Actor) -> FormField:
    with transaction.atomic():
        changes = _field_apply(field, data)
        if changes:
            field.save()
            _touch(field.form)
            audit_record(
                actor=actor,
                action="form.field_update",
                target=field.form,
                changes={"target": field.target, **_printable(changes)},
            )
    return field


def form_field_delete(*, field: FormField, actor: Actor) -> None:
    if field.target == EMAIL_TARGET:
        raise ValidationError({"target": ["Every form asks for the email: it is how a lead is recognised."]})
    with transaction.atomic():
        form = field.form
        audit_record(actor=actor, action="form.field_delete", target=form, changes={"target": field.target})
        field.delete()
        _touch(form)


def form_fields_reorder(*, form: Form, order: list[int], actor: Actor) -> None:
    """Put the form's fields in the order of `order` (field ids); fields not listed keep their
    relative order after those that are."""
    with transaction.atomic():
        fields = list(FormField.objects.filter(form=form).order_by("position", "id"))
        known = {f.pk: f for f in fields}
        unknown = [i for i in order if i not in known]
        if unknown:
            raise ValidationError({"order": [f"Field {unknown[0]} is not on this form."]})
        ranked = [known[i] for i in dict.fromkeys(order)] + [f for f in fields if f.pk not in set(order)]
        for position, field in enumerate(ranked):
            field.position = position
        FormField.objects.bulk_update(ranked, ["position"])
        _touch(form)
        audit_record(
            actor=actor,
            action="form.fields_reorder",
            target=form,
            changes={"order": [f.target for f in ranked]},
        )


def form_field_move(*, field: FormField, offset: int, actor: Actor) -> None:
    ids = list(
        FormField.objects.filter(form=field.form).order_by("position", "id").values_list("pk", flat=True)
    )
    index = ids.index(field.pk)
    target = max(0, min(len(ids) - 1, index + offset))
    ids.insert(target, ids.pop(index))
    form_fields_reorder(form=field.form, order=ids, actor=actor)


# --- consent checkboxes -------------------------------------------------------------------------------


def form_consent_set(*, form: Form, purpose: str, text: str, required: bool, actor: Actor) -> ConsentText:
    """Add a consent checkbox or change it. New text is a new version; the old one stays, because
    consent already given points to the exact text that was shown."""
    if purpose not in ConsentPurpose.values:
        raise ValidationError({"purpose": [f"'{purpose}' is not a purpose."]})
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ["Write the consent text the visitor agrees to."]})
    if len(text) > 2000:
        raise ValidationError({"text": ["At most 2,000 characters."]})
    with transaction.atomic():
        current = (
            ConsentText.objects.select_for_update()
            .filter(form=form, purpose=purpose, is_current=True)
            .first()
        )
        if current is not None and current.text == text:
            if current.required != required:
                current.required = required
                current.save(update_fields=["required"])
                _touch(form)
                audit_record(
                    actor=actor,
                    action="form.consent_update",
                    target=form,
                    changes={"purpose": purpose, "required": required},
                )
            return current
        last = ConsentText.objects.filter(form=form, purpose=purpose).aggregate(v=Max("version"))["v"] or 0
        ConsentText.objects.filter(form=form, purpose=purpose, is_current=True).update(is_current=False)
        version = ConsentText.objects.create(
            form=form,
            purpose=purpose,
            version=last + 1,
            text=text,
            required=required,
            created_by=actor.user,
        )
        _touch(form)
        audit_record(
            actor=actor,
            action="form.consent_version",
            target=form,
            changes={"purpose": purpose, "version": version.version, "text": text, "required": required},
        )
    return version


def form_consent_remove(*, form: Form, purpose: str, actor: Actor) -> None:
    with transaction.atomic():
        removed = ConsentText.objects.filter(form=form, purpose=purpose, is_current=True).update(
            is_current=False
        )
        if removed:
            _touch(form)
            audit_record(actor=actor, action="form.consent_remove", target=form, changes={"purpose": purpose})


# --- submissions ------------------------------------------------------------------------------------


def _fingerprint(form_id: int, cleaned: Cleaned, bucket: int) -> str:
    body = json.dumps(
        [form_id, bucket, cleaned.values, cleaned.hidden, [c["granted"] for c in cleaned.consents]],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def submission_accept(
    *,
    form_id: int,
    cleaned: Cleaned | None,
    raw: Mapping[str, Any],
    source: str,
    visitor_id: str = "",
    ip_hash: str = "",
    user_agent: str = "",
    spam: str = "",
    base_url: str = "",
    api_key: ApiKey | None = None,
) -> tuple[FormSubmission, bool]:
    """Store a submission and publish FormSubmitted for its capture; spam is stored REJECTED with the
    reason and captures nothing. The same payload again within a few minutes (a double click, a retry)
    is the same submission: returns (existing, True) and writes nothing.
    """
    now = timezone.now()
    bucket = int(now.timestamp()) // DUPLICATE_WINDOW_SECONDS
    if cleaned is not None:
        fingerprints = [_fingerprint(form_id, cleaned, bucket), _fingerprint(form_id, cleaned, bucket - 1)]
        values, hidden, consents, email = (
            cleaned.values,
            cleaned.hidden,
            cleaned.consents,
            cleaned.email_normalized,
        )
    else:
        body = json.dumps([form_id, bucket, raw], sort_keys=True, default=str)
        fingerprints = [hashlib.sha256(body.encode()).hexdigest()]
        values, hidden, consents, email = {}, {}, [], ""
    existing = FormSubmission.objects.filter(fingerprint__in=fingerprints).first()
    if existing is not None:
        return existing, True
    submission = FormSubmission(
        organization_id=current_organization_id(),
        form_id=form_id,
        status=SubmissionStatus.REJECTED if spam else SubmissionStatus.PENDING,
        source=source if source in SubmissionSource.values else SubmissionSource.HTML,
        reason=spam[:300],
        payload={"values": values, "hidden": hidden, "raw": _raw_bounded(raw), "base_url": base_url},
        consents=consents,
        email_normalized=email[:254],
        visitor_id=visitor_id[:64],
        ip_hash=ip_hash,
        user_agent=user_agent[:400],
        fingerprint=fingerprints[0],
        api_key=api_key,
        created_at=now,
    )
    try:
        with transaction.atomic():
            submission.save()
    except IntegrityError:
        # The same payload raced in from another request (a double click): answer with that one.
        return FormSubmission.objects.get(fingerprint=fingerprints[0]), True
    if not spam:
        publish(
            FormSubmitted(
                organization_id=submission.organization_id, submission_id=submission.pk, form_id=form_id
            )
        )
    return submission, False


def _raw_bounded(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as received, for review; bounded so a hostile post cannot store megabytes."""
    kept: dict[str, Any] = {}
    for key, value in list(raw.items())[:100]:
        if isinstance(value, str | int | float | bool) or value is None:
            kept[str(key)[:100]] = value if not isinstance(value, str) else value[:2000]
        else:
            kept[str(key)[:100]] = str(value)[:2000]
    return kept


def submission_release(*, submission: FormSubmission, actor: Actor) -> FormSubmission:
    """A marketer says a rejected (or failed) submission is a real lead: capture it now."""
    from leads.webforms.schema import definition_build, submission_clean

    if submission.status not in {SubmissionStatus.REJECTED, SubmissionStatus.FAILED}:
        raise ValidationError({"status": ["Only rejected or failed submissions can be released."]})
    with transaction.atomic():
        if not submission.payload.get("values"):
            # Spam is stored before validation; check it now like any other submission.
            cleaned = submission_clean(definition_build(submission.form), submission.payload.get("raw") or {})
            submission.payload = {**submission.payload, "values": cleaned.values, "hidden": cleaned.hidden}
            submission.consents = cleaned.consents
            submission.email_normalized = cleaned.email_normalized
        previous = submission.status
        submission.status = SubmissionStatus.PENDING
        submission.save(update_fields=["status", "payload", "consents", "email_normalized"])
        audit_record(
            actor=actor,
            action="form.submission_release",
            target=submission.form,
            changes={"submission": submission.pk, "was": previous, "reason": submission.reason},
        )
        publish(
            FormSubmitted(
                organization_id=submission.organization_id,
                submission_id=submission.pk,
                form_id=submission.form_id,
            )
        )
    return submission


def _split(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    contact: dict[str, Any] = {}
    company: dict[str, Any] = {}
    lead: dict[str, Any] = {}
    contact_custom: dict[str, Any] = {}
    company_custom: dict[str, Any] = {}
    for target, value in values.items():
        entity, _, name = target.partition(".")
        if entity == "contact":
            contact[name] = value
        elif entity == "company":
            company[name] = value
        elif entity == "lead":
            lead[name] = value
        elif entity == "custom":
            custom_entity, _, key = name.partition(".")
            (company_custom if custom_entity == "company" else contact_custom)[key] = value
    if contact_custom:
        contact["custom_fields"] = contact_custom
    if company_custom:
        company["custom_fields"] = company_custom
    if company.get("name") or company.get("domain"):
        contact["company"] = company
    return contact, lead


def submission_process(*, submission_id: int) -> FormSubmission | None:
    """Capture the lead of a stored submission: upsert the contact by email, the lead, a form_submit
    touchpoint with the page and every hidden value, identity stitching of the visitor's earlier
    touchpoints, and the consent given. Runs twice harmlessly: only a pending submission is captured.
    """
    with transaction.atomic():
        submission = (
            FormSubmission.objects.select_for_update(of=("self",))
            .select_related("form")
            .filter(pk=submission_id)
            .first()
        )
        if submission is None or submission.status != SubmissionStatus.PENDING:
            return submission
        form = submission.form
        actor = Actor.system(f"form {form.pk}")
        values = submission.payload.get("values") or {}
        hidden: dict[str, str] = submission.payload.get("hidden") or {}
        contact_data, lead_data = _split(values)
        # The same classifier as the tracking snippet's page views, so a visit and its form agree.
        channel = channel_classify(
            utm_source=hidden.get("utm_source", ""),
            utm_medium=hidden.get("utm_medium", ""),
            referrer=hidden.get("referrer", ""),
            page_url=hidden.get("page_url", ""),
            referral_code=hidden.get("lh_ref", ""),
        )
        utm_campaign = hidden.get("utm_campaign", "")
        campaign = (
            Campaign.objects.filter(utm_campaign=utm_campaign).order_by("id").first()
            if utm_campaign
            else None
        )
        lead_data.update(source_channel=channel, campaign=campaign)
        lead, _ = lead_capture(contact_data=contact_data, lead_data=lead_data, actor=actor)
        contact = lead.contact
        touchpoints_record(
            touchpoints=[
                Touchpoint(
                    lead=lead,
                    contact=contact,
                    anonymous_id=submission.visitor_id,
                    external_id=f"form-submission:{submission.pk}",
                    type=TouchpointType.FORM_SUBMIT,
                    occurred_at=submission.created_at,
                    channel=channel,
                    campaign=campaign,
                    url=hidden.get("page_url", "")[:2000],
                    referrer=hidden.get("referrer", "")[:2000],
                    **{key: hidden.get(key, "")[:200] for key in UTM_KEYS},
                    properties={
                        "form_id": form.pk,
                        "form": form.name,
                        "submission_id": submission.pk,
                        **hidden,
                    },
                )
            ]
        )
        if submission.visitor_id:
            # The visitor's earlier page views become the lead's (first touch kept), the visitor is
            # linked to the contact, and a referral code kept by the tracking snippet is credited.
            visitor_identify(
                anonymous_id=submission.visitor_id, lead=lead, referral_code=hidden.get("lh_ref", "")
            )
        pending = False
        for given in submission.consents:
            if not given.get("granted"):
                continue
            pending = pending or form.double_opt_in
            consent.consent_record(
                contact=contact,
                purpose=given["purpose"],
                status=ConsentStatus.PENDING if form.double_opt_in else ConsentStatus.GRANTED,
                source=ConsentSource.API if submission.source == SubmissionSource.API else ConsentSource.FORM,
                actor=actor,
                form=form,
                submission=submission,
                text_version=given.get("text_id"),
                text=str(given.get("text") or ""),
                ip_hash=submission.ip_hash,
                at=submission.created_at,
            )
        submission.status = SubmissionStatus.PROCESSED
        submission.contact = contact
        submission.lead = lead
        submission.reason = ""
        submission.processed_at = timezone.now()
        submission.save(update_fields=["status", "contact", "lead", "reason", "processed_at"])
        if pending:
            base_url = str(submission.payload.get("base_url") or "")
            transaction.on_commit(
                lambda: _confirmation_send_safely(submission=submission, contact=contact, base_url=base_url)
            )
    return submission


def _confirmation_send_safely(*, submission: FormSubmission, contact: Any, base_url: str) -> None:
    try:
        consent.confirmation_send(submission=submission, contact=contact, base_url=base_url)
    except Exception:
        consent.logger.exception("Double opt-in email to contact %s failed", contact.pk)


def submission_fail(*, submission_id: int, reason: str) -> None:
    """Mark a submission whose capture raised, so a marketer sees it and can retry (release) it."""
    FormSubmission.objects.filter(pk=submission_id, status=SubmissionStatus.PENDING).update(
        status=SubmissionStatus.FAILED, reason=reason[:300]
    )


def _prefixed(exc: ValidationError, prefix: str) -> ValidationError:
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    return ValidationError({f"{prefix}.{key}": value for key, value in messages.items()})


def form_fields_set(*, form: Form, fields: list[Mapping[str, Any]], actor: Actor) -> None:
    """The API's whole-list edit: the form asks exactly these fields, in this order (the email stays
    even when not listed). Known targets are updated, new ones added, the others removed."""
    with transaction.atomic():
        existing = {f.target: f for f in FormField.objects.filter(form=form)}
        targets = [str(item.get("target") or "").strip() for item in fields]
        seen: set[str] = set()
        for index, target in enumerate(targets):
            if target in seen:
                raise ValidationError({f"fields.{index}.target": ["This target is listed twice."]})
            seen.add(target)
        ids: list[int] = []
        for index, item in enumerate(fields):
            try:
                if targets[index] in existing:
                    field = form_field_update(field=existing[targets[index]], data=item, actor=actor)
                else:
                    field = form_field_add(form=form, data=item, actor=actor)
            except ValidationError as exc:
                raise _prefixed(exc, f"fields.{index}") from None
            ids.append(field.pk)
        for target, field in existing.items():
            if target not in seen and target != EMAIL_TARGET:
                form_field_delete(field=field, actor=actor)
        if EMAIL_TARGET not in seen:
            ids.insert(0, existing[EMAIL_TARGET].pk)
        form_fields_reorder(form=form, order=ids, actor=actor)


def form_consents_set(*, form: Form, consents: list[Mapping[str, Any]], actor: Actor) -> None:
    """The API's whole-list edit of consent checkboxes: these purposes with these texts (a changed text
    is a new version), the other purposes removed."""
    with transaction.atomic():
        listed: set[str] = set()
        for index, item in enumerate(consents):
            purpose = str(item.get("purpose") or "")
            if purpose in listed:
                raise ValidationError({f"consents.{index}.purpose": ["This purpose is listed twice."]})
            listed.add(purpose)
            try:
                form_consent_set(
                    form=form,
                    purpose=purpose,
                    text=str(item.get("text") or ""),
                    required=bool(item.get("required")),
                    actor=actor,
                )
            except ValidationError as exc:
                raise _prefixed(exc, f"consents.{index}") from None
        for purpose in ConsentPurpose.values:
            if purpose not in listed:
                form_consent_remove(form=form, purpose=purpose, actor=actor)
