"""The OpenAPI schema: generates without warnings, validates, and documents every /api/v1/ route with
what a generated client needs (distinct operation ids, named enums, the error shape, Idempotency-Key)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.admindocs.views import simplify_regex
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

HTTP_METHODS = {"get", "post", "patch", "put", "delete"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    target = Path(tmp_path_factory.mktemp("schema")) / "schema.yml"
    # --fail-on-warn turns any generator warning (an unresolved type, a name collision) into a failure.
    call_command("spectacular", "--file", str(target), "--validate", "--fail-on-warn")
    return yaml.safe_load(target.read_text())


def api_routes() -> list[tuple[str, Any]]:
    """Every /api/v1/ URL pattern with its view, as OpenAPI paths ({id} for the pk)."""
    found: list[tuple[str, Any]] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                path = simplify_regex(prefix + str(pattern.pattern))
                if path.startswith("/api/v1/"):
                    path = re.sub(r"<(\w+)>", lambda m: "{" + ("id" if m[1] == "pk" else m[1]) + "}", path)
                    found.append((path, pattern.callback))

    walk(get_resolver().url_patterns, "")
    return found


def test_schema_generates_without_warnings_and_validates(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "LeadHub API"


def test_every_api_route_and_method_is_documented(schema):
    routes = api_routes()
    assert len(routes) >= 15
    for path, callback in routes:
        assert path in schema["paths"], f"{path} is missing from the schema"
        actions = getattr(callback, "actions", None)
        methods = set(actions) if actions else {m for m in HTTP_METHODS if hasattr(callback.view_class, m)}
        documented = set(schema["paths"][path]) & HTTP_METHODS
        assert methods - {"head", "options"} == documented, path


def test_operation_ids_are_distinct(schema):
    ids = [
        op["operationId"] for item in schema["paths"].values() for m, op in item.items() if m in HTTP_METHODS
    ]
    assert len(ids) == len(set(ids))


def test_enums_are_named_components(schema):
    components = schema["components"]["schemas"]
    for name in ("Stage", "Channel", "TouchpointType", "CustomFieldType", "Role", "ApiKeyScope"):
        assert "enum" in components[name], name
    stage_change = components["LeadStageChangeRequest"]["properties"]["stage"]
    assert stage_change["$ref"] == "#/components/schemas/Stage"


def test_errors_idempotency_and_custom_field_filters_are_documented(schema):
    error_ref = "#/components/schemas/Error"
    assert "error" in schema["components"]["schemas"]["Error"]["properties"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation["responses"]
            for code in ("401", "403", "429"):
                assert responses[code]["content"]["application/json"]["schema"]["$ref"] == error_ref
            if method in {"post", "patch"}:
                assert "400" in responses, (path, method)
            if "{id}" in path:
                assert "404" in responses, (path, method)
            if method == "post":
                headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
                assert "Idempotency-Key" in headers, path
    leads_list = schema["paths"]["/api/v1/leads/"]["get"]
    names = {p["name"] for p in leads_list["parameters"]}
    assert {"cf.<key>", "stage", "owner", "score_min", "score_max", "q", "ordering", "cursor"} <= names
    bulk = schema["paths"]["/api/v1/leads/bulk/"]["post"]
    assert {"201", "207", "400"} <= set(bulk["responses"])


def test_schema_and_docs_are_served(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    assert b"/api/v1/leads/" in response.content
    assert client.get("/api/docs/").status_code == 200
