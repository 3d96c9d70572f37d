"""The exercises of notebook 10 (not written yet): add them here, keyed "10.<name>"."""

from __future__ import annotations

from tinymtp.exercises.kinds import CodeExercise, Exercise

EXERCISES: dict[str, Exercise | CodeExercise] = {}
