"""REST API of the funnel's records (/api/v1/...): thin views that parse with an input serializer, call a
service or selector, and render with an output serializer.

Conventions: PATCH edits (no PUT); POST on a collection answers 201 when it created the record and 200
when it reused one (a known email, a repeated external_id, a campaign's existing day of spend); bulk
endpoints answer 201 when every item was written, 207 in partial mode when some were refused, and 400
(nothing written) in the default all-or-nothing mode when any item is invalid.
"""

from leads.apis.campaigns import CampaignSpendViewSet, CampaignViewSet
from leads.apis.contacts import CompanyViewSet, ContactViewSet
from leads.apis.custom_fields import CustomFieldViewSet
from leads.apis.leads import LeadViewSet
from leads.apis.touchpoints import TouchpointViewSet

__all__ = [
    "CampaignSpendViewSet",
    "CampaignViewSet",
    "CompanyViewSet",
    "ContactViewSet",
    "CustomFieldViewSet",
    "LeadViewSet",
    "TouchpointViewSet",
]
