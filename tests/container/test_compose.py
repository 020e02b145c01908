"""docker/compose.yaml's services and the load profile's wiring, read as compose reads them.

The topology itself runs in tests/load/test_topology.py as local processes; this holds the
compose file to it: the same pieces, joined by the names and ports each side expects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from emulator.settings import Settings, env_name

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
HAPROXY = (DOCKER / "haproxy" / "haproxy.cfg").read_text(encoding="utf-8")
LOAD = {"redis", "imgemu-replica", "balancer", "locust"}


def test_the_default_service_runs_alone_and_the_load_profile_adds_the_topology() -> None:
    assert "profiles" not in SERVICES["imgemu"]
    assert {name for name, s in SERVICES.items() if s.get("profiles") == ["load"]} == LOAD


def test_every_imgemu_variable_in_the_file_is_a_setting() -> None:
    names = set(re.findall(r"\bIMGEMU_[A-Z_]+", (DOCKER / "compose.yaml").read_text()))
    settings = {env_name(field) for field in Settings.model_fields} | {"IMGEMU_REPLICAS"}
    assert names <= settings, names - settings


def test_the_replicas_share_the_redis_service() -> None:
    environment = SERVICES["imgemu-replica"]["environment"]
    assert environment["IMGEMU_STORE"] == "redis://redis:6379/0"
    assert SERVICES["imgemu-replica"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_balancer_spreads_over_every_replica_and_checks_their_health() -> None:
    template = re.search(r"server-template \S+ (\d+) ([\w-]+):(\d+) check", HAPROXY)
    assert template is not None
    assert template.group(2) == "imgemu-replica"
    assert template.group(3) == "8000"  # the image's port
    assert "option httpchk GET /_emulator/health" in HAPROXY
    assert "balance roundrobin" in HAPROXY
    bind = re.search(r"bind :(\d+)", HAPROXY)
    assert bind is not None
    assert f"{bind.group(1)}:{bind.group(1)}" in SERVICES["balancer"]["ports"]
    assert (
        "./haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"
        in (SERVICES["balancer"]["volumes"])
    )


def test_locust_runs_the_scenarios_through_the_balancer() -> None:
    locust = SERVICES["locust"]
    assert locust["build"]["args"]["EXTRAS"] == "load"
    assert locust["entrypoint"] == ["locust"]
    assert "./locust:/locust:ro" in locust["volumes"]
    assert (DOCKER / "locust" / "locustfile.py").is_file()
    assert locust["command"][:2] == ["-f", "/locust/locustfile.py"]
    bind = re.search(r"bind :(\d+)", HAPROXY)
    assert bind is not None
    assert locust["environment"]["LOCUST_HOST"] == f"http://balancer:{bind.group(1)}"
