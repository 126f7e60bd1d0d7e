import os

import pytest

from tests.conftest import ROOT
from tracker import config
from tracker.errors import ConfigError


def test_packaged_default_matches_the_repository_config():
    assert (ROOT / "config.toml").read_text("utf-8") == (ROOT / "tracker" / "data" / "default_config.toml").read_text("utf-8")


def test_relative_database_path_is_resolved_against_the_config_folder(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    cfg = tmp_path / "sub" / "config.toml"
    cfg.write_text('[database]\nurl = "sqlite:///data/t.db"\n', "utf-8")
    monkeypatch.chdir(tmp_path)
    assert config.load(cfg).database_url == f"sqlite:///{tmp_path / 'sub' / 'data' / 't.db'}"
    monkeypatch.setenv("TRACKER_DATABASE_URL", "sqlite:////elsewhere/x.db")
    assert config.load(cfg).database_url == "sqlite:////elsewhere/x.db"


def test_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
    assert config.load().source == "内置默认配置"
    (tmp_path / "config.toml").write_text("", "utf-8")
    assert config.load().source.endswith("（./config.toml）")
    env = tmp_path / "env.toml"
    env.write_text("", "utf-8")
    monkeypatch.setenv("TRACKER_CONFIG", str(env))
    assert config.load().source == f"{env}（TRACKER_CONFIG）"
    assert config.load(tmp_path / "config.toml").source.endswith("（--config）")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("[reminders]\nbefor_days = [1]\n", "reminders.befor_days 是未知的配置项"),
        ("[reminders]\nbefore_days = [0]\n", "reminders.before_days 提前天数必须是正整数"),
        ("[general]\ntimezone = \"Mars/Base\"\n", "general.timezone 未知的时区“Mars/Base”"),
        ("[mail.smtp]\nport = \"x\"\n", "mail.smtp.port 应为整数"),
        ("[calendar.years.2027]\nholidays = [2026-01-01]\n", "不属于 2027 年"),
        ("[report]\nweekday = \"sun\"\n", "report.weekday 只能是以下之一"),
        ("not toml = = 1", "不是有效的 TOML"),
    ],
)
def test_wrong_key_or_value_names_the_key(tmp_path, body, fragment):
    cfg = tmp_path / "config.toml"
    cfg.write_text(body, "utf-8")
    with pytest.raises(ConfigError) as info:
        config.load(cfg)
    assert fragment in str(info.value)


def test_bad_config_is_reported_by_the_cli(cli):
    cli.config.write_text("[databse]\nurl = \"sqlite:///x.db\"\n", "utf-8")  # misspelt section
    result = cli("items", "list", ok=False)
    assert result.exit_code == 1 and "databse 是未知的配置项" in result.stderr


def test_database_file_is_private(seeded, sqlite_only):
    assert os.stat(seeded.db_path).st_mode & 0o777 == 0o600


def test_units_list_show_set(seeded):
    units = seeded.json("units", "list")
    assert len(units) == 31
    assert {u["name"] for u in units if u["kind"] == "township"} >= {"狮山镇人民政府", "东坡傣族乡人民政府"}
    gov = next(u for u in units if u["name"] == "县人民政府")
    assert gov["emails"] == [] and gov["via"] == "县政府办公室"
    assert all(e.endswith(".example") for u in units for e in u["emails"])
    shown = seeded.json("units", "show", "县政务服务局")
    assert shown["name"] == "县政务服务管理局"
    assert {"plan": "zwgk2020", "item": "1.公共资源交易", "role": "guiding"} in shown["assignments"]
    seeded("units", "set", "县教体局", "--email", "jtj@wuding.gov.cn", "--contact", "张三", "--phone", "0878-1234567")
    shown = seeded.json("units", "show", "县教育体育局")
    assert (shown["emails"], shown["contact"], shown["phone"]) == (["jtj@wuding.gov.cn"], "张三", "0878-1234567")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["units", "set", "县财政局", "--email", "a@b.c\r\nBcc: x@y.z"], "格式不正确"),
        (["units", "set", "县财政厅", "--email", "a@b.cn"], "县财政局"),
        (["units", "add", "某村委会", "--kind", "village"], "--parent"),
        (["units", "add", "某村委会", "--parent", "狮山"], "未知的单位“狮山”"),
        (["units", "add", "县财政局", "--kind", "department"], "已被“县财政局”使用"),
        (["units", "add", "新单位", "--kind", "bureau"], "未知的单位类别“bureau”"),
        (["units", "show", "各乡镇"], "是单位组"),
    ],
)
def test_unit_errors_change_nothing(seeded, args, fragment):
    before = seeded.snapshot()
    result = seeded(*args, ok=False)
    assert result.exit_code == 1 and fragment in result.stderr, result.stderr
    assert seeded.snapshot() == before
