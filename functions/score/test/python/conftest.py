"""The real scorer process for the stock-client tests: `node --import tsx src/index.ts` on free loopback
ports, with the bundled model, started once per pytest process and stopped at the end. If it does not
become ready the tests fail (with its log), never skip."""

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

FUNCTION_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scorer:
    def __init__(self, http_port: int, grpc_port: int):
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.url = f"http://127.0.0.1:{http_port}"
        self.grpc_target = f"127.0.0.1:{grpc_port}"
        card = json.loads((FUNCTION_DIR / "model" / "model-card.json").read_text())
        self.model = card["name"]
        self.version = card["version"]
        self.features = len(card["features"])
        self.card = card


@pytest.fixture(scope="session")
def scorer(tmp_path_factory):
    http_port, grpc_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("scorer") / "scorer.log"
    env = {
        **os.environ,
        "PORT": str(http_port),
        "GRPC_PORT": str(grpc_port),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "warn",
    }
    env.pop("MODEL_URI", None)
    with open(log_path, "w") as log:
        child = subprocess.Popen(
            ["node", "--import", "tsx", "src/index.ts"],
            cwd=FUNCTION_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    s = Scorer(http_port, grpc_port)
    deadline = time.monotonic() + 90
    try:
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"scorer exited with {child.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{s.url}/health/readiness", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"scorer not ready within 90 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield s
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()


@pytest.fixture()
def rows(scorer):
    """Four encoded rows in the card's order, inside every feature's bounds (zeros, amounts varied)."""
    import numpy as np

    data = np.zeros((4, scorer.features), dtype=np.float32)
    amount = [f["name"] for f in scorer.card["features"]].index("amount")
    data[:, amount] = [10.0, 250.0, 990.0, 5000.0]
    return data
