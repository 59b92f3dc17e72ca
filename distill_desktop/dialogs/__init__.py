"""Dialogs of the Distill desktop app: the divergence decision and the error report."""
from .divergence_dialog import KEEP, ROLLBACK, STOP, DivergenceDialog, rollback_factor
from .error_dialog import ErrorDialog, show_error

__all__ = ["DivergenceDialog", "ErrorDialog", "KEEP", "ROLLBACK", "STOP", "rollback_factor", "show_error"]
