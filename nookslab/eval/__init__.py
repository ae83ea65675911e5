"""Evaluation: the paper's published numbers (``paper``) and our reproductions of its figures.

``nookslab.eval.reproduce`` holds the entry points of ``nookslab reproduce fig6|fig7|manual|vfat``;
``figures.FigureTable`` is the table (and bar chart) of figures 6 and 7, ours beside the paper's.
"""
from __future__ import annotations

from . import paper
from .figures import FigureTable
from .loc import table2
from .performance import Table4, table4

__all__ = ["FigureTable", "Table4", "paper", "table2", "table4"]
