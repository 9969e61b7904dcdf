"""Build the right model class from a configuration (used by the model file loader)."""

from __future__ import annotations

from torch import nn

from .config import ArchitectureConfig, StudentConfig, TeacherConfig
from .student import Student
from .teacher import make_teacher


def build_model(config: ArchitectureConfig) -> nn.Module:
    """A freshly initialised teacher (:func:`~.teacher.make_teacher`: one, or an ensemble) or
    :class:`Student` for ``config``."""
    if isinstance(config, TeacherConfig):
        return make_teacher(config)
    if isinstance(config, StudentConfig):
        return Student(config)
    raise TypeError(f"no model class for configuration {type(config).__name__}")
