"""The command line on the results store: batch/lot --db, context flags and sidecars, orders."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from goldenvision.cli import app
from goldenvision.store import open_store

runner = CliRunner()


def test_batch_into_a_store_twice_leaves_one_row_per_photo(demo_lot, demo_golden_path, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in demo_lot.unit_paths[:4]:
        shutil.copy(p, photos / p.name)
    # a sidecar gives one photo its own material batch; the flags give every photo the shift
    (photos / f"{demo_lot.unit_paths[0].name}.json").write_text(json.dumps({"material_batch": "hide-0413"}))
    db = f"sqlite:///{tmp_path / 'r.db'}"
    for _ in range(2):
        r = runner.invoke(app, ["batch", str(photos), "--golden", str(demo_golden_path), "--out", str(tmp_path / "out"),
                                "--no-report", "--db", db, "--context", "shift=B", "--context", "lot=L7"])
        assert r.exit_code in (0, 1, 2), r.output
    rows = open_store(db).results()
    assert len(rows) == 4 and len({r["image_sha256"] for r in rows}) == 4
    by_file = {r["file"].rsplit("/", 1)[-1]: r for r in rows}
    assert all(r["context"]["shift"] == "B" and r["context"]["lot"] == "L7" for r in rows)
    assert by_file[demo_lot.unit_paths[0].name]["context"]["material_batch"] == "hide-0413"
    assert by_file[demo_lot.unit_paths[1].name]["context"]["material_batch"] is None
    out = runner.invoke(app, ["results", "--db", db, "--json", "--lot", "L7"])
    assert out.exit_code == 0 and len([line for line in out.output.splitlines() if line.startswith("{")]) == 4


def test_a_bad_context_flag_is_a_usage_or_data_error_and_writes_nothing(demo_lot, demo_golden_path, tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    r = runner.invoke(app, ["batch", str(demo_lot.unit_paths[0].parent), "--golden", str(demo_golden_path),
                            "--out", str(tmp_path / "out"), "--db", db, "--context", "humidity_pct=wet"])
    assert r.exit_code == 65, r.output
    assert not (tmp_path / "r.db").exists() or open_store(db).count() == 0


def test_lot_with_po_is_attached_to_the_order_and_shows_on_its_timeline(demo_lot, demo_golden_path, demo_golden, tmp_path):
    db = f"sqlite:///{tmp_path / 'o.db'}"
    r = runner.invoke(app, ["order", "new", "PO-77", "--supplier", "ACME", "--product", demo_golden.spec.product,
                            "--quantity", "400", "--golden", str(demo_golden_path), "--db", db])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["order", "new", "PO-77", "--supplier", "ACME", "--product", demo_golden.spec.product,
                            "--quantity", "400", "--golden", str(demo_golden_path), "--db", db, "--json"])
    assert r.exit_code == 65 and "exists" in json.loads(r.output.splitlines()[0])["error"]["message"]
    folder = demo_lot.unit_paths[0].parent
    r = runner.invoke(app, ["lot", str(folder), "--golden", str(demo_golden_path), "--seed", "3", "--out",
                            str(tmp_path / "lot"), "--db", db, "--po", "PO-77", "--supplier", "ACME",
                            "--inspector", "J. Inspector", "--place", "Dongguan", "--type", "dupro"])
    assert r.exit_code in (0, 1, 2), r.output
    show = json.loads(runner.invoke(app, ["order", "show", "PO-77", "--db", db, "--json"]).output)
    lots = [e for e in show["timeline"] if e["kind"] == "lot"]
    assert len(lots) == 1 and lots[0]["lot"]["inspection_type"] == "dupro"
    assert show["state"] == "dupro_done"
    html = (tmp_path / "lot" / "report.html").read_text()
    assert "J. Inspector" in html and "Dongguan" in html
    assert "alarms" in (tmp_path / "lot" / "drift" / "index.html").read_text()  # control charts beside the report
    r = runner.invoke(app, ["order", "show", "PO-404", "--db", db])
    assert r.exit_code == 65 and "no such PO" in r.output
