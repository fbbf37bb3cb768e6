"""Settings precedence, validation, the production key rules and secret masking."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from config.settings import DEV_ID_KEY, VARIABLES, ConfigError, Settings

SECRET = "9f2c41d7e8a03b65c1f47e92d0ab38c6"


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
        ("MAX_PURCHASE_VALUE", "inf"),
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


def test_describe_masks_every_secret() -> None:
    shown = str(
        Settings.from_env(
            {
                "OFFERFLOW_ID_KEY": SECRET,
                "OFFERFLOW_SENDER_KEY": SECRET[::-1],
                "OFFERFLOW_DASHBOARD_TOKEN": "t0k3n-" * 5,
                "OFFERFLOW_REDIS_URL": "redis://app:r3d1s-pw@cache:6379/0",
                "OFFERFLOW_KAFKA_CONFIG": "sasl.username=svc;sasl.password=k4fka-pw;"
                "ssl.key.password=k3y-pw",
            }
        ).describe()
    )
    for secret in (SECRET, SECRET[::-1], "t0k3n-", "r3d1s-pw", "k4fka-pw", "k3y-pw"):
        assert secret not in shown, secret
    assert "redis://app:***@cache:6379/0" in shown and "svc" in shown


def test_config_command_masks_secrets_in_output_and_errors() -> None:
    import os
    import subprocess
    import sys

    def config(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "offerflow", "config"],
            env={**os.environ, "OFFERFLOW_ID_KEY": SECRET, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    shown = config(
        OFFERFLOW_REDIS_URL="redis://:r3d1s-pw@cache:6379/0",
        OFFERFLOW_KAFKA_CONFIG="sasl.password=k4fka-pw",
    )
    assert shown.returncode == 0 and "redis_url" in shown.stdout
    assert "r3d1s-pw" not in shown.stdout + shown.stderr
    assert "k4fka-pw" not in shown.stdout + shown.stderr
    failed = config(OFFERFLOW_KAFKA_CONFIG="bootstrap=redis://u:l34k-pw@h")
    assert "l34k-pw" not in failed.stdout + failed.stderr


def test_environment_name_is_matched_strictly() -> None:
    for env in ("Dev", " dev ", "prod", "development"):
        with pytest.raises(ConfigError, match="OFFERFLOW_ENV"):
            Settings.from_env({"OFFERFLOW_ENV": env})
    assert Settings.from_env({"OFFERFLOW_ENV": "dev"}).env == "dev"


def test_production_refuses_weak_keys() -> None:
    for weak in ("a" * 16, "a" * 64, "abababababababababab", "password1234567890"):
        with pytest.raises(ConfigError, match="OFFERFLOW_ID_KEY looks weak"):
            Settings.from_env({"OFFERFLOW_ID_KEY": weak})
        with pytest.raises(ConfigError, match="OFFERFLOW_SENDER_KEY looks weak"):
            Settings.from_env({"OFFERFLOW_ID_KEY": SECRET, "OFFERFLOW_SENDER_KEY": weak})
    # dev accepts a memorable key: it protects nothing real
    assert Settings.from_env({"OFFERFLOW_ENV": "dev", "OFFERFLOW_ID_KEY": "a" * 16}).env == "dev"


def test_secrets_can_be_read_from_files(tmp_path: Path) -> None:
    key_file = tmp_path / "id_key"
    key_file.write_text(SECRET + "\n")
    s = Settings.from_env({"OFFERFLOW_ID_KEY_FILE": str(key_file)})
    assert s.id_key == SECRET.encode()
    with pytest.raises(ConfigError, match="OFFERFLOW_ID_KEY_FILE"):
        Settings.from_env({"OFFERFLOW_ID_KEY_FILE": str(tmp_path / "missing")})


def test_senders_and_dashboard_run_without_the_id_key() -> None:
    s = Settings.from_env({"OFFERFLOW_SENDER_KEY": SECRET}, need_id_key=False)
    assert s.id_key == b"" and s.sender_key == SECRET.encode()
    derived = Settings.from_env({"OFFERFLOW_ID_KEY": SECRET})
    assert derived.sender_key and SECRET.encode() not in derived.sender_key


def test_allow_lists_extend_or_replace_the_built_in_ones() -> None:
    base = Settings.from_env({"OFFERFLOW_ID_KEY": SECRET}).gate
    extended = Settings.from_env(
        {"OFFERFLOW_ID_KEY": SECRET, "OFFERFLOW_CONSENT_PURPOSES": "+Research, surveys"}
    ).gate
    assert extended.purposes == base.purposes | {"research", "surveys"}
    replaced = Settings.from_env({"OFFERFLOW_ID_KEY": SECRET, "OFFERFLOW_CHANNELS": "email,sms"})
    assert replaced.gate.channels == {"email", "sms"}
    assert {"email", "sms"} <= replaced.gate.purposes  # consent per channel
    assert Settings.from_env({"OFFERFLOW_ID_KEY": SECRET}).dlq_redact is True
    assert Settings.from_env({"OFFERFLOW_ENV": "dev"}).dlq_redact is False


def test_readme_documents_every_variable() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    missing = [v.name for v in VARIABLES if f"`OFFERFLOW_{v.name}`" not in readme]
    assert not missing, f"add to the README's configuration table: {missing}"


def test_every_setting_is_declared_once_by_its_variable() -> None:
    """A settings field is read by its variable's own parser, or derived from several
    variables in Settings.from_env (and then named here): no third place to keep in step."""
    derived = {"env", "id_key", "sender_key", "dlq_redact", "gate", "topics",
               "avro_writer_schemas", "clv_horizon_days", "ops_interval_s"}  # fmt: skip
    declared = [v.field for v in VARIABLES if v.parse is not None]
    assert len(declared) == len(set(declared))
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert fields == set(declared) | derived
    assert not set(declared) & derived
    groups = list(dict.fromkeys(v.group for v in VARIABLES))
    assert [v.group for v in VARIABLES] == sorted((v.group for v in VARIABLES), key=groups.index), (
        "a group's variables stand together"
    )


def test_default_recovery_arguments_are_accepted_by_bytewax() -> None:
    from offerflow import runner

    snapshot = Settings.from_env({"OFFERFLOW_ID_KEY": SECRET}).snapshot_s
    cmd = runner.commands("profiles", recovery_dir="/tmp/r", snapshot_s=snapshot)[0]
    assert cmd[cmd.index("-s") + 1] == "30" and cmd[cmd.index("-b") + 1] == "90"
