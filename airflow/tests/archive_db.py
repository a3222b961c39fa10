"""A real PostgreSQL for the archive extract tests: Debian's server in a temp dir, the archive schema from
functions/archive's migration file (the same SQL node-pg-migrate applies), loopback only.

PostgreSQL refuses to run as root; as root the server runs as the `postgres` user (Debian's package makes it).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
from conftest import REPO_ROOT

MIGRATIONS_DIR = REPO_ROOT / "functions" / "archive" / "migrations"


def _bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError(
            f"no /usr/lib/postgresql/*/bin/{tool}: install Debian's postgresql (npm run setup -- --only postgres)"
        )
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migration_up_sql() -> str:
    """The `-- Up Migration` part of every migration file, in file order."""
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    if not files:
        raise RuntimeError(f"no migration in {MIGRATIONS_DIR}: the archive schema comes from functions/archive")
    return "\n".join(f.read_text().split("-- Down Migration")[0] for f in files)


class ArchivePostgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fraud-archive-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.log = self.dir / "postgres.log"
        user = None
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            user = (entry.pw_uid, entry.pw_gid)
            os.chown(self.dir, *user)
        self._user = user

    def _run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        def demote() -> None:
            if self._user:
                os.setgid(self._user[1])
                os.setuid(self._user[0])

        return subprocess.run(args, preexec_fn=demote, capture_output=True, text=True, **kwargs)  # noqa: PLW1509

    def start(self) -> ArchivePostgres:
        done = self._run([_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--no-locale", "-E", "UTF8", "-A", "trust"])
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} -c fsync=off"
        done = self._run([_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"])
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-1000:]}\n{self.log.read_text()[-2000:]}")
        deadline = time.time() + 30
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
                    conn.execute("CREATE DATABASE fraud")
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        with psycopg.connect(self.dsn()) as conn:
            conn.execute(migration_up_sql())
        return self

    def dsn(self, database: str = "fraud") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        self._run([_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


def archive(dsn: str, rows: list[dict], times: list[datetime], legit_coverage: float = 0.3, seed: int = 1):
    """Archives rows as the archive function would (payload = the transaction as sent) and labels them:
    every fraud (chargebacks), a share of the legit ones (confirmations)."""
    rng = np.random.default_rng(seed)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for row, at in zip(rows, times, strict=True):
            payload = {k: v for k, v in row.items() if k not in ("is_fraud", "pattern")} | {"timestamp": at.isoformat()}
            cur.execute(
                "INSERT INTO archive.transactions (transaction_id, card_id, occurred_at, amount, payload)"
                " VALUES (%s, %s, %s, %s, %s)",
                (row["transaction_id"], row["card_id"], at, row["amount"], json.dumps(payload)),
            )
            if row["is_fraud"] or rng.random() < legit_coverage:
                cur.execute(
                    "INSERT INTO archive.labels (transaction_id, card_id, is_fraud, source, labeled_at)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (row["transaction_id"], row["card_id"], bool(row["is_fraud"]), "chargeback", at + timedelta(days=3)),
                )


def spread(n: int, start: datetime, end: datetime) -> list[datetime]:
    step = (end - start) / n
    return [start + step * i for i in range(n)]
