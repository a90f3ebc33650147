"""The hardware report: assemble the typed tree (``model.Report``) from simulation results, write and read
it as report.json, render Markdown / HTML with plots."""

from .build import build_report
from .model import Report, read

__all__ = ["Report", "build_report", "read"]
