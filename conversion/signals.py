"""In-process signals between the parts of conversion, sent inside the writing transaction.

The handoff (queue), its SLA clocks (sla), the rep's workspace (workspace) and deals are separate parts
of one app: the handoff part should not know which clocks run on a handoff. Each part announces what
happened here and the parts that care connect receivers (in their AppConfig.ready):

- handoff_opened(handoff)               a lead was handed to a rep or to the fallback queue
- handoff_closed(handoff)               accepted, rejected or withdrawn (handoff.status says which)
- handoff_reassigned(handoff, previous) `handoff` replaced `previous` (a reassignment)
- activity_logged(activity, handoff)    a rep logged a call/email/meeting/demo; `handoff` is the lead's
                                        open or accepted handoff it counted as first contact for, or None
"""

from django.dispatch import Signal

handoff_opened = Signal()
handoff_closed = Signal()
handoff_reassigned = Signal()
activity_logged = Signal()
