"""The deployment's monitoring files: Prometheus's rules pass ``promtool check rules`` and
their unit tests (``promtool test rules``: every alert fires on its trouble and stays quiet
beside it), the Prometheus config is valid, and every query of the Grafana dashboard names a
metric the flow or the API exports, or a recording rule of the rules file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml

from offerflow.api import metrics as api_metrics
from operators import input_lag
from operators import metrics as flow_metrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "offerflow.json"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("promtool is missing: scripts/test installs it (apt-get install prometheus)")
    pytest.skip("promtool is not installed (scripts/test installs it when run as root)")


def _run(*args: str, cwd: Path = PROMETHEUS) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_rules_pass_promtool_check_and_their_unit_tests() -> None:
    promtool = _promtool()
    assert "SUCCESS: 13 rules found" in _run(promtool, "check", "rules", "rules.yml")
    assert "SUCCESS" in _run(promtool, "test", "rules", "rules.test.yml")
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tested = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "rules.test.yml").read_text()))
    assert alerts == tested  # each alert has its unit test


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    promtool = _promtool()
    config = (PROMETHEUS / "prometheus.yml").read_text()
    local = config.replace("/etc/prometheus/rules.yml", str(PROMETHEUS / "rules.yml"))
    (tmp_path / "prometheus.yml").write_text(local)
    assert "SUCCESS" in _run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)


def _exported() -> set[str]:
    """Series names the flow and the API expose (histograms with their suffixes)."""
    names = {input_lag.NAME}  # computed when scraped, from the broker's watermarks
    for registry in (flow_metrics.REGISTRY, api_metrics.REGISTRY):
        for family in registry.collect():
            for sample in family.samples:
                names.add(sample.name)
            names.add(f"{family.name}_total" if family.type == "counter" else family.name)
            if family.type == "histogram":
                names.update(f"{family.name}_{s}" for s in ("bucket", "count", "sum"))
    return names


def test_every_grafana_query_names_an_exported_metric_or_a_recording_rule() -> None:
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    exported = _exported()
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    assert len(queries) >= len(dashboard["panels"]) > 10
    for expr in queries:
        bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", expr)  # selectors, ranges, strings
        names = {w for w in re.findall(r"[a-zA-Z_:][\w:]*", bare) if "offerflow" in w}
        assert names, f"no metric in {expr!r}"
        unknown = names - exported - recorded
        assert not unknown, f"{expr!r} names {unknown}: not exported by the flow or the API"
    # the rules' own expressions name exported series too
    for group in rules["groups"]:
        for rule in group["rules"]:
            bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\{\{.*?\}\}", "", rule["expr"])
            words = re.findall(r"[a-zA-Z_:][\w:]*", bare)
            series = {w for w in words if "offerflow" in w} - recorded
            assert series <= exported, f"{rule.get('alert') or rule['record']}: {series - exported}"


def test_docker_compose_mounts_the_monitoring_files() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = [
        v.split(":")[0]
        for name in ("prometheus", "grafana")
        for v in compose["services"][name]["volumes"]
    ]
    assert mounts and all((ROOT / m).exists() for m in mounts)
