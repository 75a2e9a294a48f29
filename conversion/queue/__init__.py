"""The handoff to sales: assignment rules, the rep's queue, accept and reject, and the managers' views."""
