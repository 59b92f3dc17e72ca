"""Distill's desktop monitor (PySide6 + pyqtgraph): a view over distill_engine."""
