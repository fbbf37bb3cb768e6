"""Settings precedence, validation and the production key rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config import DEV_ID_KEY, VARIABLES, ConfigError, Settings

SECRET = "s" * 32


def test_defaults_work_on_the_local_stack() -> None:
    s = Settings.from_env({"OFFERFLOW_ID_KEY": SECRET})
    assert s.kafka_bootstrap == "127.0.0.1:9092" and s.redis_url.startswith("redis://127.0.0.1")
    assert s.topics == {t: f"offerflow.{t}" for t in s.topics} and s.partitions == 4
    assert s.tail is True and s.env == "production"


def test_production_refuses_missing_short_or_dev_key() -> None:
    for env in ({}, {"OFFERFLOW_ID_KEY": "short"}, {"OFFERFLOW_ID_KEY": DEV_ID_KEY}):
        with pytest.raises(ConfigError, match="OFFERFLOW_ID_KEY"):
            Settings.from_env(env)
    assert Settings.from_env({"OFFERFLOW_ENV": "dev"}).id_key == DEV_ID_KEY.encode()


def test_env_wins_over_file_wins_over_default(tmp_path: Path) -> None:
    path = tmp_path / "offerflow.toml"
    path.write_text(
        'partitions = 12\ntail = false\ntopic_prefix = "shop"\ntopic_dlq = "ops.deadletters"\n'
    )
    s = Settings.from_env(
        {"OFFERFLOW_ID_KEY": SECRET, "OFFERFLOW_CONFIG": str(path), "OFFERFLOW_PARTITIONS": "6"}
    )
    assert s.partitions == 6 and s.tail is False
    assert s.topic("events") == "shop.events" and s.topic("dlq") == "ops.deadletters"


def test_unknown_file_keys_and_bad_values_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("partitons = 3\n")
    with pytest.raises(ConfigError, match="partitons"):
        Settings.from_env({"OFFERFLOW_ID_KEY": SECRET, "OFFERFLOW_CONFIG": str(path)})
    for name, value in (
        ("PARTITIONS", "four"),
        ("PARTITIONS", "0"),
        ("TAIL", "maybe"),
        ("OUTPUT_FORMAT", "xml"),
        ("MAX_FUTURE_S", "-1"),
        ("KAFKA_CONFIG", "novalue"),
    ):
        with pytest.raises(ConfigError, match=f"OFFERFLOW_{name}"):
            Settings.from_env({"OFFERFLOW_ID_KEY": SECRET, f"OFFERFLOW_{name}": value})


def test_kafka_config_pairs_reach_every_client() -> None:
    s = Settings.from_env(
        {
            "OFFERFLOW_ID_KEY": SECRET,
            "OFFERFLOW_KAFKA_BOOTSTRAP": "k1:9092,k2",
            "OFFERFLOW_KAFKA_CONFIG": "security.protocol=SSL; client.id=of",
        }
    )
    assert s.kafka(**{"group.id": "g"}) == {
        "bootstrap.servers": "k1:9092,k2",
        "security.protocol": "SSL",
        "client.id": "of",
        "group.id": "g",
    }


def test_describe_masks_the_key() -> None:
    assert SECRET not in str(Settings.from_env({"OFFERFLOW_ID_KEY": SECRET}).describe())


def test_readme_documents_every_variable() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    missing = [v.name for v in VARIABLES if f"`OFFERFLOW_{v.name}`" not in readme]
    assert not missing, f"add to the README's configuration table: {missing}"


def test_default_recovery_arguments_are_accepted_by_bytewax() -> None:
    from flows import runner

    snapshot = Settings.from_env({"OFFERFLOW_ID_KEY": SECRET}).snapshot_s
    cmd = runner.commands("profiles", recovery_dir="/tmp/r", snapshot_s=snapshot)[0]
    assert cmd[cmd.index("-s") + 1] == "10" and cmd[cmd.index("-b") + 1] == "30"
