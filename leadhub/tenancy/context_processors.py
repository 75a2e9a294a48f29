from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    return {"organization": getattr(request, "organization", None), "membership": getattr(request, "membership", None)}
