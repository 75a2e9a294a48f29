"""Web forms: the builder in the dashboard, the three ways a form reaches a site (a plain HTML form,
the embed script, the API), progressive profiling, the submission pipeline (spam, rate limits,
duplicates, capture in a task that the outbox never loses), and consent with double opt-in."""
