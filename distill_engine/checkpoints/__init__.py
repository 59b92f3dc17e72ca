"""Checkpoints: one self-contained safetensors file each (format), written by streaming tensor memory
(safetensors_writer) through the engine's one atomic file write."""
from .format import (BEST_NAME, FORMAT, SCHEMA_VERSION, Checkpoint, CheckpointInfo, CheckpointManager,
                     list_checkpoints, load_checkpoint, read_checkpoint_info, save_checkpoint)

__all__ = ["BEST_NAME", "FORMAT", "SCHEMA_VERSION", "Checkpoint", "CheckpointInfo", "CheckpointManager",
           "list_checkpoints", "load_checkpoint", "read_checkpoint_info", "save_checkpoint"]
