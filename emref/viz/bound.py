"""Placeholder: filled in by the lectures."""

__all__ = []
