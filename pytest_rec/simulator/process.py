"""The built-in simulator in a process of its own.

Served from a thread of the suite's process, the simulator and the suite share one interpreter lock:
every one of a run's ~1,600 HTTPS exchanges waits for the other side's Python to get the lock back.
In a process of its own the simulator works on the second core. ``SimulatorProcess`` has the
surface the plugin uses of ``SimulatorServer``: ``start``/``stop``, ``target()``, ``base_url``,
``ca_path`` and ``array`` (a copy built from the same inventory, settings and passwords, never
served: it answers what the run needs to know, the settings and the users' passwords).

The child's life hangs on its stdin: it serves until the parent closes the pipe or dies, so a
killed run never leaves a simulator behind. It runs in a session of its own and ignores SIGINT,
SIGTERM and SIGHUP: a Ctrl-C or a CI cancel stops the run, whose restore still needs the array.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .array import Array
from .settings import Settings
from .inventory import Inventory, load_inventory
from .targetfile import sim_password_env, target_data, target_env, target_toml

__all__ = ["SimulatorProcess", "build_inventory", "fresh_passwords", "simulator_for"]


def build_inventory(options: dict[str, str], passwords: dict[str, str] | None = None) -> Inventory:
    """The inventory a run's ``--rec-sim-option`` names (``inventory=FILE``), with its passwords."""
    inventory = load_inventory(options.get("inventory") or None) if "inventory" in options else load_inventory()
    for key, password in (passwords or {}).items():
        inventory.users[key].password = password
    return inventory


def fresh_passwords(options: dict[str, str]) -> dict[str, str]:
    """A new password for every user of the inventory, each run: reports can be searched for them."""
    return {key: "pw-" + secrets.token_urlsafe(12) for key in build_inventory(options).users}


def simulator_for(options: dict[str, str], defects=(), host: str = "127.0.0.1") -> "SimulatorProcess":
    """A simulator process (not yet started) for one run: fresh passwords and a certificate folder of
    its own, removed when it stops."""
    return SimulatorProcess(options, tuple(defects), fresh_passwords(options), tempfile.mkdtemp(prefix="rec-sim-tls-"),
                            host, owns_cert_dir=True)


class SimulatorProcess:
    """A simulator served by a child process (HTTPS on loopback, a certificate made at start)."""

    def __init__(self, options: dict[str, str], defects: tuple[str, ...] | list[str], passwords: dict[str, str],
                 cert_dir: str | Path, host: str = "127.0.0.1", owns_cert_dir: bool = False):
        settings = Settings.from_options(options, defects=defects)        # ValueError on a bad option
        self.array = Array(build_inventory(options, passwords), settings)   # the same state; never served
        self._config = {"options": options, "defects": list(defects), "passwords": passwords,
                        "cert_dir": str(cert_dir), "host": host, "owns_cert_dir": owns_cert_dir}
        self.host, self.port, self.tls = host, 0, True
        self.ca_path: Path | None = None
        self._log = Path(cert_dir) / "simulator.log"
        self._proc: subprocess.Popen | None = None
        self._owns = Path(cert_dir) if owns_cert_dir else None

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "SimulatorProcess":
        return self.spawn().wait_ready(timeout)

    def spawn(self) -> "SimulatorProcess":
        """Start the child and return at once (it starts while the caller goes on: the plugin spawns
        it as the suite's first module is collected); ``wait_ready`` waits for it to serve."""
        Path(self._config["cert_dir"]).mkdir(parents=True, exist_ok=True)
        log = self._log.open("wb")
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "pytest_rec.simulator.process"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                          start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            log.close()
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(self._config).encode() + b"\n")
        self._proc.stdin.flush()
        return self

    def wait_ready(self, timeout: float = 60.0) -> "SimulatorProcess":
        if self.port:
            return self
        if self._proc is None or self._proc.stdout is None:
            raise RuntimeError("the simulator is not running: spawn() it first")
        line = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    log = self._log_tail()
                    self.stop()
                    raise RuntimeError(f"the simulator did not start within {timeout:.0f} s; its output: {log}")
                chunk = os.read(self._proc.stdout.fileno(), 65536)
                if not chunk:
                    self._proc.wait(timeout=10)
                    log = self._log_tail()
                    self.stop()
                    raise RuntimeError(f"the simulator process ended at start: {log}")
                line += chunk
        ready = json.loads(line)
        self.port, self.ca_path = int(ready["port"]), Path(ready["ca"])
        return self

    def _log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:].strip() or "(nothing)"
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()          # the child's cue to stop, should the kill below fail
        except OSError:
            pass
        proc.kill()                         # nothing in it to save: the run is over (a graceful stop costs ~0.2 s)
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if self._owns is not None:
            shutil.rmtree(self._owns, ignore_errors=True)

    # ------------------------------------------------------------- the target it is
    def target(self) -> dict:
        """As ``SimulatorServer.target()``."""
        if self._proc is None:
            raise RuntimeError("the simulator is not running: start() it first")
        return target_data(self.array.inventory, self.base_url, str(self.ca_path), sim_password_env)

    def target_env(self) -> dict[str, str]:
        return target_env(self.array.inventory, sim_password_env)

    def target_text(self) -> str:
        return target_toml(self.target())

    def __enter__(self) -> "SimulatorProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _child() -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    from .server import SimulatorServer

    config = json.loads(sys.stdin.buffer.readline())
    settings = Settings.from_options(config["options"], defects=config["defects"])
    array = Array(build_inventory(config["options"], config["passwords"]), settings)
    server = SimulatorServer(array, config["host"], 0, tls=True, cert_dir=config["cert_dir"]).start()
    try:
        sys.stdout.write(json.dumps({"port": server.port, "ca": str(server.ca_path)}) + "\n")
        sys.stdout.flush()
        while sys.stdin.buffer.read(65536):     # until the parent closes the pipe, or dies
            pass
    finally:
        server.stop()
        if config.get("owns_cert_dir"):         # a killed run cannot remove it (the key is in it)
            shutil.rmtree(config["cert_dir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child())
