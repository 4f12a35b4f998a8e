"""Shipped ONNX models (package data, read with importlib.resources); see MODEL_CARD.md."""
