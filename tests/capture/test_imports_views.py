"""The dashboard import: upload -> map -> preview -> start (background task) -> progress -> result,
with the refused rows as a CSV download; roles and isolation."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leadhub.tenancy.context import tenant_context
from leads.models import Contact, CustomField, Lead
from leads.models_imports import ImportJob
from tests.conftest import login

pytestmark = pytest.mark.django_db

CSV = (
    "email,first_name,score,region,won\n"
    "a@example.com,<b>Ann</b>,10,north,yes\n"
    "b@example.com,Bob,20,south,no\n"
    "not-an-email,Carl,30,north,yes\n"
    "d@example.com,Dee,40,south,no\n"
    "=cmd@example,Eve,50,north,no\n"
)


def upload(client, text: str = CSV):
    return client.post(
        reverse("import-list"), {"file": SimpleUploadedFile("list.csv", text.encode()), "delimiter": ""}
    )


def mapping_post(job, action: str, **extra):
    data = {
        "action": action,
        "target-0": "email",
        "target-1": "first_name",
        "target-2": "__new__",
        "key-2": "score",
        "type-2": "number",
        "target-3": "__new__",
        "key-3": "region",
        "type-3": "choice",
        "target-4": "stage",
        "stage-0": "customer",
        "stage-1": "disqualified",
    }
    data.update(extra)
    return data


def test_upload_map_preview_run_and_report(org, marketer, django_capture_on_commit_callbacks):
    client = login(marketer, org)
    assert b"No imports yet" in client.get(reverse("import-list")).content
    response = upload(client)
    assert response.status_code == 302
    with tenant_context(org):
        job = ImportJob.objects.get()
    assert response["Location"] == reverse("import-map", args=[job.pk])
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"north" in page.content  # sample values of the column
    preview = client.post(reverse("import-map", args=[job.pk]), mapping_post(job, "preview"))
    assert preview.status_code == 200
    assert b"Refused" in preview.content and b"Start import" in preview.content
    assert b"&lt;b&gt;Ann&lt;/b&gt;" in preview.content and b"<b>Ann</b>" not in preview.content
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(reverse("import-map", args=[job.pk]), mapping_post(job, "start"))
    assert started.status_code == 302 and started["Location"] == reverse("import-detail", args=[job.pk])
    result = client.get(started["Location"])
    assert result.status_code == 200
    assert b"Download rejected rows" in result.content
    with tenant_context(org):
        job.refresh_from_db()
        assert (job.status, job.created_count, job.rejected_count) == ("done", 3, 2)
        assert CustomField.objects.get(key="region").choices == ["north", "south"]
        assert sorted(Lead.objects.values_list("stage", flat=True)) == [
            "customer",
            "disqualified",
            "disqualified",
        ]
        assert Contact.objects.get(email_normalized="a@example.com").custom == {
            "score": 10,
            "region": "north",
        }
    # The progress fragment polls until done, then asks for one full reload.
    fragment = client.get(
        reverse("import-detail", args=[job.pk]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="import-progress"
    )
    assert fragment["HX-Refresh"] == "true"
    download = client.get(reverse("import-rejections", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0] == ["row", "errors", "email", "first_name", "score", "region", "won"]
    assert [r[0] for r in rows[1:]] == ["3", "5"]
    assert rows[2][2] == "'=cmd@example"  # a spreadsheet will not run it as a formula
    assert b"list.csv" in client.get(reverse("import-list")).content


def test_mapping_errors_name_the_column(org, marketer):
    client = login(marketer, org)
    upload(client)
    with tenant_context(org):
        job = ImportJob.objects.get()
    response = client.post(
        reverse("import-map", args=[job.pk]), mapping_post(job, "preview", **{"target-1": "email"})
    )
    assert response.status_code == 400
    assert b"already maps to Email" in response.content


def test_bad_uploads_are_refused(org, marketer):
    client = login(marketer, org)
    assert client.post(reverse("import-list"), {}).status_code == 400
    empty = client.post(reverse("import-list"), {"file": SimpleUploadedFile("e.csv", b"")})
    assert empty.status_code == 400 and b"The file is empty" in empty.content


def test_imports_are_for_marketers_and_stay_in_their_organization(
    org, other_org, marketer, sales_rep, other_admin
):
    upload(login(marketer, org))
    with tenant_context(org):
        job = ImportJob.objects.get()
    assert login(sales_rep, org).get(reverse("import-list")).status_code == 403
    other = login(other_admin, other_org)
    assert other.get(reverse("import-detail", args=[job.pk])).status_code == 404
    assert other.get(reverse("import-rejections", args=[job.pk])).status_code == 404
    assert b"list.csv" not in other.get(reverse("import-list")).content
