"""Development tools: not part of the shipped package (see pyproject.toml).

- ``python -m tools.i18n_extract``: msgids missing or empty in each catalogue.
- ``python -m tools.train_triage_model``: retrains ``bot/triage/model.json`` (needs the
  ``train`` extra: scikit-learn).
"""
