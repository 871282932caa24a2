"""deploy/grafana, checked offline (Grafana and InfluxDB cannot run here).

* Every YAML and JSON file parses; provisioning has the documented shape.
* Data sources: fixed uids, and every reference in the dashboards (panels,
  queries, annotations, variables) names a provisioned uid of the right type.
  URLs point at the compose services; every ``${VAR}`` Grafana expands is
  passed to its container by docker-compose.yml and documented in .env.example.
* Dashboards: unique uids, unique panel ids, the schemaVersion of the pinned
  Grafana, a ``session`` variable.
* The contract with the processor: every Flux query names only measurements,
  fields and tags that the processor writes, taken from
  ``gazewire.processor.outputs.measurements`` (its single definition), never copied.
  Numeric aggregations only touch numeric fields. The agent-state mapping is
  ``AGENT_STATE_CODES``.
* The contract with the wire: every MQTT topic is a topic of
  ``gazewire.wire.topics`` (``$session`` substituted), and every field an MQTT
  panel picks exists in that channel's message model (``gazewire.wire.messages``).

Every check is a function returning a list of problems, and each is shown to
find a deliberately broken input (the ``*_catches_*`` tests), so a green run
means something.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel

from gazewire.errors import InvalidSessionId, InvalidTopic
from gazewire.wire.messages import MESSAGES, AgentState
from gazewire.wire.topics import Topics
from gazewire.processor.outputs import measurements as processor_measurements
from gazewire.processor.outputs.measurements import AGENT_STATE_CODES, MEASUREMENTS, Field, Measurement
from tests.deploy.test_compose import environment, load_compose, parse_env_file

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources"
PROVIDERS = GRAFANA / "provisioning" / "dashboards"
DASHBOARDS = GRAFANA / "dashboards"

# schemaVersion that each pinned Grafana minor writes (11.6: 41; 11.3-11.5: 40; 11.0-11.2: 39)
SCHEMA_VERSION_BY_GRAFANA = {"11.6": 41, "11.5": 40, "11.4": 40, "11.3": 40, "11.2": 39, "11.1": 39, "11.0": 39}
BUILTIN_UIDS = {"-- Grafana --", "-- Dashboard --", "-- Mixed --"}
STANDARD_COLUMNS = {"_time", "_value", "_field", "_measurement", "_start", "_stop"}
NUMERIC_FUNCTIONS = ("mean", "sum", "median", "stddev", "spread", "integral", "derivative", "quantile",
                     "max", "min", "histogram")
SAMPLE_SESSION = "P07"
TOPICS = Topics()  # the default prefix, lab: the dashboards' topics


# --------------------------------------------------------------------------- loading


def yaml_files() -> list[Path]:
    return sorted(GRAFANA.rglob("*.yaml")) + sorted(GRAFANA.rglob("*.yml"))


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load_dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in dashboard_files()}


def provisioned_datasources() -> dict[str, dict]:
    found: dict[str, dict] = {}
    for path in sorted(DATASOURCES.glob("*.y*ml")):
        for source in yaml.safe_load(path.read_text()).get("datasources", []):
            assert source["uid"] not in found, f"data source uid {source['uid']} twice"
            found[source["uid"]] = source
    return found


def all_panels(panels: Iterable[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))  # collapsed rows


def datasource_refs(dashboard: dict) -> Iterator[tuple[str, Any]]:
    """(where, datasource reference) for every reference in a dashboard."""
    for panel in all_panels(dashboard.get("panels", [])):
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        if "datasource" in panel:
            yield where, panel["datasource"]
        for target in panel.get("targets", []):
            if "datasource" in target:
                yield f"{where} query {target.get('refId')}", target["datasource"]
    for annotation in dashboard.get("annotations", {}).get("list", []):
        yield f"annotation {annotation.get('name')!r}", annotation.get("datasource")
    for variable in dashboard.get("templating", {}).get("list", []):
        if "datasource" in variable:
            yield f"variable {variable.get('name')!r}", variable["datasource"]


@dataclass
class Query:
    where: str
    datasource_uid: str
    text: str
    kind: str  # "panel", "annotation", "variable"


def queries(dashboard: dict, datasource_type: str, key: str) -> list[Query]:
    """Every query of one data source type; ``key`` is the query's text attribute (query, topic)."""
    sources = provisioned_datasources()
    found: list[Query] = []

    def uid_of(ref: Any) -> str | None:
        return ref.get("uid") if isinstance(ref, dict) else None

    def of_type(uid: str | None) -> bool:
        return uid in sources and sources[uid]["type"] == datasource_type

    for panel in all_panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            uid = uid_of(target.get("datasource", panel.get("datasource")))
            if of_type(uid) and key in target:
                found.append(Query(f"panel {panel['id']} {panel['title']!r} {target['refId']}", uid, target[key],
                                   "panel"))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        uid = uid_of(annotation.get("datasource"))
        target = annotation.get("target") or {}
        if of_type(uid) and key in target:
            found.append(Query(f"annotation {annotation['name']!r}", uid, target[key], "annotation"))
    for variable in dashboard.get("templating", {}).get("list", []):
        uid = uid_of(variable.get("datasource"))
        if of_type(uid) and variable.get("type") == "query":
            text = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            found.append(Query(f"variable {variable['name']!r}", uid, text, "variable"))
    return found


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict]:
    return load_dashboards()


# --------------------------------------------------------------------------- files parse, provisioning shape


def test_there_is_something_to_check() -> None:
    assert [p.name for p in dashboard_files()] == ["live-session.json", "session-history.json"]
    assert len(yaml_files()) == 2


@pytest.mark.parametrize("path", yaml_files() + dashboard_files(), ids=lambda p: str(p.relative_to(GRAFANA)))
def test_every_file_parses(path: Path) -> None:
    document = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    assert isinstance(document, dict) and document


def test_datasources_are_provisioned_with_fixed_uids() -> None:
    sources = provisioned_datasources()
    assert set(sources) == {"gazewire-influxdb", "gazewire-mqtt"}
    influx, mqtt = sources["gazewire-influxdb"], sources["gazewire-mqtt"]
    assert influx["type"] == "influxdb" and influx["access"] == "proxy"
    assert influx["jsonData"]["version"] == "Flux"
    assert influx["jsonData"]["organization"] == "${INFLUXDB_ORG}"
    assert influx["jsonData"]["defaultBucket"] == "${INFLUXDB_BUCKET}"
    assert influx["secureJsonData"] == {"token": "${INFLUXDB_TOKEN}"}
    assert "token" not in influx["jsonData"] and "password" not in mqtt["jsonData"]
    assert mqtt["type"] == "grafana-mqtt-datasource"
    assert mqtt["jsonData"]["uri"] == "tcp://mosquitto:1883"
    assert mqtt["jsonData"]["username"] == "${GRAFANA_MQTT_USER}"
    assert mqtt["secureJsonData"] == {"password": "${GRAFANA_MQTT_PASSWORD}"}
    assert [s for s in sources.values() if s.get("isDefault")] == [influx]


def test_datasource_addresses_are_the_compose_services() -> None:
    compose = load_compose()
    sources = provisioned_datasources()
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", sources["gazewire-influxdb"]["url"]).groups()
    assert host in compose["services"] and port == "8086"
    host, port = re.fullmatch(r"tcp://([\w-]+):(\d+)", sources["gazewire-mqtt"]["jsonData"]["uri"]).groups()
    assert host in compose["services"] and f"listener {port}" in (REPO / "deploy/mosquitto/mosquitto.conf").read_text()


def provisioning_variables() -> set[str]:
    """Every environment variable Grafana expands in the provisioning files (comments aside)."""
    found = set()
    for path in yaml_files():
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("#"):
                continue
            for braced, env in re.findall(r"\$\{(\w+)\}|\$__env\{(\w+)\}", line):
                found.add(braced or env)
    return found


def test_provisioning_variables_are_passed_to_grafana_and_documented() -> None:
    used = provisioning_variables()
    assert used == {"INFLUXDB_ORG", "INFLUXDB_BUCKET", "INFLUXDB_TOKEN", "GRAFANA_MQTT_USER", "GRAFANA_MQTT_PASSWORD"}
    grafana_env = environment(load_compose()["services"]["grafana"])
    documented, comments = parse_env_file()
    for name in sorted(used):
        assert name in grafana_env, f"docker-compose.yml does not pass {name} to grafana"
        # the compose side takes it from .env, where it is documented (INFLUXDB_TOKEN comes from
        # INFLUXDB_GRAFANA_TOKEN or INFLUXDB_ADMIN_TOKEN)
        sources = set(re.findall(r"\$\{(\w+)", grafana_env[name]))
        assert sources and sources <= set(documented), f"{name} <- {sources}"
        assert all(comments[source] for source in sources)


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    providers = [p for path in sorted(PROVIDERS.glob("*.y*ml")) for p in yaml.safe_load(path.read_text())["providers"]]
    assert len(providers) == 1
    provider = providers[0]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    grafana = load_compose()["services"]["grafana"]
    mounts = {target: source for source, target, *_ in (v.split(":") for v in grafana["volumes"])}
    assert mounts[provider["options"]["path"]] == "./" + str(DASHBOARDS.relative_to(REPO))
    assert mounts["/etc/grafana/provisioning/datasources"] == "./" + str(DATASOURCES.relative_to(REPO))
    assert mounts["/etc/grafana/provisioning/dashboards"] == "./" + str(PROVIDERS.relative_to(REPO))
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent == Path(provider["options"]["path"]) and (DASHBOARDS / Path(home).name).is_file()


# --------------------------------------------------------------------------- dashboards: uids, ids, schema


def problems_datasource_refs(dashboard: dict, sources: dict[str, dict]) -> list[str]:
    problems = []
    for where, ref in datasource_refs(dashboard):
        if not isinstance(ref, dict) or "uid" not in ref:
            problems.append(f"{where}: datasource {ref!r} is not a {{type, uid}} reference")
        elif ref["uid"] in BUILTIN_UIDS:
            continue
        elif ref["uid"] not in sources:
            problems.append(f"{where}: datasource uid {ref['uid']!r} is not provisioned")
        elif ref.get("type") != sources[ref["uid"]]["type"]:
            problems.append(f"{where}: uid {ref['uid']!r} is a {sources[ref['uid']]['type']}, not {ref.get('type')}")
    return problems


def problems_panel_ids(dashboard: dict) -> list[str]:
    ids = [panel.get("id") for panel in all_panels(dashboard.get("panels", []))]
    problems = [f"panel without an integer id: {i!r}" for i in ids if not isinstance(i, int)]
    problems += [f"panel id {i} used {ids.count(i)} times" for i in sorted({i for i in ids if ids.count(i) > 1})]
    return problems


def test_datasource_references_exist(dashboards: dict) -> None:
    sources = provisioned_datasources()
    for name, dashboard in dashboards.items():
        assert problems_datasource_refs(dashboard, sources) == [], name
        assert {ref["uid"] for _, ref in datasource_refs(dashboard)} - BUILTIN_UIDS, name


def test_datasource_check_catches_unknown_and_mistyped_uids(dashboards: dict) -> None:
    broken = copy.deepcopy(dashboards["session-history.json"])
    broken["panels"][0]["targets"][0]["datasource"] = {"type": "influxdb", "uid": "influx-typo"}
    broken["panels"][1]["datasource"] = {"type": "prometheus", "uid": "gazewire-influxdb"}
    broken["templating"]["list"][0]["datasource"] = "gazewire InfluxDB"
    problems = problems_datasource_refs(broken, provisioned_datasources())
    assert len(problems) == 3, problems
    assert any("uid 'influx-typo' is not provisioned" in p for p in problems), problems
    assert any("is a influxdb, not prometheus" in p for p in problems), problems
    assert any("'gazewire InfluxDB' is not a {type, uid} reference" in p for p in problems), problems


def test_panel_ids_are_unique(dashboards: dict) -> None:
    for name, dashboard in dashboards.items():
        assert problems_panel_ids(dashboard) == [], name
        titles = [panel["title"] for panel in all_panels(dashboard["panels"])]
        assert len(titles) == len(set(titles)), name


def test_panel_id_check_catches_duplicates(dashboards: dict) -> None:
    broken = copy.deepcopy(dashboards["live-session.json"])
    broken["panels"][2]["id"] = broken["panels"][0]["id"]
    broken["panels"].append({"type": "row", "title": "r", "id": 99, "panels": [{"id": 99, "title": "x"}]})
    assert len(problems_panel_ids(broken)) == 2


def test_dashboard_uids_and_titles_are_unique(dashboards: dict) -> None:
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid) for uid in uids)  # Grafana's uid limit
    assert sorted(d["title"] for d in dashboards.values()) == ["Live session", "Session history"]
    assert all(d["id"] is None and "gazewire" in d["tags"] for d in dashboards.values())


def pinned_grafana_minor() -> str:
    image = load_compose()["services"]["grafana"]["image"]
    return ".".join(image.rpartition(":")[2].split(".")[:2])


def test_schema_version_is_the_pinned_grafanas(dashboards: dict) -> None:
    expected = SCHEMA_VERSION_BY_GRAFANA[pinned_grafana_minor()]
    for name, dashboard in dashboards.items():
        assert dashboard["schemaVersion"] == expected, name


def test_panels_are_laid_out_without_overlap(dashboards: dict) -> None:
    for name, dashboard in dashboards.items():
        cells: dict[tuple[int, int], int] = {}
        for panel in dashboard["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (name, panel["title"])
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, f"{name}: {panel['title']!r} overlaps panel {cells[(x, y)]}"
                    cells[(x, y)] = panel["id"]


# --------------------------------------------------------------------------- the session variable


def session_variable(dashboard: dict) -> dict:
    found = [v for v in dashboard["templating"]["list"] if v["name"] == "session"]
    assert len(found) == 1
    return found[0]


def test_history_lists_sessions_from_influxdb(dashboards: dict) -> None:
    variable = session_variable(dashboards["session-history.json"])
    assert variable["type"] == "query" and variable["datasource"]["uid"] == "gazewire-influxdb"
    text = variable["query"]["query"]
    assert text == variable["definition"]
    assert 'import "influxdata/influxdb/schema"' in text
    assert re.search(r'schema\.tagValues\(bucket: v\.defaultBucket, tag: "session"', text)
    assert variable["multi"] is False and variable["includeAll"] is False and variable["refresh"] == 2


def test_live_session_is_typed_in(dashboards: dict) -> None:
    variable = session_variable(dashboards["live-session.json"])
    assert variable["type"] in ("textbox", "custom")
    from gazewire.wire.sessions import validate_session_id

    validate_session_id(variable["query"])


def test_every_session_panel_uses_the_variable(dashboards: dict) -> None:
    for name, dashboard in dashboards.items():
        for query in queries(dashboard, "influxdb", "query") + queries(dashboard, "grafana-mqtt-datasource", "topic"):
            if query.kind == "variable" or "/_sys/" in query.text:
                continue
            assert re.search(r"\$\{session\}|\$session\b", query.text), f"{name}: {query.where}"


# --------------------------------------------------------------------------- the recording picker

ALL_OR_THE_RECORDING = 'filter(fn: (r) => "${recording}" == "*" or r.recording == "${recording}")'


def recording_variable(dashboard: dict) -> dict:
    found = [v for v in dashboard["templating"]["list"] if v["name"] == "recording"]
    assert len(found) == 1
    return found[0]


def recorded_measurements() -> set[str]:
    """The measurements the processor tags with the recording (measurements.py)."""
    return {m.name for m in MEASUREMENTS if processor_measurements.RECORDING in m.tags}


def test_history_picks_a_recording_by_the_tag_the_processor_writes(dashboards: dict) -> None:
    dashboard = dashboards["session-history.json"]
    variable = recording_variable(dashboard)
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names.index("recording") > names.index("session")  # its query depends on the session
    assert variable["type"] == "query" and variable["datasource"]["uid"] == "gazewire-influxdb"
    text = variable["query"]["query"]
    assert text == variable["definition"]
    assert flux_names(text).tag_values == {processor_measurements.RECORDING.name} == {"recording"}
    assert 'predicate: (r) => r.session == "${session}"' in text
    assert check_flux(text) == []
    # "All" is the whole session, recorded or not: "*" is no recording id (gazewire.wire.messages.ID_PATTERN)
    from gazewire.wire.messages import ID_PATTERN

    assert variable["includeAll"] is True and variable["allValue"] == "*" and not re.fullmatch(ID_PATTERN, "*")
    assert variable["multi"] is False and variable["refresh"] == 2


def test_every_history_query_of_a_recorded_measurement_follows_the_picker(dashboards: dict) -> None:
    tagged = recorded_measurements()
    assert {"gaze", "fixation", "alert", "aoi_visit", "marker"} <= tagged and "agent_status" not in tagged
    followed = 0
    for query in queries(dashboards["session-history.json"], "influxdb", "query"):
        if query.kind == "variable":
            continue
        measurements = flux_names(query.text).measurements
        if measurements <= tagged:
            assert ALL_OR_THE_RECORDING in query.text, query.where
            followed += 1
        else:  # the agent's statuses have no recording tag: they follow the session only
            assert "${recording}" not in query.text, query.where
    assert followed >= 12


def test_the_processor_tags_what_the_picker_selects() -> None:
    """Points built by the processor's own code carry the recording tag inside a
    recording, and none between recordings (what "All" adds)."""
    import json as jsonlib

    from gazewire.processor.outputs.points import points_of
    from gazewire.processor.pipeline.outcome import Outcome
    from gazewire.wire.messages import GazeBatch, Marker

    columns = {name: [0] for name in ("seq", "device_time_us", "system_time_us", "utc_us", "left_valid",
                                      "left_pupil_valid", "left_origin_valid", "right_valid", "right_pupil_valid",
                                      "right_origin_valid")}
    columns |= {name: [None] for name in ("x", "y", "left_x", "left_y", "left_pupil", "left_origin_x",
                                          "left_origin_y", "left_origin_z", "right_x", "right_y", "right_pupil",
                                          "right_origin_x", "right_origin_y", "right_origin_z")}
    columns["eye"] = ["none"]
    for recording in ("20261130T101500Z-3f9a", None):
        batch = GazeBatch.model_validate_json(jsonlib.dumps({
            "v": 1, "session": "room1", "device": "TPSP1", "batch_seq": 0, "first_seq": 0, "count": 1,
            "clock_offset_us": 0, "columns": columns, "recording": recording}))
        marker = Marker.model_validate({"v": 1, "session": "room1", "name": "stim", "utc_ns": 1, "source": "command",
                                        "utc": "1970-01-01T00:00:00Z",
                                        "recording": recording})
        points = points_of(Outcome(batches=[batch], markers=[marker]))
        assert {p.measurement for p in points} == {"gaze", "marker"}
        for point in points:
            assert point.tags.get(processor_measurements.RECORDING.name) == recording


def test_the_recording_filter_is_checked_against_the_processor_definitions() -> None:
    untagged = [Measurement(m.name, m.description, m.time,
                            tuple(t for t in m.tags if t is not processor_measurements.RECORDING), m.fields)
                for m in MEASUREMENTS]
    query = GOOD.replace('r.session == "${session}")\n', f'r.session == "${{session}}")\n  |> {ALL_OR_THE_RECORDING}\n')
    assert check_flux(query) == []
    assert check_flux(query, untagged) == ["column r.recording is not a tag or field of gaze"]


# --------------------------------------------------------------------------- Flux: the processor's names


@dataclass
class FluxNames:
    measurements: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    columns: set[str] = field(default_factory=set)  # r.<name>, r["name"]
    listed: set[str] = field(default_factory=set)  # group/keep/drop/sort columns, pivot keys, valueColumn
    tag_values: set[str] = field(default_factory=set)  # schema.tagValues(tag: ...)
    computed: set[str] = field(default_factory=set)  # record keys made by map()/reduce()
    numeric: bool = False  # a numeric aggregation is applied


def _calls(text: str, name: str) -> Iterator[str]:
    """The argument text of every ``name(...)`` call (balanced parentheses)."""
    for match in re.finditer(rf"\b{name}\s*\(", text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield text[match.end() : i - 1]


def _quoted(text: str) -> set[str]:
    return set(re.findall(r'"([^"]*)"', text))


def flux_names(text: str) -> FluxNames:
    """The measurements, fields, columns and tags a Flux query names (see the module docstring)."""
    names = FluxNames()
    column = r'r(?:\.{0}|\[\s*"{0}"\s*\])'
    names.measurements = set(re.findall(column.format("_measurement") + r'\s*==\s*"([^"]+)"', text))
    names.measurements |= {m for args in _calls(text, "measurementTagValues")
                           for m in re.findall(r'measurement\s*:\s*"([^"]+)"', args)}
    names.fields = set(re.findall(column.format("_field") + r'\s*==\s*"([^"]+)"', text))
    names.columns = set(re.findall(r"\br\.([A-Za-z_]\w*)", text)) | set(re.findall(r'\br\[\s*"([^"]+)"\s*\]', text))
    for key in ("columns", "rowKey", "columnKey"):
        for listed in re.findall(rf"\b{key}\s*:\s*\[([^\]]*)\]", text):
            names.listed |= _quoted(listed)
    names.listed |= set(re.findall(r'\bvalueColumn\s*:\s*"([^"]+)"', text))
    for args in list(_calls(text, "tagValues")) + list(_calls(text, "measurementTagValues")):
        names.tag_values |= set(re.findall(r'\btag\s*:\s*"([^"]+)"', args))
    for function in ("map", "reduce"):
        for args in _calls(text, function):
            names.computed |= set(re.findall(r"(?:\{|,|\bwith)\s*([A-Za-z_]\w*)\s*:", args))
    names.numeric = bool(re.search(rf"(?:\|>\s*|\bfn\s*:\s*)(?:{'|'.join(NUMERIC_FUNCTIONS)})\b", text))
    return names


def check_flux(text: str, known: Sequence[Measurement] = MEASUREMENTS) -> list[str]:
    """Problems of one Flux query against the processor's measurement definitions."""
    by_name = {m.name: m for m in known}
    names = flux_names(text)
    problems = [f"unknown measurement {m!r} (the processor writes {sorted(by_name)})"
                for m in sorted(names.measurements - set(by_name))]
    named = [by_name[m] for m in sorted(names.measurements) if m in by_name]
    if not names.measurements and not names.tag_values:
        problems.append("names no measurement (filter on r._measurement)")
    scope = named or list(known)
    tags = {t for m in scope for t in m.tag_names}
    fields: dict[str, Field] = {f.name: f for m in scope for f in m.fields}
    where = "/".join(m.name for m in named) or "any measurement"
    for name in sorted(names.fields - set(fields)):
        problems.append(f"field {name!r} is not a field of {where}")
    allowed = STANDARD_COLUMNS | tags | set(fields) | names.computed
    for name in sorted(names.columns - allowed):
        problems.append(f"column r.{name} is not a tag or field of {where}")
    for name in sorted(names.listed - allowed):
        problems.append(f"column {name!r} (group/keep/sort/pivot) is not a tag or field of {where}")
    for name in sorted(names.tag_values - tags):
        problems.append(f"tagValues tag {name!r} is not a tag of {where}")
    if names.numeric:
        for name in sorted(names.fields & set(fields)):
            if fields[name].kind not in ("float", "integer"):
                problems.append(f"field {name!r} is {fields[name].kind}: no numeric aggregation")
    return problems


def all_flux_queries() -> list[tuple[str, Query]]:
    return [(name, q) for name, d in load_dashboards().items() for q in queries(d, "influxdb", "query")]


def test_dashboards_use_flux_queries() -> None:
    found = all_flux_queries()
    assert len(found) >= 15
    kinds = {q.kind for _, q in found}
    assert kinds == {"panel", "annotation", "variable"}


@pytest.mark.parametrize(("name", "query"), all_flux_queries(), ids=lambda v: v.where if isinstance(v, Query) else v)
def test_flux_names_only_what_the_processor_writes(name: str, query: Query) -> None:
    assert check_flux(query.text) == [], f"{name}: {query.where}\n{query.text}"


def test_dashboards_cover_what_the_issue_asks_for() -> None:
    """Gaze, pupil, fixation durations, alerts, data quality (valid samples), AOI visits, markers;
    saccades (main sequence), smooth pursuit and blinks (issue 13)."""
    used: dict[str, set[str]] = {}
    for _, query in all_flux_queries():
        names = flux_names(query.text)
        for measurement in names.measurements:
            used.setdefault(measurement, set()).update(names.fields)
    assert {"x", "y", "pupil", "valid"} <= used["gaze"]
    assert "duration_ms" in used["fixation"]
    assert {"active", "severity", "details"} <= used["alert"]
    assert "dwell_ms" in used["aoi_visit"]
    assert "state_code" in used["agent_status"]
    assert "name" in used["marker"]
    assert {"amplitude_deg", "peak_velocity_deg_s"} <= used["saccade"]
    assert {"duration_ms", "mean_velocity_deg_s"} <= used["pursuit"]
    assert "duration_ms" in used["blink"]


def test_flux_names_are_read_from_the_query() -> None:
    names = flux_names(
        'from(bucket: v.defaultBucket)\n'
        '  |> filter(fn: (r) => r._measurement == "gaze" and r["session"] == "${session}")\n'
        '  |> filter(fn: (r) => r._field == "x" or r["_field"] == "y")\n'
        '  |> group(columns: ["_field", "device"])\n'
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> map(fn: (r) => ({r with norm: r.x + r.y}))\n'
        '  |> aggregateWindow(every: v.windowPeriod, fn: mean)'
    )
    assert names.measurements == {"gaze"} and names.fields == {"x", "y"}
    assert names.columns == {"_measurement", "session", "_field", "x", "y"}
    assert names.listed == {"_field", "device", "_time", "_value"}
    assert names.computed == {"norm"} and names.numeric


GOOD = (
    'from(bucket: v.defaultBucket)\n'
    '  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n'
    '  |> filter(fn: (r) => r._measurement == "gaze" and r.session == "${session}")\n'
    '  |> filter(fn: (r) => r._field == "valid")\n'
    '  |> group(columns: ["_field"])\n'
    '  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)'
)


@pytest.mark.parametrize(("before", "after", "problem"), [
    ('r._field == "valid"', 'r._field == "vaild"', "field 'vaild' is not a field of gaze"),
    ('r._field == "valid"', 'r._field == "duration_ms"', "field 'duration_ms' is not a field of gaze"),
    ('r._measurement == "gaze"', 'r._measurement == "gazes"', "unknown measurement 'gazes'"),
    ("r.session ==", "r.sesion ==", "column r.sesion is not a tag or field of gaze"),
    ('group(columns: ["_field"])', 'group(columns: ["_field", "aoi"])', "column 'aoi' (group/keep/sort/pivot)"),
    ('r._field == "valid"', 'r._field == "eye"', "field 'eye' is string: no numeric aggregation"),
    ('r._measurement == "gaze" and ', "", "names no measurement"),
])
def test_flux_check_catches_wrong_names(before: str, after: str, problem: str) -> None:
    assert check_flux(GOOD) == []
    broken = GOOD.replace(before, after)
    assert broken != GOOD
    assert any(problem in found for found in check_flux(broken)), check_flux(broken)


def test_flux_check_catches_a_wrong_tag_values_tag() -> None:
    good = 'import "influxdata/influxdb/schema"\nschema.tagValues(bucket: v.defaultBucket, tag: "session")'
    assert check_flux(good) == []
    assert check_flux(good.replace('"session"', '"sessions"')) == [
        "tagValues tag 'sessions' is not a tag of any measurement"]


def test_flux_check_follows_the_processor_definitions() -> None:
    """Rename a field in (a copy of) the definitions: the same query stops passing."""
    renamed = [
        Measurement(m.name, m.description, m.time, m.tags,
                    tuple(Field("valid_gaze" if f.name == "valid" else f.name, f.kind, f.unit, f.description)
                          for f in m.fields))
        for m in MEASUREMENTS
    ]
    assert check_flux(GOOD, renamed) == ["field 'valid' is not a field of gaze"]
    assert processor_measurements.MEASUREMENTS is MEASUREMENTS  # the module the processor itself uses


def test_every_dashboard_query_fails_against_other_definitions() -> None:
    """No query passes vacuously: with every field renamed, each one that names a field is caught."""
    mangled = [Measurement(m.name, m.description, m.time, m.tags,
                           tuple(Field(f.name + "_x", f.kind, f.unit, f.description) for f in m.fields))
               for m in MEASUREMENTS]
    for name, query in all_flux_queries():
        if flux_names(query.text).fields:
            assert check_flux(query.text, mangled), f"{name}: {query.where}"


def test_agent_state_mapping_is_the_processors(dashboards: dict) -> None:
    panel = next(p for p in dashboards["session-history.json"]["panels"] if p["title"] == "Agent state")
    (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
    assert {int(code): entry["text"] for code, entry in mapping["options"].items()} == {
        code: state for state, code in AGENT_STATE_CODES.items()}
    assert set(AGENT_STATE_CODES) == set(get_args(AgentState))


def test_alert_timeline_maps_the_active_field(dashboards: dict) -> None:
    panel = next(p for p in dashboards["session-history.json"]["panels"] if p["title"] == "Alerts")
    (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
    assert {code: entry["text"] for code, entry in mapping["options"].items()} == {"0": "cleared", "1": "raised"}
    assert processor_measurements.ALERT.field("active").unit == "0/1"


# --------------------------------------------------------------------------- MQTT: the wire contract


def topic_model(topic: str, topics: Topics = TOPICS) -> type[BaseModel] | str:
    """The message model of a panel's topic, or a string saying why the topic is wrong."""
    concrete = topic.replace("${session}", SAMPLE_SESSION).replace("$session", SAMPLE_SESSION)
    if "$" in concrete:
        return f"topic {topic!r}: unknown variable"
    if concrete == topics.every_processor_status():
        return MESSAGES["processor/status"]
    try:
        session, channel = topics.parse(concrete)
        if topics.for_session(session, channel) != concrete:
            return f"topic {topic!r} is not how gazewire.wire.topics builds it"
    except (InvalidTopic, InvalidSessionId) as error:
        return f"topic {topic!r}: {error}"
    return MESSAGES[channel.value]


def panel_field_names(panel: dict) -> tuple[set[str], set[str]]:
    """(field names a panel refers to, fields it extracts from a JSON object field)."""
    names: set[str] = set()
    extracted: set[str] = set()
    for transformation in panel.get("transformations", []):
        options = transformation.get("options", {})
        if transformation["id"] == "filterFieldsByName":
            names |= set(options.get("include", {}).get("names", []))
        elif transformation["id"] == "filterByValue":
            names |= {f["fieldName"] for f in options.get("filters", [])}
        elif transformation["id"] == "extractFields":
            extracted.add(options["source"])
        elif transformation["id"] == "organize":
            for key in ("excludeByName", "indexByName", "renameByName"):
                names |= set(options.get(key, {}))
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        if override["matcher"]["id"] == "byName":
            names.add(override["matcher"]["options"])
    regex = panel.get("options", {}).get("reduceOptions", {}).get("fields", "")
    alternatives = re.fullmatch(r"/\^\(?([\w|]+)\)?\$/", regex or "")
    if alternatives:
        names |= set(alternatives.group(1).split("|"))
    for sort in panel.get("options", {}).get("sortBy", []):
        names.add(sort["displayName"])
    return names, extracted


def problems_mqtt_panel(panel: dict) -> list[str]:
    problems = []
    for target in panel.get("targets", []):
        model = topic_model(target.get("topic", ""))
        if isinstance(model, str):
            problems.append(f"panel {panel['title']!r}: {model}")
            continue
        available = {"Time"} | set(model.model_fields)
        names, extracted = panel_field_names(panel)
        for source in sorted(extracted):
            annotation = model.model_fields.get(source)
            annotation = annotation.annotation if annotation else None
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                available |= set(annotation.model_fields)
            else:
                problems.append(f"panel {panel['title']!r}: {source!r} is not an object field of {model.__name__}")
        for name in sorted(names - available):
            problems.append(f"panel {panel['title']!r}: {name!r} is not a field of {model.__name__}")
    return problems


def mqtt_panels(dashboard: dict) -> list[dict]:
    return [p for p in all_panels(dashboard["panels"]) if p.get("datasource", {}).get("type") == "grafana-mqtt-datasource"]


def test_live_dashboard_streams_over_mqtt(dashboards: dict) -> None:
    live = dashboards["live-session.json"]
    topics = {q.text for q in queries(live, "grafana-mqtt-datasource", "topic")}
    assert topics == {"lab/$session/gaze", "lab/$session/alerts", "lab/$session/status", "lab/$session/fixations",
                      "lab/_sys/processor/+/status"}
    assert not queries(live, "influxdb", "query")
    assert live["liveNow"] is True


def test_mqtt_topics_and_fields_are_the_wire_contract(dashboards: dict) -> None:
    panels = [p for d in dashboards.values() for p in mqtt_panels(d)]
    assert len(panels) == 6
    for panel in panels:
        assert problems_mqtt_panel(panel) == []
        assert panel_field_names(panel)[0] - {"Time"}, f"{panel['title']!r} picks no fields"


@pytest.mark.parametrize(("topic", "problem"), [
    ("lab/$session/gaze/live", "unknown channel"),
    ("lab/$session", "no channel"),
    ("lab/+/gaze", "session"),
    ("room/$session/gaze", "not under prefix"),
    ("lab/$sesion/gaze", "unknown variable"),
    ("lab/_sys/processor/status", "system topic"),
])
def test_topic_check_catches_wrong_topics(topic: str, problem: str) -> None:
    found = topic_model(topic)
    assert isinstance(found, str) and problem in found, found


def test_field_check_catches_names_not_in_the_message(dashboards: dict) -> None:
    panel = copy.deepcopy(next(p for p in mqtt_panels(dashboards["live-session.json"]) if p["title"] == "Agent"))
    assert problems_mqtt_panel(panel) == []
    panel["transformations"][-1]["options"]["include"]["names"].append("samples_lost")
    panel["transformations"][0]["options"]["source"] = "tracker_info"
    problems = problems_mqtt_panel(panel)
    assert any("'tracker_info' is not an object field of AgentStatus" in p for p in problems), problems
    assert any("'samples_lost' is not a field of AgentStatus" in p for p in problems), problems
    gaze = copy.deepcopy(next(p for p in mqtt_panels(dashboards["live-session.json"]) if p["title"] == "Gaze x / y"))
    gaze["transformations"][0]["options"]["include"]["names"] = ["Time", "gaze_x"]
    assert problems_mqtt_panel(gaze) == ["panel 'Gaze x / y': 'gaze_x' is not a field of LiveGaze"]


def test_live_state_mappings_use_the_contracts_values(dashboards: dict) -> None:
    live = dashboards["live-session.json"]
    agent = next(p for p in live["panels"] if p["title"] == "Agent")
    state = next(o for o in agent["fieldConfig"]["overrides"] if o["matcher"]["options"] == "state")
    mapping = next(prop["value"][0] for prop in state["properties"] if prop["id"] == "mappings")
    assert set(mapping["options"]) == set(get_args(AgentState))
    processor = next(p for p in live["panels"] if p["title"] == "Processor")
    (mapping,) = processor["fieldConfig"]["defaults"]["mappings"]
    assert set(mapping["options"]) == set(get_args(MESSAGES["processor/status"].model_fields["state"].annotation))
