from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from christmas_spiders.config import (
    DEFAULTS,
    PROJECT_ROOT,
    ConfigError,
    ProjectConfig,
    documented_reference,
    env_variables,
    get_config,
    iter_keys,
    load_config,
    load_model,
    markdown_reference,
)


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


def _write(path: Path, data: object) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_misspelt_key_in_a_file_is_named_with_its_file_and_a_guess(tmp_path):
    path = _write(tmp_path / "site.json", {"crawl": {"concurrent_request": 8}})
    with pytest.raises(ConfigError) as raised:
        load_config(config_path=path, environ={})
    assert (
        f"{path}: crawl.concurrent_request: unknown key "
        "(did you mean crawl.concurrent_requests?)" in str(raised.value)
    )


def test_unknown_key_in_an_extended_file_names_that_file(tmp_path):
    _write(tmp_path / "base.json", {"pipelin": {"batch_size": 10}})
    path = _write(tmp_path / "child.json", {"extends": "base.json", "crawl": {"contact": "x@y"}})
    with pytest.raises(ConfigError) as raised:
        load_config(config_path=path, environ={})
    message = str(raised.value)
    assert f"{tmp_path / 'base.json'}: pipelin: unknown key (did you mean pipeline?)" in message
    assert "child.json" not in message


def test_wrong_type_in_a_file_names_the_key_the_file_and_the_expected_type(tmp_path):
    path = _write(
        tmp_path / "site.json",
        {"crawl": {"download_delay": "slow", "concurrent_requests": "16"}},
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config_path=path, environ={})
    message = str(raised.value)
    assert f"{path}: crawl.download_delay: " in message
    assert "got 'slow'; expected float, >= 0" in message
    # JSON types are kept: a quoted number is text, not an int.
    assert f"{path}: crawl.concurrent_requests: " in message
    assert "got '16'; expected int, >= 1" in message


def test_out_of_range_value_in_a_file_is_an_error(tmp_path):
    path = _write(tmp_path / "site.json", {"monitors": {"max_item_drop_ratio": 1.5}})
    with pytest.raises(ConfigError, match=r"monitors\.max_item_drop_ratio: .*<= 1"):
        load_config(config_path=path, environ={})


def test_wrong_type_in_an_env_var_names_the_variable_and_the_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_config(environ={"CHRISTMAS_BATCH_SIZE": "lots"})
    message = str(raised.value)
    assert "environment variable CHRISTMAS_BATCH_SIZE: pipeline.batch_size: " in message
    assert "got 'lots'; expected int, >= 1" in message


def test_env_vars_are_parsed_as_the_keys_type_and_empty_ones_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(
        environ={"CHRISTMAS_SELENIUM_POOL_SIZE": "0", "CHRISTMAS_CONTACT": "", "REDIS_URL": "r"}
    )
    assert config["selenium"]["pool_size"] == 0
    assert config["crawl"]["contact"] == DEFAULTS["crawl"]["contact"]
    assert config["redis_url"] == "r"


def test_each_env_var_overrides_one_key():
    variables = [key.env for key in iter_keys() if key.env]
    assert len(variables) == len(set(variables))
    assert env_variables()["DATABASE_URL"] == "database_url"
    assert env_variables()["CHRISTMAS_PGDATA"] == "embedded_postgres.data_dir"


def test_typed_model_and_dict_agree(tmp_path):
    path = _write(tmp_path / "site.json", {"crawl": {"download_delay": 3}})
    model = load_model(config_path=path, environ={})
    assert isinstance(model, ProjectConfig)
    assert model.crawl.download_delay == 3.0
    assert load_config(config_path=path, environ={})["crawl"] == model.crawl.model_dump()


def test_every_key_has_a_one_line_description():
    for key in iter_keys():
        description = key.info.description or ""
        assert description.strip() and "\n" not in description, key.dotted


def test_docs_table_agrees_with_the_model():
    assert documented_reference() == markdown_reference(), (
        "docs/configuration.md is out of date: python -m christmas_spiders.config --update-docs"
    )


def _documented_rows() -> dict[str, list[str]]:
    rows = {}
    for line in documented_reference().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if line.startswith("| `"):
            rows[cells[0].strip("`")] = cells
    return rows


def test_docs_table_lists_every_key_with_its_env_var_and_default():
    rows = _documented_rows()
    keys = {key.dotted: key for key in iter_keys()}
    assert set(rows) == set(keys)
    for dotted, key in keys.items():
        assert rows[dotted][1] == (f"`{key.env}`" if key.env else ""), dotted
        assert rows[dotted][2] == (f"`{key.scrapy}`" if key.scrapy else ""), dotted
    assert rows["pipeline.batch_size"][4] == f"`{DEFAULTS['pipeline']['batch_size']}`"
    assert rows["crawl.download_delay"][4] == "`1.0`"


def test_settings_module_maps_every_key_that_names_a_scrapy_setting():
    from christmas_spiders import settings

    config = get_config()
    for key in iter_keys():
        if not key.scrapy:
            continue
        value = config
        for part in key.dotted.split("."):
            value = value[part]
        assert hasattr(settings, key.scrapy), key.scrapy
        if key.scrapy == "USER_AGENT":
            assert str(value) in settings.USER_AGENT
        else:
            assert getattr(settings, key.scrapy) == value, key.scrapy


def test_every_project_setting_a_component_reads_is_defined_in_settings():
    from christmas_spiders import settings

    package = Path(__file__).resolve().parent.parent / "christmas_spiders"
    read = re.compile(r"""settings(?:\.get\w*\(|\[)\s*["']((?:CHRISTMAS|SELENIUM)_\w+)["']""")
    names = {
        match
        for source in package.rglob("*.py")
        for match in read.findall(source.read_text(encoding="utf-8"))
    }
    assert "CHRISTMAS_UPSERT_BATCH_SIZE" in names
    assert sorted(name for name in names if not hasattr(settings, name)) == []


def test_no_component_gives_a_scrapy_setting_a_default_of_its_own():
    # A default passed to settings.get*() would be a second default beside the model's
    # (or Scrapy's own): every setting read is defined, so none is needed.
    package = Path(__file__).resolve().parent.parent / "christmas_spiders"
    with_default = re.compile(r"""settings\.get\w*\(\s*["'][A-Z_]+["']\s*,""")
    offenders = [
        f"{source.relative_to(package)}:{number}"
        for source in sorted(package.rglob("*.py"))
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1)
        if with_default.search(line)
    ]
    assert offenders == []


def test_scrapy_crawl_with_a_bad_configuration_stops_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"crawl": {"concurrent_requests": "four"}}))
    env = {**os.environ, "CONFIG_PATH": str(bad)}
    env.pop("ENV", None)
    finished = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "hookedonhallmark"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.splitlines() == [
        "configuration error: invalid configuration:",
        f"  {bad}: crawl.concurrent_requests: Input should be a valid integer, "
        "got 'four'; expected int, >= 1",
    ]
