"""Labelled defect datasets: one internal format, importers and a validator (issue 17).

>>> from goldenvision.datasets import load_dataset, save_dataset
>>> ds = load_dataset("deeppcb-trainval", "deeppcb")          # validated, or DatasetError with file:line
>>> train, val, record = ds.split(n_val=100, seed=0)          # record: write it beside a model
>>> save_dataset(ds, "pcb-gv")                                # the internal "gv" format (dataset.json + images/)

Formats: :data:`FORMATS` (``coco``, ``voc``, ``yolo``, ``labelstudio``, ``deeppcb``, ``gv``).
Boxes are ``(x1, y1, x2, y2)`` in image px; see :mod:`goldenvision.datasets.core`.
"""

from __future__ import annotations

from . import importers as _importers  # noqa: F401  (registers the importers)
from .core import (
    BOX_TOLERANCE_PX,
    FORMATS,
    SEVERITIES,
    Annotation,
    Dataset,
    DatasetError,
    Sample,
    load_dataset,
    probe_image,
    read_sample,
    save_dataset,
    validate,
)
from .demo import demo_dataset
from .gv import add_samples
from .importers import DEEPPCB_CLASSES

__all__ = [
    "BOX_TOLERANCE_PX",
    "DEEPPCB_CLASSES",
    "FORMATS",
    "SEVERITIES",
    "Annotation",
    "Dataset",
    "DatasetError",
    "Sample",
    "add_samples",
    "demo_dataset",
    "load_dataset",
    "probe_image",
    "read_sample",
    "save_dataset",
    "validate",
]
