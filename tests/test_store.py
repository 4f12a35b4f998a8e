"""The results store: migrations, idempotent writes, context checks, clear refusals.

Every test runs on SQLite; when GV_TEST_PG_URL is set (scripts/ci_postgres.sh prints it) it
also runs on PostgreSQL, each test in a fresh database created through that URL.
"""

import json
import math
import os
import threading
import uuid

import numpy as np
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from goldenvision.cli_store import register_commands
from goldenvision.errors import GoldenVisionError
from goldenvision.results import ColorResult, DimensionResult, RegistrationResult, UnitResult, Verdict
from goldenvision.spec import Severity
from goldenvision.store import (
    ContextError,
    ResultDataError,
    SchemaVersionError,
    StoreError,
    StoreUnavailableError,
    lab_deltas_1976,
    open_store,
)
from goldenvision.store.synthetic import drifting_lot

PG_URL = os.environ.get("GV_TEST_PG_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
GOLDEN = "11111111-2222-4333-8444-555555555555"


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"gv_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_URL).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def result(i=0, *, lab=(30.0, 18.0, 12.0), width=25.1, score=0.3, verdict="pass", context=None):
    return {
        "unit_id": f"unit_{i:03d}.png",
        "verdict": verdict,
        "defect_class": None if verdict == "pass" else "major",
        "reasons": [] if verdict == "pass" else ["strap_width out of tolerance"],
        "color": [{"name": "panel", "lab": list(lab), "golden_lab": [31.0, 18.0, 11.0], "delta_e_golden": 0.8,
                   "golden_tolerance": 1.5, "delta_e_target": 1.1, "tolerance": 2.0}],
        "dimensions": [{"name": "strap_width", "measured_mm": width, "nominal_mm": 25.0, "tol_minus_mm": 0.5,
                        "tol_plus_mm": 0.4}],
        "zone_scores": {"buckle": score},
        "provenance": {"golden_id": GOLDEN, "product": "wallet-classic"},
        "context": context or {"lot": "L7", "shift": "A", "material_batch": "hide-0412"},
    }


def sha(i):
    return f"{i:064x}"


def count_rows(store, table):
    with store.engine.connect() as c:
        return c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_open_creates_the_schema_with_named_constraints(db_url):
    store = open_store(db_url)
    assert store.revision == "0003"  # 0001 results, 0002 upload service, 0003 orders
    insp = sa.inspect(store.engine)
    assert {"goldens", "units", "results", "metrics", "alembic_version"} <= set(insp.get_table_names())
    assert insp.get_pk_constraint("units")["name"] == "pk_units"
    assert {u["name"] for u in insp.get_unique_constraints("units")} == {"uq_units_image_sha256_golden_id"}
    assert {f["name"] for f in insp.get_foreign_keys("metrics")} == {"fk_metrics_unit_id_units"}
    assert {i["name"] for i in insp.get_indexes("units")} >= {"ix_units_product_lot", "ix_units_recorded_utc"}
    store.close()


def test_migration_matches_the_models(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import goldenvision.orders.tables  # noqa: F401  (the service's and the orders' tables are in the same schema)
    import goldenvision.service.tables  # noqa: F401
    from goldenvision.store.models import Base

    store = open_store(db_url)
    with store.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    store.close()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    store = open_store(tmp_path / "wal.db")
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_record_result_is_idempotent_by_sha_and_golden(db_url):
    store = open_store(db_url)
    first = store.record_result(result(0), image_sha256=sha(1))
    again = store.record_result(result(0, width=24.8, context={"lot": "L8", "shift": "B"}), image_sha256=sha(1))
    assert first == again
    assert store.count() == 1 and count_rows(store, "results") == 1
    assert count_rows(store, "metrics") == 7
    (row,) = store.results()
    assert row["context"]["lot"] == "L8" and row["context"]["shift"] == "B"
    assert row["context"]["material_batch"] is None  # replaced, not merged with the old row
    assert row["metrics"]["dimension.strap_width.mm"] == pytest.approx(24.8)
    # another golden judging the same photo is another row
    store.record_result(result(0), image_sha256=sha(1), golden_id="99999999-2222-4333-8444-555555555555")
    assert store.count() == 2
    store.close()


def test_results_carry_context_metrics_and_limits(db_url):
    store = open_store(db_url)
    store.record_result(result(0), image_sha256=sha(1), file="photos/u0.png",
                        context={"station": "S2", "ambient_temp_c": 23, "humidity_pct": 51.5})
    (row,) = store.results()
    for key in ("image_sha256", "file", "verdict", "reasons", "golden_id", "context", "metrics"):
        assert key in row
    assert row["file"] == "photos/u0.png" and row["golden_id"] == GOLDEN and row["product"] == "wallet-classic"
    # the argument's fields override the result's context, the others are kept
    assert row["context"] == {"product": "wallet-classic", "lot": "L7", "station": "S2", "shift": "A", "operator": None,
                              "material_batch": "hide-0412", "ambient_temp_c": 23.0, "humidity_pct": 51.5}
    m = row["metrics"]
    assert m["color.panel.de00"] == 0.8 and m["color.panel.de00_target"] == 1.1
    assert m["color.panel.dL"] == pytest.approx(-1.0)
    assert m["color.panel.dC"] == pytest.approx(math.hypot(18, 12) - math.hypot(18, 11))
    # |ΔH*| is the CIE 1976 remainder; positive because the hue angle grew
    de76 = math.dist((30, 18, 12), (31, 18, 11))
    assert abs(m["color.panel.dH"]) == pytest.approx(math.sqrt(de76**2 - 1.0 - m["color.panel.dC"] ** 2), abs=1e-9)
    assert m["color.panel.dH"] > 0
    assert m["anomaly.buckle.score"] == 0.3
    assert row["limits"]["dimension.strap_width.mm"] == [24.5, 25.4]
    assert row["limits"]["color.panel.de00"] == [None, 1.5]
    json.dumps(row, allow_nan=False)
    store.close()


def test_lab_deltas_1976_sign_and_magnitude():
    d_l, d_c, d_h = lab_deltas_1976((50, 0, 20), (50, 20, 0))  # a quarter turn from red to yellow, same chroma
    assert (d_l, d_c) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert d_h == pytest.approx(math.dist((0, 20), (20, 0)))
    assert lab_deltas_1976((50, 20, 0), (50, 0, 20))[2] == pytest.approx(-d_h)


def test_results_filters_by_lot_since_and_product(db_url):
    store = open_store(db_url)
    for i in range(4):
        store.record_result(result(i, context={"lot": "L1" if i < 2 else "L2", "product": "wallet-classic"
                                               if i != 3 else "belt"}), image_sha256=sha(i))
    assert [r["file"] for r in store.results(lot="L2")] == ["unit_002.png", "unit_003.png"]
    assert [r["file"] for r in store.results(product="belt")] == ["unit_003.png"]
    assert len(store.results(since="2000-01-01")) == 4
    assert store.results(since="2999-01-01T00:00:00Z") == []
    with pytest.raises(StoreError, match="since="):
        store.results(since="yesterday")
    store.close()


def test_wrong_context_is_refused_before_anything_is_written(db_url):
    store = open_store(db_url)
    bad = [{"lot": 7}, {"humidity_pct": "humid"}, {"humidity_pct": 130.0}, {"ambient_temp_c": float("nan")},
           {"shift": True}, {"colour": 3}]  # a site's own key must carry a string
    for ctx in bad:
        with pytest.raises(ContextError) as info:
            store.record_result(result(0), image_sha256=sha(1), context=ctx)
        assert isinstance(info.value, (TypeError, ValueError)) and isinstance(info.value, GoldenVisionError)
        assert next(iter(ctx)) in str(info.value)
    assert store.count() == 0 and count_rows(store, "goldens") == 0 and count_rows(store, "metrics") == 0
    store.close()


def test_a_sites_own_context_keys_are_kept_in_the_result(db_url):
    store = open_store(db_url)
    r = result(0)
    r["context"] = {"lot": "L1", "line": "B2"}
    store.record_result(r, image_sha256=sha(1), context={"lot": "L1", "line": "B2"})
    row = store.results()[0]
    assert row["context"]["lot"] == "L1" and row["result"]["context"]["line"] == "B2"
    store.close()


def test_malformed_results_are_refused_with_the_field_named(db_url):
    store = open_store(db_url)
    with pytest.raises(ResultDataError, match="image_sha256"):
        store.record_result(result(0), image_sha256="abc")
    with pytest.raises(ResultDataError, match="verdict"):
        store.record_result(result(0, verdict="maybe"), image_sha256=sha(1))
    r = result(0)
    r["provenance"] = {}
    with pytest.raises(ResultDataError, match="golden_id"):
        store.record_result(r, image_sha256=sha(1))
    assert store.count() == 0
    store.close()


def test_record_golden_and_product_from_the_golden(db_url):
    store = open_store(db_url)
    store.record_golden(GOLDEN, "belt", {"golden_id": GOLDEN, "revision": "B", "manifest_sha256": "ab" * 32})
    r = result(0, context={"lot": "L1"})
    r["provenance"] = {"golden_id": GOLDEN}
    store.record_result(r, image_sha256=sha(5))
    assert store.results()[0]["product"] == "belt"
    (g,) = store.goldens()
    assert g["revision"] == "B" and g["manifest_sha256"] == "ab" * 32
    store.close()


def test_a_real_unit_result_goes_in(db_url):
    unit = UnitResult(
        verdict=Verdict.passed, reasons=(),
        registration=RegistrationResult(np.eye(3), ok=True, rms_px=0.2),
        color=(ColorResult("panel", (32.0, 18.2, 12.1), None, 0.4, 1.5, 1.2, Severity.major,
                           golden_lab=(32.1, 18.4, 12.0)),),
        dimensions=(DimensionResult("strap_width", 25.05, 25.0, 0.5, 0.5),),
        zone_scores={"buckle": np.float32(0.25)},
        provenance={"golden_id": GOLDEN, "product": "wallet-classic", "image_sha256": sha(9)},
        unit_id="u.png",
    )
    store = open_store(db_url)
    store.record_result(unit, context={"lot": "L1"})
    (row,) = store.results()
    assert row["image_sha256"] == sha(9) and row["file"] == "u.png"
    assert row["metrics"]["color.panel.dL"] == pytest.approx(-0.1)
    assert row["metrics"]["anomaly.buckle.score"] == pytest.approx(0.25)
    assert row["result"]["registration"]["ok"] is True
    store.close()


def test_newer_schema_is_refused_and_left_untouched(db_url):
    open_store(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaVersionError, match="newer") as info:
        open_store(db_url)
    assert isinstance(info.value, RuntimeError)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "9999"
    engine.dispose()


def test_unreachable_databases_give_a_clear_error(tmp_path):
    with pytest.raises(StoreUnavailableError, match="cannot connect or open"):
        open_store(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    with pytest.raises(StoreUnavailableError, match="127.0.0.1") as info:
        open_store("postgresql+psycopg://gv:secret@127.0.0.1:1/none")
    assert "secret" not in str(info.value) and isinstance(info.value, ConnectionError)
    with pytest.raises(StoreError, match="expected a sqlite"):
        open_store("mysql://u@h/db")


def test_concurrent_writers_on_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    open_store(url).close()
    errors = []

    def writer(offset):
        try:
            s = open_store(url)
            for i in range(15):
                s.record_result(result(offset + i), image_sha256=sha(offset + i))
                s.record_result(result(offset + i), image_sha256=sha(offset + i))  # re-score
            s.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    store = open_store(url)
    assert store.count() == 45 and count_rows(store, "metrics") == 45 * 7


def test_concurrent_first_opens_migrate_once(db_url):
    errors, revisions = [], []

    def opener():
        try:
            s = open_store(db_url)
            revisions.append(s.revision)
            s.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == [] and revisions == ["0003"] * 4


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

runner = CliRunner()


def cli_app():
    app = typer.Typer()
    register_commands(app)

    @app.callback()
    def main() -> None:  # keeps sub-command names with a single-command app
        pass

    return app


def test_cli_results_json_and_exit_codes(db_url, tmp_path):
    store = open_store(db_url)
    for i in range(3):
        store.record_result(result(i, context={"lot": "L1" if i else "L0"}), image_sha256=sha(i))
    store.close()
    app = cli_app()
    res = runner.invoke(app, ["results", "--db", db_url, "--json", "--lot", "L1"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["image_sha256"] for r in lines] == [sha(1), sha(2)]
    assert all(r["context"]["lot"] == "L1" and "metrics" in r for r in lines)
    assert runner.invoke(app, ["results", "--db", str(tmp_path / "none.db")]).exit_code == 66
    assert runner.invoke(app, ["results", "--db", "postgresql+psycopg://u@127.0.0.1:1/x"]).exit_code == 69
    assert runner.invoke(app, ["results", "--db", "oracle://u@h/x"]).exit_code == 64


def test_cli_drift_prints_alarms_and_writes_charts(tmp_path):
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    store = open_store(url)
    for r in drifting_lot(seed=0)[:200]:
        store.record_result(r)
    store.close()
    app = cli_app()
    out = tmp_path / "report"
    res = runner.invoke(app, ["drift", "--db", url, "--json", "--product", "wallet-classic", "--out", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["units"] == 200 and d["alarms"]
    for a in d["alarms"]:
        assert {"metric", "group", "rule", "first_unit", "direction"} <= set(a)
    assert any(a["metric"] == "color.panel.dL" and a["direction"] == "panel getting darker" for a in d["alarms"])
    page = (out / "index.html").read_text()
    assert "panel getting darker" in page and "ΔL* darker than batch hide-0412" in page
    assert len(list(out.glob("chart_*.png"))) == 6
    again = runner.invoke(app, ["drift", "--db", url, "--out", str(out)])
    assert again.exit_code == 73
    assert runner.invoke(app, ["drift", "--db", url, "--rules", "bogus"]).exit_code == 64
