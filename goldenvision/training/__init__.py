"""Training of the defect detector (needs the ``train`` extra: torch, torchvision, onnx).

Nothing here is imported by ``import goldenvision``; stations run the exported bundles with
:mod:`goldenvision.detect` (onnxruntime only). Modules: ``model`` (Siamese EfficientNet-Lite0 +
CenterNet head), ``data`` (crops, torchvision v2 augmentation, targets), ``train`` (loop,
checkpoints, early stopping), ``export`` (ONNX bundle), ``evaluate`` (metrics and HTML report;
no torch), ``run`` (``goldenvision train`` end to end).
"""
