"""`Idempotency-Key` on API POSTs: the first successful answer is stored in the same transaction as the
write it describes, so a replay after a timeout returns that answer instead of writing twice."""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.errors import json_error
from leadhub.tenancy.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255


def _applies(request: HttpRequest) -> bool:
    from leadhub.tenancy.public import is_public_path

    return (
        request.method == "POST"
        and (request.path.startswith("/api/") or is_public_path(request.path))
        and bool(request.META.get(HEADER))
    )


def _request_hash(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() if request.method else b"")
    digest.update(request.get_full_path().encode())
    digest.update(b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def lookup(request: HttpRequest) -> HttpResponse | None:
    if not _applies(request):
        return None
    key = request.META[HEADER]
    if len(key) > MAX_KEY_LENGTH:
        return json_error(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key is too long.",
            {"Idempotency-Key": [f"At most {MAX_KEY_LENGTH} characters."]},
        )
    with tenant_context(request.organization):  # type: ignore[attr-defined]
        record = IdempotencyRecord.objects.filter(key=key).first()
    if record is None:
        return None
    if record.request_hash != _request_hash(request):
        return json_error(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request.",
            {"Idempotency-Key": ["Use a new key for a new request."]},
        )
    response = HttpResponse(
        bytes(record.response_body), status=record.status_code, content_type=record.content_type
    )
    response["Idempotent-Replayed"] = "true"
    return response


def store(request: HttpRequest, response: HttpResponse) -> bool:
    """Store the answer inside the request's transaction. False when another request holds the key."""
    if not _applies(request) or getattr(response, "streaming", False):
        return True
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                key=request.META[HEADER],
                method=request.method or "POST",
                path=request.path[:500],
                request_hash=_request_hash(request),
                status_code=response.status_code,
                response_body=response.content,
                content_type=response.get("Content-Type", "application/json"),
            )
    except IntegrityError:
        transaction.set_rollback(True)
        return False
    return True
