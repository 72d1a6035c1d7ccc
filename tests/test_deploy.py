"""deploy/nginx.conf, as deploy/nginx_conf.py fills it in for replicas: nginx accepts it, and it pins tabs by name only."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.nginx_conf import nginx_conf


def test_every_placeholder_is_filled(tmp_path):
    text = nginx_conf("127.0.0.1:8080", [8501, 8502], tmp_path)
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert "@" not in code
    assert "upstream cnnviz_r2 { server 127.0.0.1:8502; server 127.0.0.1:8501 backup; }" in code
    assert "r1 cnnviz_r1; r2 cnnviz_r2;" in code  # the only cookie values that pick a replica
    assert "127.0.0.1:8501 r1; 127.0.0.1:8502 r2;" in code
    assert "client_max_body_size 21m;" in code  # above Streamlit's 20 MB upload limit


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                    reason="nginx is not installed (apt-get install nginx)")
def test_nginx_accepts_the_filled_in_config(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf("127.0.0.1:8080", [8501, 8502, 8503], tmp_path))
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run([binary, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf),
                              "-g", f"pid {tmp_path / 'nginx.pid'};"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("ports", [[], [8501, 8501]])
def test_replicas_need_distinct_ports(tmp_path, ports):
    with pytest.raises(ValueError, match=re.escape(f"ports={ports}")):
        nginx_conf("80", ports, tmp_path)


def test_streamlits_metrics_stay_off_the_public_listener(tmp_path):
    code = "\n".join(line.split("#")[0] for line in nginx_conf("80", [8501], tmp_path).splitlines())
    block = re.search(r"location \^~ /_stcore/metrics \{([^}]*)\}", code)
    assert block is not None, "no location for /_stcore/metrics"
    assert block.group(1).split() == ["return", "404;"]  # answered by nginx itself, never passed to a replica


# The multi-machine recipe (deploy/README.md): replicas on other machines, Redis, the systemd units.

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                    reason="nginx is not installed (apt-get install nginx)")
def test_nginx_accepts_replicas_on_other_machines(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf("127.0.0.1:8080", [], tmp_path, replicas=["10.0.0.11:8501", "10.0.0.12:8501"]))
    code = "\n".join(line.split("#")[0] for line in conf.read_text().splitlines())
    assert "upstream cnnviz_r2 { server 10.0.0.12:8501; server 10.0.0.11:8501 backup; }" in code
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run([binary, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf),
                              "-g", f"pid {tmp_path / 'nginx.pid'};"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("replicas", [["10.0.0.11"], ["10.0.0.11:8501", "10.0.0.11:8501"], ["a b:80"]])
def test_replicas_on_other_machines_need_distinct_host_and_port(tmp_path, replicas):
    with pytest.raises(ValueError, match=re.escape(f"replicas={replicas}")):
        nginx_conf("80", [], tmp_path, replicas=replicas)


def _settings(path: Path) -> dict[str, str]:
    pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {name: value for name, value in pairs}


def test_redis_conf_binds_a_private_address_with_a_password_and_evicts_finished_runs_first():
    settings = _settings(DEPLOY / "redis.conf")
    assert settings["protected-mode"] == "yes"
    assert settings["requirepass"].startswith("REPLACE-WITH")  # a placeholder, never a real secret in the repo
    addresses = settings["bind"].split()
    assert "0.0.0.0" not in addresses and "*" not in addresses and "::" not in addresses
    assert all(a == "127.0.0.1" or a.startswith(("10.", "192.168.", "172.")) for a in addresses), addresses
    assert settings["maxmemory-policy"] == "volatile-ttl"


def test_redis_server_accepts_the_shipped_conf(tmp_path):
    from scripts.shared_mode import redis_server_path

    binary = redis_server_path()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI must check deploy/redis.conf, but there is no redis-server: apt-get install redis-server")
        pytest.skip("no redis-server (apt-get install redis-server)")
    import redis

    from scripts.serve_app import free_port, stop_process

    port = free_port()
    # The file as shipped, with the machine's address and password overridden on the command line, as the tests do.
    server = subprocess.Popen([binary, str(DEPLOY / "redis.conf"), "--bind", "127.0.0.1", "--port", str(port),
                               "--requirepass", "deploy-test", "--dir", str(tmp_path), "--save", ""],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = redis.Redis(port=port, password="deploy-test", socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "redis-server did not answer"
                time.sleep(0.05)
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-ttl"}
        assert client.config_get("maxmemory")["maxmemory"] == str(1 << 30)
    finally:
        stop_process(server)


def _unit(name: str) -> dict[str, str]:
    lines = (DEPLOY / "systemd" / name).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_the_worker_unit_runs_the_documented_command_which_names_its_variable():
    unit = _unit("cnnviz-worker@.service")
    assert unit["ExecStart"].endswith("python -m cnnviz.training.worker")
    assert unit["EnvironmentFile"] == "/etc/cnnviz.env" and unit["KillMode"] == "control-group"
    env = {key: value for key, value in os.environ.items() if key != "CNNVIZ_REDIS_URL"}
    helped = subprocess.run([sys.executable, "-m", "cnnviz.training.worker", "--help"], capture_output=True,
                            text=True, timeout=120, env=env, cwd=DEPLOY.parent)
    assert helped.returncode == 0 and "CNNVIZ_REDIS_URL" in helped.stdout
    refused = subprocess.run([sys.executable, "-m", "cnnviz.training.worker"], capture_output=True, text=True,
                             timeout=120, env=env, cwd=DEPLOY.parent)
    assert refused.returncode == 2
    assert "set CNNVIZ_REDIS_URL (e.g. redis://:password@10.0.0.5:6379/0) or pass --redis-url" in refused.stderr


def test_the_web_unit_serves_the_app_and_every_variable_is_documented():
    unit = _unit("cnnviz-web@.service")
    assert "streamlit run app.py --server.port %i" in unit["ExecStart"]
    assert unit["EnvironmentFile"] == "/etc/cnnviz.env"
    example = _settings_env(DEPLOY / "cnnviz.env.example")
    assert example["CNNVIZ_REDIS_URL"].startswith("redis://:REPLACE-WITH")
    table = (DEPLOY / "README.md").read_text()
    read_by_code = set()
    for module in ("shared.py", "queue.py", "registry.py"):
        read_by_code |= set(re.findall(r"CNNVIZ_[A-Z_]+", (DEPLOY.parent / "cnnviz" / "training" / module).read_text()))
    for variable in read_by_code | set(example):
        assert f"| `{variable}` |" in table, f"{variable} is not in deploy/README.md's table"


def _settings_env(path: Path) -> dict[str, str]:
    lines = (line for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return dict(line.split("=", 1) for line in lines)
