"""The sales rep's workspace on one lead (contact, score and why, BANT, notes with @mentions, activities,
tasks, the handoff) and the notifications bell and inbox."""
