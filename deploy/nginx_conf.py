"""Fill in deploy/nginx.conf for replicas of the app and print it: on this machine (--ports), or on others
(--replicas host:port, the multi-machine recipe in deploy/README.md).

    python deploy/nginx_conf.py --listen 80 --ports 8501 8502 --temp /var/lib/cnnviz-nginx > /etc/cnnviz-nginx.conf
    python deploy/nginx_conf.py --listen 80 --replicas 10.0.0.11:8501 10.0.0.12:8501 --temp /var/lib/cnnviz-nginx

``--temp`` is a folder nginx may write its buffers to (it must exist). bench/load.py --replicas uses the same
function for its loopback test. The replicas listen on 127.0.0.1 only: nginx is the public listener, and it answers
Streamlit's /_stcore/metrics with a 404 (read it on the server from a replica's own port).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf"


def nginx_conf(listen: str, ports: list[int], temp: Path, *, replicas: list[str] | None = None) -> str:
    """deploy/nginx.conf for replicas on loopback ``ports``, or at ``replicas`` ("host:port" each, on other machines),
    listening on ``listen`` (e.g. "127.0.0.1:8080")."""
    if replicas:
        bad = [address for address in replicas if not re.fullmatch(r"[A-Za-z0-9.\-]+:\d{1,5}", address)]
        if bad or len(set(replicas)) != len(replicas):
            raise ValueError(f"need one distinct host:port per replica, got replicas={replicas}")
        addresses = list(replicas)
    elif not ports or len(set(ports)) != len(ports):
        raise ValueError(f"need one distinct port per replica, got ports={ports}")
    else:
        addresses = [f"127.0.0.1:{port}" for port in ports]
    pinned = []
    for number, address in enumerate(addresses, start=1):
        backups = " ".join(f"server {other} backup;" for other in addresses if other != address)
        pinned.append(f"upstream cnnviz_r{number} {{ server {address}; {backups} }}")
    fills = {
        "@LISTEN@": listen,
        "@TEMP@": str(temp),
        "@SERVERS@": " ".join(f"server {address};" for address in addresses),
        "@PINNED@": "\n    ".join(pinned),
        "@COOKIE_TO_UPSTREAM@": " ".join(f"r{n} cnnviz_r{n};" for n in range(1, len(addresses) + 1)),
        "@ADDRESS_TO_COOKIE@": " ".join(f"{address} r{n};" for n, address in enumerate(addresses, start=1)),
    }
    text = TEMPLATE.read_text()
    for placeholder, value in fills.items():
        text = text.replace(placeholder, value)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="80", help="nginx's listen address: a port, or address:port")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--ports", type=int, nargs="+", help="the replicas' ports on 127.0.0.1")
    where.add_argument("--replicas", nargs="+", help="the replicas' host:port on other machines (private addresses)")
    parser.add_argument("--temp", type=Path, required=True, help="a folder for nginx's buffers")
    args = parser.parse_args()
    print(nginx_conf(args.listen, args.ports or [], args.temp.resolve(), replicas=args.replicas), end="")


if __name__ == "__main__":
    main()
