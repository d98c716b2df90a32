"""The `arcane` command line of the engine (placeholder: filled in as the commands land)."""

from __future__ import annotations
