"""Which torch device a job runs on."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


class DeviceError(ValueError):
    """The device asked for does not exist here, or is not one bowsflow knows."""


def resolve_device(name: str) -> torch.device:
    """``cuda`` needs a GPU (clear error); ``auto`` takes one when present, else the CPU (logged)."""
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("device: cuda was asked for, but torch sees no CUDA GPU (use device: auto or cpu)")
        return torch.device("cuda")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.info("device: auto -> cpu (no CUDA GPU visible)")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"device: expected auto, cpu or cuda, got {name!r}")
