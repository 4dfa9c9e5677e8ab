"""Validators shared by the configuration schemas of every package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T", int, float)


def strictly_increasing(edges: Sequence[T], what: str = "bin edges") -> list[T]:
    """``edges`` as a list if each value is larger than the one before, else ValueError.

    Raises ValueError (not a fourtops error) on purpose: pydantic field validators turn it
    into a validation error that names the field, which the config loader reports.
    """
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"{what} must increase strictly, got {list(edges)}")
    return list(edges)
