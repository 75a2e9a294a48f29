"""Custom field definitions through the REST API."""

from __future__ import annotations

import pytest

from leads.models import Company, Contact, CustomField
from leads.services import custom_field_create
from tests.factories import CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db


def test_define_list_edit_and_delete(api_client, in_org):
    response = api_client.post(
        "/api/v1/custom-fields/",
        {
            "entity": "contact",
            "key": "plan",
            "label": "Plan",
            "field_type": "choice",
            "choices": ["free", "pro"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    field = response.json()
    assert (field["key"], field["choices"]) == ("plan", ["free", "pro"])
    listed = api_client.get("/api/v1/custom-fields/").json()["results"]
    assert [row["key"] for row in listed] == ["plan"]
    detail = f"/api/v1/custom-fields/{field['id']}/"
    patched = api_client.patch(
        detail, {"label": "Pricing plan", "choices": ["free", "pro", "team"]}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["label"], patched.json()["choices"]) == ("Pricing plan", ["free", "pro", "team"])
    assert api_client.delete(detail).status_code == 204
    with in_org():
        assert not CustomField.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"entity": "contact", "key": "plan", "field_type": "text"}, "key"),
        ({"entity": "contact", "key": "bad key!", "field_type": "text"}, "key"),
        ({"entity": "deal", "key": "x", "field_type": "text"}, "entity"),
        ({"entity": "contact", "key": "x", "field_type": "colour"}, "field_type"),
        ({"entity": "contact", "key": "x", "field_type": "choice"}, "choices"),
    ],
)
def test_definition_validation(api_client, in_org, payload, field):
    with in_org():
        custom_field_create(entity="contact", key="plan", label="Plan", field_type="text")
    response = api_client.post("/api/v1/custom-fields/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_type_of_a_field_in_use_cannot_change(api_client, in_org):
    with in_org():
        used = custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
        unused = custom_field_create(entity="contact", key="region", label="Region", field_type="number")
        ContactFactory(custom={"seats": 10})
    response = api_client.patch(f"/api/v1/custom-fields/{used.pk}/", {"field_type": "text"}, format="json")
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["field_type"][0]
    assert "1 contact" in message and "cannot change" in message
    assert (
        api_client.patch(f"/api/v1/custom-fields/{unused.pk}/", {"field_type": "text"}, format="json").json()[
            "field_type"
        ]
        == "text"
    )
    key_change = api_client.patch(f"/api/v1/custom-fields/{used.pk}/", {"key": "licences"}, format="json")
    assert list(key_change.json()["error"]["fields"]) == ["key"]


def test_choices_in_use_cannot_be_removed(api_client, in_org):
    with in_org():
        plan = custom_field_create(
            entity="company", key="plan", label="Plan", field_type="choice", choices=["free", "pro"]
        )
        CompanyFactory(custom={"plan": "pro"})
    response = api_client.patch(f"/api/v1/custom-fields/{plan.pk}/", {"choices": ["free"]}, format="json")
    assert response.status_code == 400
    assert "pro" in response.json()["error"]["fields"]["choices"][0]


def test_deleting_a_field_removes_its_values(api_client, in_org):
    with in_org():
        seats = custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
        custom_field_create(entity="contact", key="plan", label="Plan", field_type="text")
        tier = custom_field_create(entity="company", key="seats", label="Seats", field_type="number")
        contact = ContactFactory(
            custom={"seats": 10, "plan": "pro"}, company=CompanyFactory(custom={"seats": 3})
        )
    assert api_client.delete(f"/api/v1/custom-fields/{seats.pk}/").status_code == 204
    with in_org():
        assert Contact.objects.get(pk=contact.pk).custom == {"plan": "pro"}
        # The company field of the same key is another field and keeps its values.
        assert Company.objects.get(pk=contact.company_id).custom == {"seats": 3}
        assert CustomField.objects.filter(pk=tier.pk).exists()


def test_another_organizations_fields_are_invisible(other_api_client, in_org):
    with in_org():
        field = custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
    assert other_api_client.get(f"/api/v1/custom-fields/{field.pk}/").status_code == 404
    assert other_api_client.delete(f"/api/v1/custom-fields/{field.pk}/").status_code == 404
    assert other_api_client.get("/api/v1/custom-fields/").json()["results"] == []
    # The same key is free in the other organization.
    created = other_api_client.post(
        "/api/v1/custom-fields/", {"entity": "contact", "key": "seats", "field_type": "text"}, format="json"
    )
    assert created.status_code == 201
