from pathlib import Path

import pytest

from deid.config import Config, config_from_dict, load_config
from deid.errors import ConfigError

from conftest import PRESETS, run_cli


def test_default_toml_equals_builtin_defaults():
    assert load_config(PRESETS / "default.toml") == Config()


@pytest.mark.parametrize("name", sorted(p.name for p in (PRESETS).glob("*.toml")))
def test_every_shipped_config_loads(name):
    assert isinstance(load_config(PRESETS / name), Config)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"colour": 1}, "unknown key 'colour'"),
        ({"anonymize": {"mdoe": "solid"}}, "unknown key anonymize.'mdoe'"),
        ({"detect": {"detectors": [{"name": "blazeface", "treshold": 0.1}]}}, "treshold"),
        ({"anonymize": {"mode": "swirl"}}, "unknown mode 'swirl'"),
        ({"anonymize": {"margin": "wide"}}, "must be a number"),
        ({"detect": {"detectors": [{"name": "yolo"}]}}, "unknown detector 'yolo'"),
        ({"detect": {"detectors": []}}, "at least one detector"),
        ({"output": {"jpeg_quality": 0}}, "jpeg_quality"),
        ({"workers": True}, "must be an integer"),
        ({"output": {"keep_metadata": ["gps"]}}, "'gps' cannot be kept"),
        ({"output": {"convert": ["HEIF=XCF"]}}, "must be INPUT=OUTPUT"),
        ({"output": {"rename": "scramble"}}, "output.rename"),
        ({"detect": {"detectors": [{"name": "centerface", "flip": "yes"}]}}, "must be true or false"),
        ({"detect": {"detectors": [{"name": "centerface", "candidate_threshold": 0.5}]}}, "at most the threshold"),
        ({"detect": {"detectors": [{"name": "centerface", "candidate_threshold": 0.05}]}}, "needs a confirm_score"),
        ({"anonymize": {"margin_low_score": -1}}, "margin_low_score"),
    ],
)
def test_bad_config_is_a_config_error(data, message):
    with pytest.raises(ConfigError, match=message.replace("'", ".").replace("(", ".")):
        config_from_dict(data)


def test_partial_config_keeps_other_defaults():
    config = config_from_dict({"anonymize": {"mode": "pixelate"}})
    assert config.anonymize.mode == "pixelate"
    assert config.anonymize.margin == Config().anonymize.margin
    assert config.detect == Config().detect


def test_unknown_key_on_the_command_line_is_one_line_and_exit_2(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[anonymize]\nblurriness = 3\n")
    (tmp_path / "src").mkdir()
    result = run_cli("run", tmp_path / "src", tmp_path / "out", "--config", bad)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "blurriness" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_invalid_toml_is_one_line_and_exit_2(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[anonymize\n")
    (tmp_path / "src").mkdir()
    result = run_cli("run", tmp_path / "src", tmp_path / "out", "--config", bad)
    assert result.returncode == 2 and "not valid TOML" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_preset_is_found_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config("strict") == load_config(PRESETS / "strict.toml")
    assert load_config("strict").anonymize.margin == 0.5


def test_an_unknown_preset_name_is_a_missing_file():
    from deid.errors import ConfigError

    with pytest.raises(ConfigError, match="neither a preset nor an existing file"):
        load_config("strictest")
