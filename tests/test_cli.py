"""The command line: the demo end to end, inspect/batch/lot, one-line errors with non-zero exits."""

import json

import pytest
from typer.testing import CliRunner

from goldenvision.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-demo")
    res = runner.invoke(app, ["demo", "--out", str(out), "--size", "0.4", "--units", "5", "--goldens", "3", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    return out, summary


def test_demo_writes_report_and_results(demo_dir):
    out, summary = demo_dir
    assert summary["units"] == 5
    assert sum(summary["counts"].values()) == 5
    html = (out / "report.html").read_text()
    assert "wallet-classic" in html and "data:image/jpeg;base64," in html
    lines = (out / "results" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["verdict"] in {"pass", "fail", "review"}
    assert (out / "results" / "results.csv").read_text().count("\n") == 6


def test_inspect_json_and_exit_code(demo_dir):
    out, _ = demo_dir
    unit = sorted((out / "lot").glob("unit_*.png"))[0]
    res = runner.invoke(app, ["inspect", str(unit), "--golden", str(out / "wallet-classic.golden"), "--json"])
    d = json.loads(res.stdout)
    assert res.exit_code == {"pass": 0, "fail": 1, "review": 2}[d["verdict"]]
    assert d["provenance"]["golden_id"]


def test_tampered_package_is_a_one_line_error(demo_dir, tmp_path):
    out, _ = demo_dir
    data = bytearray((out / "wallet-classic.golden").read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.golden"
    bad.write_bytes(bytes(data))
    unit = sorted((out / "lot").glob("unit_*.png"))[0]
    res = runner.invoke(app, ["inspect", str(unit), "--golden", str(bad)])
    assert res.exit_code == 65  # bad data, not the verdict "fail"
    assert res.stderr.strip().startswith("error:") and len(res.stderr.strip().splitlines()) == 1
    res = runner.invoke(app, ["inspect", str(unit), "--golden", str(bad), "--json"])
    assert res.exit_code == 65
    e = json.loads(res.stdout)["error"]
    assert e["code"] == 65 and e["kind"] == "IntegrityError" and "bad.golden" in e["message"]


def test_lot_plan_only_is_reproducible(demo_dir):
    out, _ = demo_dir
    args = ["lot", str(out / "lot"), "--golden", str(out / "wallet-classic.golden"), "--seed", "11", "--plan-only", "--json"]
    a = json.loads(runner.invoke(app, args).stdout)
    b = json.loads(runner.invoke(app, args).stdout)
    assert a["sample"] == b["sample"] and len(a["sample"]) == a["plans"]["major"]["sample_size"]


def test_lot_inspects_the_sample(demo_dir, tmp_path):
    out, _ = demo_dir
    res = runner.invoke(app, ["lot", str(out / "lot"), "--golden", str(out / "wallet-classic.golden"), "--seed", "2",
                              "--out", str(tmp_path / "lot"), "--json"])
    record = json.loads(res.stdout.strip().splitlines()[-1])
    assert res.exit_code == {"accept": 0, "reject": 1, "pending": 2}.get(record["verdict"]["decision"], 0)
    assert record["seed"] == 2 and (tmp_path / "lot" / "lot.json").exists()


def test_spec_schema_and_bad_spec(tmp_path):
    res = runner.invoke(app, ["spec-schema"])
    assert res.exit_code == 0 and "tolerance_de00" in res.stdout
    bad = tmp_path / "spec.yaml"
    bad.write_text("product: x\ncolors:\n  - {name: p, region: full, tolerance_de00: -2}\n")
    res = runner.invoke(app, ["seal", str(tmp_path / "g.png"), "--spec", str(bad), "--out", str(tmp_path / "x.golden")])
    assert res.exit_code == 65
    assert "colors[0].tolerance_de00" in res.stderr


def test_calibrate_grr_on_repeated_golden_captures(demo_dir):
    out, _ = demo_dir
    caps = sorted(str(p) for p in (out / "golden").glob("*.png"))
    res = runner.invoke(app, ["calibrate", "grr", *caps, "--golden", str(out / "wallet-classic.golden"), "--json"])
    assert res.exit_code == 0, res.output
    studies = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(studies) == {"panel_width", "strap_width", "buckle_width", "rivet_diameter"}
    for s in studies.values():
        # repeated captures of the same unit: the spread is a small share of each tolerance band
        assert 0 < s["repeatability"] < 0.1 and s["pct_grr_tolerance"] < 50


def test_seal_add_good_makes_a_linked_revision(demo_dir, tmp_path):
    out, _ = demo_dir
    import goldenvision as gv

    truth = {json.loads(p.read_text())["unit_id"]: json.loads(p.read_text()) for p in (out / "lot").glob("unit_*.json")}
    good = [str(out / "lot" / f"{k}.png") for k, t in sorted(truth.items()) if t["expected_verdict"] == "pass"][:2]
    new = tmp_path / "rev2.golden"
    res = runner.invoke(app, ["seal", *good, "--add-good", "--golden", str(out / "wallet-classic.golden"),
                              "--out", str(new), "--json"])
    assert res.exit_code == 0, res.output
    g1 = gv.load_golden(out / "wallet-classic.golden")
    g2 = gv.load_golden(new)
    assert len(g2.meta["good_units"]) == 2
    assert g2.meta["package"]["predecessor"]["golden_id"] == g1.meta["package"]["golden_id"]
    assert gv.inspect(good[0], g2).verdict is gv.Verdict.passed


# ------------------------------------------------------------------ the exit-code contract


def test_exit_code_table_is_sysexits():
    from goldenvision.errors import ImageError, IntegrityError, SpecError
    from goldenvision.exit_codes import ExitCode, exit_code_for, worst_verdict_exit_code
    from goldenvision.package import PackageNotFoundError

    assert [int(c) for c in ExitCode] == [0, 1, 2, 64, 65, 66, 70, 73, 74, 77, 130]
    assert exit_code_for(IntegrityError("x")) == 65 and exit_code_for(SpecError("x")) == 65
    assert exit_code_for(ImageError("x")) == 65
    assert exit_code_for(PackageNotFoundError("x")) == 66  # also an IntegrityError: the more exact code wins
    assert exit_code_for(FileNotFoundError("x")) == 66 and exit_code_for(OSError("x")) == 74
    assert exit_code_for(KeyError("x")) == 70
    assert worst_verdict_exit_code(["pass", "review", "fail", "pass"]) == 1
    assert worst_verdict_exit_code(["pass", "review"]) == 2 and worst_verdict_exit_code([]) == 0


def test_missing_golden_and_missing_photo_are_tool_errors(demo_dir, tmp_path):
    out, _ = demo_dir
    unit = sorted((out / "lot").glob("unit_*.png"))[0]
    res = runner.invoke(app, ["inspect", str(unit), "--golden", str(tmp_path / "none.golden"), "--json"])
    assert res.exit_code == 66
    assert json.loads(res.stdout)["error"]["code"] == 66 and "none.golden" in res.stderr
    res = runner.invoke(app, ["inspect", str(tmp_path / "no-photo.png"), "--golden", str(out / "wallet-classic.golden")])
    assert res.exit_code == 66 and "no-photo.png" in res.stderr  # not 2 (review)
    res = runner.invoke(app, ["batch", str(tmp_path / "no-folder"), "--golden", str(out / "wallet-classic.golden")])
    assert res.exit_code == 66


def test_usage_errors_exit_64_also_as_json():
    res = runner.invoke(app, ["inspect"])  # missing argument and option
    assert res.exit_code == 64
    res = runner.invoke(app, ["inspect", "x.png", "--no-such-option", "--json"])
    assert res.exit_code == 64 and json.loads(res.stdout)["error"]["kind"] == "UsageError"
    res = runner.invoke(app, ["no-such-command"])
    assert res.exit_code == 64


def test_version_and_help_text():
    import goldenvision as gv

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"goldenvision {gv.__version__}"
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "66 missing input" in " ".join(res.stdout.split())
    commands = [["seal"], ["inspect"], ["batch"], ["demo"], ["lot"], ["report"], ["verify"], ["diff"], ["sign"],
                ["keys", "new"], ["calibrate", "camera"], ["calibrate", "grr"], ["spec-schema"]]
    for cmd in commands:
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0, (cmd, res.output)
        for bad in ("<class", "Optional[", "List[", "list[", "NoneType", "typing.", "<int>", "<str>", "<path>",
                    "<float>"):
            assert bad not in res.stdout, (cmd, bad)


# ------------------------------------------------------------------ outputs: --force and re-runs


def _photos(out, tmp_path, n=3):
    """A folder with the first n demo units and their truth."""
    import shutil

    src = sorted((out / "lot").glob("unit_*.png"))[:n]
    d = tmp_path / "photos"
    d.mkdir()
    for p in src:
        shutil.copy(p, d / p.name)
    truth = {p.stem: json.loads(p.with_suffix(".json").read_text())["expected_verdict"] for p in src}
    return d, truth


def test_batch_rerun_replaces_rows_and_exits_with_the_worst_verdict(demo_dir, tmp_path):
    out, _ = demo_dir
    photos, _ = _photos(out, tmp_path)
    res_dir = tmp_path / "res"
    args = ["batch", str(photos), "--golden", str(out / "wallet-classic.golden"), "--out", str(res_dir), "--json",
            "--no-report"]
    first = runner.invoke(app, args)
    rows1 = [json.loads(x) for x in (res_dir / "results.jsonl").read_text().splitlines()]
    verdicts = [r["verdict"] for r in rows1]
    expected = 1 if "fail" in verdicts else 2 if "review" in verdicts else 0
    assert first.exit_code == expected, first.output
    second = runner.invoke(app, args)
    assert second.exit_code == expected
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["replaced"] == 3 and summary["rows_in_folder"] == 3
    rows2 = [json.loads(x) for x in (res_dir / "results.jsonl").read_text().splitlines()]
    shas = [r["provenance"]["image_sha256"] for r in rows2]
    assert len(rows2) == 3 and len(set(shas)) == 3  # one row per photo, not 6
    assert (res_dir / "results.csv").read_text().count("\n") == 4  # header + 3
    # a report re-rendered from the folder counts each photo once
    from goldenvision.batch import read_results

    assert len(read_results(res_dir / "results.jsonl")) == 3
    rep = tmp_path / "r.html"
    res = runner.invoke(app, ["report", str(res_dir / "results.jsonl"), "--golden", str(out / "wallet-classic.golden"),
                              "--out", str(rep)])
    assert res.exit_code == 0, res.output
    assert "(3 units)" in res.stdout


def test_outputs_are_not_overwritten_without_force(demo_dir, tmp_path):
    out, _ = demo_dir
    pkg = tmp_path / "kept.golden"
    pkg.write_bytes(b"the buyer's signed package")
    caps = sorted(str(p) for p in (out / "golden").glob("*.png"))[:1]
    res = runner.invoke(app, ["seal", *caps, "--spec", str(out / "spec.yaml"), "--out", str(pkg), "--json"])
    assert res.exit_code == 73 and json.loads(res.stdout)["error"]["code"] == 73
    assert pkg.read_bytes() == b"the buyer's signed package" and "--force" in res.stderr
    rep = tmp_path / "report.html"
    rep.write_text("mine")
    res = runner.invoke(app, ["report", str(tmp_path / "x.jsonl"), "--golden", str(out / "wallet-classic.golden"),
                              "--out", str(rep)])
    assert res.exit_code == 73 and rep.read_text() == "mine"
    lot_out = tmp_path / "lot"
    lot_out.mkdir()
    (lot_out / "lot.json").write_text("{}")
    res = runner.invoke(app, ["lot", str(out / "lot"), "--golden", str(out / "wallet-classic.golden"), "--seed", "2",
                              "--out", str(lot_out)])
    assert res.exit_code == 73 and (lot_out / "lot.json").read_text() == "{}"
    assert not (lot_out / "results.jsonl").exists()  # refused before inspecting anything


def test_lot_rerun_with_force_keeps_one_row_per_photo(demo_dir, tmp_path):
    out, _ = demo_dir
    args = ["lot", str(out / "lot"), "--golden", str(out / "wallet-classic.golden"), "--seed", "2",
            "--out", str(tmp_path / "lot"), "--json"]
    first = runner.invoke(app, args)
    n = len(json.loads(first.stdout.strip().splitlines()[-1])["sample_ids"])
    assert runner.invoke(app, args).exit_code == 73
    again = runner.invoke(app, [*args, "--force"])
    assert again.exit_code == first.exit_code
    lines = (tmp_path / "lot" / "results.jsonl").read_text().splitlines()
    assert len(lines) == n


def test_an_internal_error_exits_70_with_a_json_error(monkeypatch, demo_dir, tmp_path):
    import goldenvision.batch

    out, _ = demo_dir

    def broken(directory):
        raise KeyError("a bug")

    monkeypatch.setattr(goldenvision.batch, "list_images", broken)
    res = runner.invoke(app, ["batch", str(out / "lot"), "--golden", str(out / "wallet-classic.golden"), "--json",
                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 70
    e = json.loads(res.stdout)["error"]
    assert e["kind"] == "InternalError" and "KeyError" in e["message"]
    assert "Traceback" in res.stderr  # a bug shows where it is
    empty = tmp_path / "empty.golden"
    empty.write_bytes(b"")
    res = runner.invoke(app, ["inspect", str(tmp_path / "x.png"), "--golden", str(empty)])
    assert res.exit_code == 65  # an empty file is not a package: bad data


def test_read_results_keeps_one_row_per_image(tmp_path):
    from goldenvision.batch import read_results, write_results

    rows = [
        {"unit_id": "a.png", "verdict": "pass", "provenance": {"image_sha256": "11"}},
        {"unit_id": "b.png", "verdict": "fail", "provenance": {"image_sha256": "22"}},
        {"unit_id": "a-copy.png", "verdict": "review", "provenance": {"image_sha256": "11"}},  # same photo again
        {"unit_id": "old.png", "verdict": "pass"},  # an old row without a hash: keyed by unit id
        {"unit_id": "old.png", "verdict": "fail"},
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = read_results(tmp_path / "results.jsonl")
    assert [(r["unit_id"], r["verdict"]) for r in got] == [("a-copy.png", "review"), ("b.png", "fail"),
                                                           ("old.png", "fail")]
    write_results(tmp_path / "out", got)
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 3
    assert (tmp_path / "out" / "results.csv").read_text().splitlines()[1].startswith("a-copy.png,11,review")
    (tmp_path / "bad.jsonl").write_text('{"verdict": "pass"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        read_results(tmp_path / "bad.jsonl")
