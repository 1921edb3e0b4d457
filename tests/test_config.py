from __future__ import annotations

import json

import pytest

from christmas_spiders.config import ConfigError, load_config


def test_defaults_without_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config["env"] == "default"
    assert config["database_url"] is None
    assert config["audit"]["tracked_fields"] == ["price", "availability"]


def test_env_file_extends_and_env_vars_win(tmp_path):
    (tmp_path / "default.json").write_text(json.dumps({"crawl": {"contact": "a@b.c"}}))
    (tmp_path / "replica.json").write_text(
        json.dumps({"extends": "default.json", "crawl": {"download_delay": 0}})
    )
    config = load_config(
        config_path=str(tmp_path / "replica.json"),
        environ={"DATABASE_URL": "postgresql://x/y", "CHRISTMAS_BATCH_SIZE": "6000"},
    )
    assert config["crawl"]["contact"] == "a@b.c"
    assert config["crawl"]["download_delay"] == 0
    assert config["crawl"]["obey_robots_txt"] is True
    assert config["database_url"] == "postgresql://x/y"
    assert config["pipeline"]["batch_size"] == 6000


def test_named_env_without_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(env="nosuchenv", environ={"CONFIG_PATH": str(tmp_path / "nope.json")})


def test_malformed_file_is_an_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(config_path=str(bad), environ={})
