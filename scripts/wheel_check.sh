#!/usr/bin/env bash
# Build the wheel, install it into a fresh venv OUTSIDE the checkout, and run the demo there.
# A wheel that misses its ONNX backbone or its station profiles fails here, not at a customer's.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PIP_CONSTRAINT="$root/constraints.txt"
"$python" -m venv "$work/build-venv"
"$work/build-venv/bin/pip" install -q --upgrade pip
"$work/build-venv/bin/pip" wheel -q --no-deps -w "$work/dist" "$root"
wheel=$(ls "$work"/dist/goldenvision-*.whl)
echo "wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"
listing=$("$python" -m zipfile -l "$wheel")
for member in goldenvision/models/efficientnet_lite0_features.onnx goldenvision/calibration/profiles/lightbox-demo.yaml LICENSE; do
  grep -q "$member" <<<"$listing" || { echo "wheel lacks $member" >&2; exit 1; }
done
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --upgrade pip
"$work/venv/bin/pip" install -q "$wheel"
cd "$work"   # outside the checkout: nothing can be found relative to it
"$work/venv/bin/python" -c "import goldenvision, sys; assert '$root/' not in goldenvision.__file__, goldenvision.__file__; print('goldenvision', goldenvision.__version__, 'from', goldenvision.__file__)"
"$work/venv/bin/goldenvision" --help > /dev/null
"$work/venv/bin/goldenvision" demo --out "$work/demo-out"
test -s "$work/demo-out/report.html" || { echo "demo wrote no report.html" >&2; exit 1; }
echo "wheel-check: the installed wheel ran the demo outside the checkout"
