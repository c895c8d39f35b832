"""Deprecated location: checkpoints now live in :mod:`bowsflow.models.checkpoints` (this alias keeps
``bowsflow.checkpoints.load_model`` working, with a warning)."""

import warnings

from bowsflow.models.checkpoints import CheckpointError, load_model, read_checkpoint, save_checkpoint

warnings.warn("bowsflow.checkpoints moved to bowsflow.models.checkpoints", DeprecationWarning, stacklevel=2)

__all__ = ["CheckpointError", "load_model", "read_checkpoint", "save_checkpoint"]
