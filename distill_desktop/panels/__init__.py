"""Panels of the Distill main window: each a QWidget over one engine object, testable alone."""
