"""``gazewire processor config|sample-config``, settings errors and the AOI file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gazewire.cli import main
from gazewire.processor.aoi_file import AoiFileError, load_aoi_file, parse_aois
from gazewire.cli.processor import sample_config_text

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    import os

    for name in list(os.environ):
        if name.startswith("GAZEWIRE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_the_committed_sample_config_is_up_to_date():
    committed = (REPO / "examples" / "processor.sample.toml").read_text()
    assert committed == sample_config_text(), "run: gazewire processor sample-config > examples/processor.sample.toml"


def test_every_setting_says_what_it_trades_off():
    from gazewire.processor.config import ProcessorSettings

    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            assert field.description, f"{prefix}{name} has no description"
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                walk(annotation, f"{prefix}{name}.")

    walk(ProcessorSettings)


def test_detector_settings_are_the_parameter_dataclasses_fields():
    import dataclasses

    from gazewire.processor.config import ProcessorSettings
    from gazewire.processor.pipeline.eye_movements import IDTParameters, IVTParameters, MovementParameters

    for table, parameter_class, left_out in (
        ("ivt", IVTParameters, {"merge_decision"}),
        ("idt", IDTParameters, set()),
        ("ivd", MovementParameters, set()),
    ):
        settings_fields = ProcessorSettings.model_fields[table].annotation.model_fields
        parameters = {f.name: f for f in dataclasses.fields(parameter_class) if f.name not in left_out}
        assert list(settings_fields) == list(parameters)
        for name, field in settings_fields.items():
            expected = parameters[name].default
            assert field.get_default() == ("none" if expected is None else expected), name
            assert field.description == parameters[name].metadata["description"], name
    assert ProcessorSettings().detector_parameters == MovementParameters()  # ivd is the default
    settings = ProcessorSettings(algorithm="ivt", ivt={"noise_reduction": "none", "min_fixation_ms": 80})
    assert settings.detector_parameters == IVTParameters(noise_reduction=None, min_fixation_ms=80)
    assert ProcessorSettings(algorithm="idt").detector_parameters == IDTParameters()
    assert ProcessorSettings(ivd={"pursuit_min_window_ms": 400}).detector_parameters == MovementParameters(
        pursuit_min_window_ms=400
    )


@pytest.mark.parametrize(
    "setting, problem",
    [
        ("ivt.max_gap_ms=0", "must be a finite number in (0, 1000]"),
        ("ivt.noise_reduction_window=4", "must be an odd integer in [3, 51]"),
        ("idt.dispersion_threshold_deg=nan", "must be a finite number in (0, 90]"),
        ("ivd.noise_reduction_window=4", "must be an odd integer in [1, 51]"),
        ("ivd.pursuit_min_displacement_deg=-1", "must be a finite number in [0, 90]"),
    ],
)
def test_detector_settings_are_checked_by_the_parameters_rules(setting, problem, capsys):
    assert main(["processor", "config", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert f"--set {setting.split('=')[0]}: {problem}" in err, err  # the flag that gave it is named


def test_rules_joining_two_detector_parameters_are_one_line_too(capsys):
    assert main(["processor", "config", "--set", "ivd.boundary_velocity_window_ms=30"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "invalid setting ivd: boundary_velocity_window_ms must be at most saccade_velocity_window_ms" in err


def test_config_masks_the_influx_token(monkeypatch, capsys):
    monkeypatch.setenv("GAZEWIRE_INFLUX__TOKEN", "s3cr3t-token")
    monkeypatch.setenv("GAZEWIRE_INFLUX__URL", "http://influx.lab:8086")
    assert main(["processor", "config"]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t-token" not in out and 'token = "**********"' in out and 'url = "http://influx.lab:8086"' in out


def test_the_sample_config_itself_is_a_valid_config(capsys):
    path = REPO / "examples" / "processor.sample.toml"
    assert main(["processor", "config", "--config", str(path)]) == 0


@pytest.mark.parametrize(
    "args, names",
    [
        (["--set", "alerts.gaze_lost_s=0"], "--set alerts.gaze_lost_s"),
        (["--set", "influx.url=influx.lab:8086"], "--set influx.url"),
        (["--set", "ivt.noise_reduction_window=4"], "--set ivt.noise_reduction_window"),
        (["--set", "algorithm=hmm"], "--set algorithm"),
        (["--id", "bad id"], "--id"),
        (["--set", "alerts.enabled=[\"coffee_low\"]"], "--set alerts.enabled"),
    ],
)
def test_an_invalid_setting_is_one_line_naming_it_and_exit_code_2(args, names, capsys):
    """A flag's value is at fault: the line names the flag that gave it (issue 9, item 10)."""
    assert main(["processor", "config", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"gazewire: {names}: ") and "[env" not in err, err


def test_secrets_are_not_echoed_in_errors(monkeypatch, capsys):
    monkeypatch.setenv("GAZEWIRE_INFLUX__TOKEN", "s3cr3t")
    monkeypatch.setenv("GAZEWIRE_INFLUX__RETRY_MIN_S", "99")
    monkeypatch.setenv("GAZEWIRE_INFLUX__RETRY_MAX_S", "1")
    assert main(["processor", "config"]) == 2
    assert "s3cr3t" not in capsys.readouterr().err


def test_a_broken_aoi_file_is_a_settings_error(tmp_path, capsys):
    aoi = tmp_path / "aoi.toml"
    aoi.write_text('[[aoi]]\nname = "a"\nx_min = 0.6\ny_min = 0\nx_max = 0.5\ny_max = 1\n')
    assert main(["processor", "config", "--aoi-file", str(aoi)]) == 2
    err = capsys.readouterr().err
    assert "aoi_file" in err and "x_min (0.6) must be less than x_max (0.5)" in err


def test_the_example_aoi_file_loads():
    aois = load_aoi_file(REPO / "examples" / "aoi.toml")
    assert [a.name for a in aois.for_session("room1")] == ["stimulus", "instructions", "left_image", "right_image"]
    assert [a.name for a in aois.for_session("elsewhere")] == ["stimulus", "instructions"]
    assert aois.for_session("room1")[1].dwell_s == 10.0


@pytest.mark.parametrize(
    "document, problem",
    [
        ({"aoi": [{"name": "a b", "x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1}]}, "name must be"),
        ({"aoi": [{"name": "a", "x_min": 0, "y_min": 0, "x_max": 1}]}, "y_max is missing"),
        ({"aoi": [{"name": "a", "x_min": 0, "y_min": 0, "x_max": "1", "y_max": 1}]}, "x_max must be a number"),
        ({"aoi": [{"name": "a", "x_min": 0, "y_min": 0, "x_max": 100, "y_max": 1}]}, "normalised coordinates"),
        ({"aoi": [{"name": "a", "x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1, "dwell_s": 0}]}, "dwell_s must be"),
        ({"aoi": [{"name": "a", "x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1, "colour": "red"}]}, "unknown key 'colour'"),
        ({"aoi": [{"name": "a", "x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1, "sessions": ["a/b"]}]}, "not a valid session id"),
        ({"aoi": [{"name": "a", "x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1}] * 2}, "used twice"),
        ({"areas": []}, "unknown top-level key 'areas'"),
    ],
)
def test_aoi_file_problems_are_named(document, problem):
    with pytest.raises(AoiFileError, match=problem):
        parse_aois(document, source="aoi.toml")


def test_an_influx_url_with_credentials_is_refused_without_echoing_them(capsys):
    assert main(["processor", "config", "--influx-url", "http://me:hunter2@influx.lab:8086"]) == 2
    err = capsys.readouterr().err
    assert "must not contain credentials" in err and "hunter2" not in err
