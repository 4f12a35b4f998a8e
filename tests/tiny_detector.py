"""A tiny hand-made detector graph with the bundle contract, for tests without torch.

The graph (no training): ``d = mean over RGB of (test - template)``; class 0 ``dark`` where the
unit is darker than the template (``relu(-d)``), class 1 ``bright`` where it is brighter
(``relu(d)``); each 4 x 4 average pooled (stride 4), times 4, clipped to [0, 1], 3 x 3 peak
suppression; every box is 16 x 16 px centred on its cell. Its committed bundle is
``tests/data/tiny_detector`` (``python tests/tiny_detector.py`` rebuilds it; needs ``onnx``).
"""

from __future__ import annotations

import json
from pathlib import Path

BUNDLE = Path(__file__).parent / "data" / "tiny_detector"
CLASSES = ["dark", "bright"]
THRESHOLDS = {"score": 0.5, "match_iou": 0.33}
BOX_PX = 16.0


def build_onnx(path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, arr: "np.ndarray") -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name=name + "_v"))

    f = np.float32
    nodes = [
        const("one_axis", np.array([1], dtype=np.int64)),
        const("four", np.array(4.0, dtype=f)),
        const("two", np.array(2.0, dtype=f)),
        const("zero_f", np.array(0.0, dtype=f)),
        const("one_f", np.array(1.0, dtype=f)),
        const("box_px", np.array(BOX_PX, dtype=f)),
        const("idx2", np.array(2, dtype=np.int64)),
        const("idx3", np.array(3, dtype=np.int64)),
        const("row_shape", np.array([1, 1, 1, -1], dtype=np.int64)),
        const("col_shape", np.array([1, 1, -1, 1], dtype=np.int64)),
        helper.make_node("Sub", ["test", "template"], ["diff3"]),
        helper.make_node("ReduceMean", ["diff3"], ["diff"], axes=[1], keepdims=1),
        helper.make_node("Relu", ["diff"], ["bright"]),
        helper.make_node("Neg", ["diff"], ["ndiff"]),
        helper.make_node("Relu", ["ndiff"], ["dark"]),
        helper.make_node("Concat", ["dark", "bright"], ["both"], axis=1),
        helper.make_node("AveragePool", ["both"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Mul", ["pooled", "four"], ["scaled"]),
        helper.make_node("Clip", ["scaled", "zero_f", "one_f"], ["score"]),
        helper.make_node("MaxPool", ["score"], ["peak"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
        helper.make_node("Equal", ["peak", "score"], ["is_peak_b"]),
        helper.make_node("Cast", ["is_peak_b"], ["is_peak"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["score", "is_peak"], ["heat"]),
        helper.make_node("Slice", ["pooled", "zero_i", "one_i", "one_axis"], ["one_ch"]),
        const("zero_i", np.array([0], dtype=np.int64)),
        const("one_i", np.array([1], dtype=np.int64)),
        helper.make_node("Shape", ["one_ch"], ["shp"]),
        helper.make_node("Gather", ["shp", "idx2"], ["h_i"]),
        helper.make_node("Gather", ["shp", "idx3"], ["w_i"]),
        helper.make_node("Cast", ["h_i"], ["h_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["w_i"], ["w_f"], to=TensorProto.FLOAT),
        helper.make_node("Range", ["zero_f", "w_f", "one_f"], ["xs"]),
        helper.make_node("Range", ["zero_f", "h_f", "one_f"], ["ys"]),
        helper.make_node("Mul", ["xs", "four"], ["xs4"]),
        helper.make_node("Add", ["xs4", "two"], ["cx1"]),
        helper.make_node("Mul", ["ys", "four"], ["ys4"]),
        helper.make_node("Add", ["ys4", "two"], ["cy1"]),
        helper.make_node("Reshape", ["cx1", "row_shape"], ["cx_row"]),
        helper.make_node("Reshape", ["cy1", "col_shape"], ["cy_col"]),
        helper.make_node("Expand", ["cx_row", "shp"], ["cx"]),
        helper.make_node("Expand", ["cy_col", "shp"], ["cy"]),
        helper.make_node("Expand", ["box_px", "shp"], ["bw"]),
        helper.make_node("Concat", ["cx", "cy", "bw", "bw"], ["box"], axis=1),
    ]
    # Constants first (topological order).
    nodes = [n for n in nodes if n.op_type == "Constant"] + [n for n in nodes if n.op_type != "Constant"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 3, "h", "w"]) for n in ("test", "template")]
    outputs = [
        helper.make_tensor_value_info("heat", TensorProto.FLOAT, ["n", 2, "h4", "w4"]),
        helper.make_tensor_value_info("box", TensorProto.FLOAT, ["n", 4, "h4", "w4"]),
    ]
    graph = helper.make_graph(nodes, "tiny_detector", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="goldenvision-tests")
    model.ir_version = 8
    for k, v in {"goldenvision.classes": json.dumps(CLASSES), "goldenvision.thresholds": json.dumps(THRESHOLDS),
                 "goldenvision.version": "1.0.0"}.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def build_bundle(out: Path) -> str:
    """Write the tiny bundle to ``out``; returns its sha256."""
    from goldenvision.detect.bundle import write_manifest

    out.mkdir(parents=True, exist_ok=True)
    build_onnx(out / "model.onnx")
    (out / "MODEL_CARD.md").write_text(
        "# tiny_detector 1.0.0\n\nHand-made test graph (tests/tiny_detector.py): dark / bright differences to the "
        "template, 4 px cells, 16 px boxes. Not trained; no data.\n", encoding="utf-8")
    return write_manifest(out, name="tiny_detector", version="1.0.0", classes=CLASSES, thresholds=THRESHOLDS,
                          extra={"data": None, "metrics": {}, "software": {}})


if __name__ == "__main__":
    print(build_bundle(BUNDLE))
