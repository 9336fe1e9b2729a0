"""Where the project's files are: the rehearsal runs the real template, handlers and sample events."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"
