"""Rehearsal scenarios (YAML under ``scenarios/``), run against the local world with expectations and a report."""
