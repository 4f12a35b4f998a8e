"""The product-zoo table of issue 13: ``scripts/bench.py`` for every family in both modes, one row each.

    .venv/bin/python scripts/zoo_table.py [--units 8] [--goldens 3] [--size 0.6] [--seed 0] [--families wallet,label,...]
        [--workdir DIR] [--no-pod] [--zones spec|full] [--full-type other] [--add-good K]
        [--golden-units one|several] [--certified-golden]

Runs ``bench.py --family F --mode M --units N --goldens G --size S --seed K --repeat 1`` in a child
process per row and prints a Markdown table from its output: verdicts right (good / defective),
defects found at their place, good units (no fault of any kind) with an anomaly reported, dimension RMS / max error (mm), the readings
within the issue's dimension bar (station 0.05 mm, hand-held 0.1 mm or 0.5 % of nominal,
whichever is larger) and the worst error as a multiple of that bar, mean colour error against
the truth (ΔE00), registration error at the product centre (mean / max px) and the median
latency per unit (ms). Each row's bench output (and its full text, ``bench.txt``) goes to
``DIR/<family>-<mode>``; without ``--workdir`` a new temporary folder is made, so runs side by side
never share a folder.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

FAMILIES = ("wallet", "label", "part", "apparel", "hardware", "jewellery", "ceramic", "pcba", "wood", "sole")


def row(family: str, mode: str, args: argparse.Namespace) -> str:
    cmd = [sys.executable, str(Path(__file__).with_name("bench.py")), "--family", family, "--mode", mode,
           "--units", str(args.units), "--goldens", str(args.goldens), "--size", str(args.size), "--repeat", "1",
           "--seed", str(args.seed),
           "--out", str(args.workdir / f"{family}-{mode}")] + (["--no-pod"] if args.no_pod else []) + \
        (["--zones", args.zones, "--full-type", args.full_type] if args.zones != "spec" else []) + \
        (["--add-good", str(args.add_good)] if args.add_good else []) + \
        (["--golden-units", args.golden_units] if args.golden_units != "one" else []) + \
        (["--certified-golden"] if args.certified_golden else []) + \
        (["--jpeg-quality", args.jpeg_quality] if args.jpeg_quality else [])
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    (args.workdir / f"{family}-{mode}").mkdir(parents=True, exist_ok=True)
    (args.workdir / f"{family}-{mode}" / "bench.txt").write_text(out)
    conf = re.search(r"verdict confusion.*?\n.*?\n\s+pass\s+(\d+)\s+(\d+)\s+(\d+)\n\s+fail\s+(\d+)\s+(\d+)\s+(\d+)", out, re.S)
    if conf is None:
        return f"| {family} / {mode} | bench failed: {out[-200:]!r} |"
    pp, pf, pr, fp, ff, fr = (int(v) for v in conf.groups())
    good_n, bad_n = pp + pf + pr, fp + ff + fr
    found = re.search(r"injected defects found at their place (\d+)/(\d+)", out)
    flagged = re.search(r"good units \(no fault of any kind\) flagged (\d+)/(\d+)", out)
    dim = re.search(r"\n\s+all\s+rms ([\d.]+) max \|e\| ([\d.]+)", out)
    bar = re.search(r"against the bar.*?\n\s+all\s+within (\d+)/(\d+), worst \|e\|/bar ([\d.]+)", out, re.S)
    col = re.search(r"all zones\s+mean ([\d.]+)", out)
    reg = re.search(r"registration error at the product centre.*?mean ([\d.]+), max ([\d.]+) px", out)
    refused = re.search(r"\((\d+) units aligned, (\d+) not\)", out)
    lat = re.search(r"\n\s+total\s+([\d.]+)", out)
    verdicts = f"{pp + ff}/{good_n + bad_n} ({pp}/{good_n} good, {ff}/{bad_n} defective{', ' + str(pr + fr) + ' review' if pr + fr else ''})"
    reg_s = f"{reg.group(1)} / {reg.group(2)}" if reg else "-"
    if refused and int(refused.group(2)):
        reg_s += f" ({refused.group(2)} refused)"
    return (f"| {family} / {mode} | {verdicts} | {found.group(1) + '/' + found.group(2) if found else '-'} | "
            f"{flagged.group(1) + '/' + flagged.group(2) if flagged else '-'} | "
            f"{dim.group(1) + ' / ' + dim.group(2) if dim else '-'} | "
            f"{bar.group(1) + '/' + bar.group(2) + ' (worst ' + bar.group(3) + ')' if bar else '-'} | {col.group(1) if col else '-'} | {reg_s} | "
            f"{lat.group(1) if lat else '-'} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=8)
    ap.add_argument("--goldens", type=int, default=3)
    ap.add_argument("--size", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=0,
                    help="the demo lot's seed (another seed: other units, other defects, the same families)")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--modes", default="station,handheld")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="folder for each row's bench output (default: a new temporary folder)")
    ap.add_argument("--no-pod", action="store_true", help="skip each row's detectability (POD) self-test")
    ap.add_argument("--zones", default="spec", choices=["spec", "full"],
                    help="full: every row's spec gets one 'full' anomaly zone instead of the family's own (bench.py --zones)")
    ap.add_argument("--full-type", default="other", help="--zones full: the zone's defect_type")
    ap.add_argument("--add-good", type=int, default=0, metavar="K",
                    help="teach each row's golden K extra good units first (bench.py --add-good)")
    ap.add_argument("--golden-units", default="one", choices=["one", "several"],
                    help="several: each row's golden captures 1.. are other good units (bench.py --golden-units)")
    ap.add_argument("--certified-golden", action="store_true",
                    help="seal with the golden units' true sizes (bench.py --certified-golden)")
    ap.add_argument("--jpeg-quality", default=None, metavar="LO-HI",
                    help="hand-held lots: the range of the units' JPEG qualities (bench.py --jpeg-quality)")
    args = ap.parse_args()
    if args.workdir is None:
        args.workdir = Path(tempfile.mkdtemp(prefix="gv-zoo-"))
    print(f"bench output in {args.workdir}", file=sys.stderr)
    print("| family / mode | verdicts right | defects found | good flagged | dim RMS / max mm | dims within bar | colour ΔE00 | reg px (centre mean / max) | ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        for fam in args.families.split(","):
            print(row(fam, mode, args), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
