"""Peers: the same Arcane lifecycle written with other frameworks, run through the same scenarios."""
