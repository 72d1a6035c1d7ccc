"""deploy/nginx.conf, as deploy/nginx_conf.py fills it in for replicas: nginx accepts it, and it pins tabs by name only."""
from __future__ import annotations

import re
import shutil
import subprocess
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
