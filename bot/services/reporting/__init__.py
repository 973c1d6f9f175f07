"""Figures for the education department: statistics, the chart, the export and its suppression."""
