"""The hardware report: assemble from simulation results, render JSON / Markdown / HTML with plots."""

from .build import build_report

__all__ = ["build_report"]
