"""Spec sheet: the ARCHITECTURE example loads; bad specs fail with the field path."""

import json

import pytest

from goldenvision.errors import SpecError
from goldenvision.spec import Severity, load_spec, spec_json_schema

EXAMPLE = """
product: wallet-classic
revision: B
scale_mm_per_px: 0.1
registration: auto
colors:
  - name: panel
    region: [[120, 80], [900, 80], [900, 600], [120, 600]]
    target: {lab: [32.1, 18.4, 12.0], illuminant: D65, observer: 10, name: "PANTONE 19-1557 TCX"}
    tolerance_de00: 1.5
    weights: [2, 1, 1]
    severity: major
dimensions:
  - name: strap_width
    caliper: {center: [512, 700], angle_deg: 90, length_px: 300, width_px: 20}
    measure: width
    nominal_mm: 25.0
    tolerance_mm: [-0.5, 0.5]
    severity: major
anomaly_zones:
  - name: buckle
    region: full
    defect_type: plating
    sensitivity: 1.0
    severity: major
aql: {level: II, critical: 0.0, major: 2.5, minor: 4.0}
"""


def test_architecture_example_loads(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(EXAMPLE)
    spec = load_spec(path)
    assert spec.product == "wallet-classic"
    assert spec.colors[0].weights == (2.0, 1.0, 1.0)
    assert spec.colors[0].target.lab == (32.1, 18.4, 12.0)
    d = spec.dimensions[0]
    assert (d.nominal_mm, d.tol_minus_mm, d.tol_plus_mm) == (25.0, 0.5, 0.5)
    assert spec.anomaly_zones[0].severity is Severity.major
    assert spec.aql.major == 2.5
    # round trip through the JSON form
    assert load_spec(spec.to_dict()) == spec
    assert load_spec(EXAMPLE) == spec


def test_minimal_spec_registration_and_one_zone():
    spec = load_spec({"product": "pcb", "registration": "none", "anomaly_zones": [{"name": "all"}]})
    assert spec.anomaly_zones[0].region == "full"
    assert spec.colors == [] and spec.dimensions == []


@pytest.mark.parametrize(
    "patch, path_fragment",
    [
        ({"colors": [{"name": "p", "region": "full", "tolerance_de00": -1}]}, "colors[0].tolerance_de00"),
        ({"colors": [{"name": "p", "region": "full", "tolerence_de00": 1}]}, "colors[0].tolerence_de00: unknown key"),
        ({"colors": [{"name": "p", "region": [[0, 0], [1, 1]], "tolerance_de00": 1}]}, "colors[0].region"),
        ({"colors": [{"name": "p", "region": "full", "tolerance_de00": 1, "target": {"lab": [120, 0, 0]}}]},
         "colors[0].target.lab"),
        ({"dimensions": [{"name": "w", "caliper": {"center": [1, 1], "angle_deg": 0, "length_px": 50},
                          "nominal_mm": 10, "tolerance_mm": [0.5, 0.5]}], "scale_mm_per_px": 0.1},
         "dimensions[0].tolerance_mm"),
        ({"dimensions": [{"name": "w", "measure": "diameter", "nominal_mm": 10, "tolerance_mm": [-1, 1]}],
          "scale_mm_per_px": 0.1}, "diameter"),
        ({"aql": {"major": 3.0}}, "aql.major"),
        ({"scale_mm_per_px": 0}, "scale_mm_per_px"),
        ({"registration": "magic"}, "registration"),
    ],
)
def test_bad_spec_names_the_field(patch, path_fragment):
    data = {"product": "x", **patch}
    with pytest.raises(SpecError) as info:
        load_spec(data)
    assert path_fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_files(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("product: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(bad)


def test_duplicate_zone_names_refused():
    with pytest.raises(SpecError, match="duplicates"):
        load_spec({"product": "x", "anomaly_zones": [{"name": "a"}, {"name": "a"}]})


def test_dimensions_need_a_scale():
    dim = {"name": "w", "caliper": {"center": [1, 1], "angle_deg": 0, "length_px": 50},
           "nominal_mm": 10, "tolerance_mm": [-0.5, 0.5]}
    with pytest.raises(SpecError, match="scale_mm_per_px"):
        load_spec({"product": "x", "dimensions": [dim]})


def test_schema_is_json():
    schema = spec_json_schema()
    text = json.dumps(schema)
    assert "tolerance_de00" in text and "anomaly_zones" in schema["properties"]


def test_enums_live_in_goldenvision_enums_and_are_reexported():
    from goldenvision import enums, results, spec

    assert spec.Severity is enums.Severity is results.Severity
    assert spec.DefectType is enums.DefectType is results.DefectType
    assert results.Verdict is enums.Verdict
    assert [s.value for s in enums.Severity] == ["critical", "major", "minor"]
    assert [v.value for v in enums.Verdict] == ["pass", "fail", "review"] and str(enums.Verdict.passed) == "pass"
    assert load_spec({"product": "x", "anomaly_zones": [{"name": "a", "defect_type": "plating"}]}).anomaly_zones[0] \
        .defect_type is enums.DefectType.plating


#: Numeric spec fields without a physical unit: ΔE00 weights, a factor, AQLs (percent by ISO 2859-1's own
#: definition, named by defect class in the YAML contract), CIELAB values and points (golden px, as documented),
#: an ArUco marker's id (an identifier, not a quantity).
UNITLESS = {"weights", "sensitivity", "critical", "major", "minor", "lab", "center", "observer", "id"}
UNIT_SUFFIXES = ("_de00", "_dl", "_mm", "_mm2", "_px", "_deg", "_mm_per_px")  # _dl: CIELAB ΔL* units


def test_every_numeric_spec_field_names_its_unit():
    schema = spec_json_schema()
    numeric = []
    for model in [schema, *schema["$defs"].values()]:
        for key, prop in model.get("properties", {}).items():
            types = {prop.get("type")} | {a.get("type") for a in prop.get("anyOf", [])}
            if types & {"number", "integer", "array"} and key not in UNITLESS and "$ref" not in str(prop):
                numeric.append(key)
    assert {"tolerance_de00", "nominal_mm", "tolerance_mm", "scale_mm_per_px", "angle_deg"} <= set(numeric)
    missing = [k for k in numeric if not k.endswith(UNIT_SUFFIXES) and k not in
               {"region", "colors", "dimensions", "anomaly_zones", "required_signatures"}]
    assert not missing, missing
