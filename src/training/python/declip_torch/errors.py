"""Typed errors raised by declip_torch. Every message names the offending field and says how to fix it."""


class DeclipError(Exception):
    """Base class of all declip_torch errors."""


class ConfigError(DeclipError):
    """Unknown architecture / preset, or an inconsistent configuration."""


class InputSizeError(DeclipError):
    """Input size that is not a positive multiple of the patch size."""


class CheckpointError(DeclipError):
    """Checkpoint that does not match the chosen preset (missing / unexpected keys, wrong shapes)."""


class ParityError(DeclipError):
    """Exported ONNX graph disagrees with the PyTorch model beyond the tolerance."""
