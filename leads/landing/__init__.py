"""Hosted landing pages built from blocks, with A/B(/n) experiments: models in leads.models_pages,
writes in `services`, reads and results in `selectors`, the statistics in `stats`, the dashboard editor
in `views`, the visitor-facing pages in `public`."""
