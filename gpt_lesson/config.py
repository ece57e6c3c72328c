"""Run profiles: how big each chapter's computation is.

``GPT_LESSON_PROFILE=quick`` is what CI runs: tiny sizes, seconds per chapter.
The default profile is what the stored notebook outputs were produced with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_VARIABLE = "GPT_LESSON_PROFILE"


@dataclass(frozen=True)
class Profile:
    """The knobs that change between a quick check and the book's real run."""

    name: str
    max_train_batches: int | None  # None: the whole corpus


PROFILES: dict[str, Profile] = {
    "default": Profile(name="default", max_train_batches=None),
    "quick": Profile(name="quick", max_train_batches=8),
}


def current_profile() -> Profile:
    """The profile named by ``GPT_LESSON_PROFILE`` (``default`` when unset)."""
    name = os.environ.get(PROFILE_VARIABLE, "default").strip() or "default"
    if name not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(
            f"{PROFILE_VARIABLE}={name!r} is not a known profile; use one of: {known}."
        )
    return PROFILES[name]
