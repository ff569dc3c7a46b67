"""Serve the simulator with uvicorn in a background thread (loopback, optional TLS).

``SimulatorServer.target()`` is the one place that turns a running simulator into a target
(CONTRACT section 3): the plugin's built-in target and ``rec-sim --target-out`` both use it.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from .app import create_app
from .array import Array
from .settings import Settings
from .inventory import Inventory
from .targetfile import sim_password_env, target_data, target_env, target_toml


class SimulatorServer:
    """A running simulator. Use as a context manager or call ``start``/``stop``."""

    def __init__(self, array: Array | None = None, host: str = "127.0.0.1", port: int = 0,
                 tls: bool = False, *, settings: Settings | None = None,
                 inventory: Inventory | None = None, cert_dir: str | Path | None = None,
                 ca_dir: str | Path | None = None):
        self.array = array or Array(inventory, settings)
        self.host, self.port, self.tls = host, port, tls
        self.ca_path: Path | None = None
        self._cert_dir = Path(cert_dir) if cert_dir else None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._made_dir: Path | None = None
        self._ca_dir = Path(ca_dir) if ca_dir else None     # a CA kept across restarts (rec-sim --ca DIR)

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # ------------------------------------------------------------- the target it is
    def target(self) -> dict:
        """The ready target data of this running simulator, in the shape of CONTRACT section 3
        (a parsed target file): ``url``, ``verify`` (the CA path when serving TLS, else true),
        ``users`` (``{key: {"name", "password_env": "REC_SIM_<KEY>_PASSWORD"}}``), ``sessions``
        (with ``identity`` and ``baseline`` tables keyed by session id as a string), ``array``,
        ``capabilities``. The passwords themselves: ``target_env()``."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: start() it first")
        verify: bool | str = str(self.ca_path) if self.ca_path else True
        return target_data(self.array.inventory, self.base_url, verify, sim_password_env)

    def target_env(self) -> dict[str, str]:
        """``REC_SIM_<KEY>_PASSWORD`` -> password, for every user ``target()`` names."""
        return target_env(self.array.inventory, sim_password_env)

    def target_text(self) -> str:
        """``target()`` as a target file (TOML)."""
        return target_toml(self.target())

    def _tls_files(self) -> dict:
        import trustme

        ca = self._kept_ca() if self._ca_dir is not None else trustme.CA()
        cert = ca.issue_cert(self.host, "localhost")
        if self._cert_dir is None:          # a folder of its own, removed by stop()
            self._made_dir = self._cert_dir = Path(tempfile.mkdtemp(prefix="rec-sim-tls-"))
        folder = self._cert_dir
        folder.mkdir(parents=True, exist_ok=True)
        self.ca_path = folder / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        if self._ca_dir is not None:        # the target file names the kept CA: valid across restarts
            self.ca_path = self._ca_dir / "ca.pem"
        key, chain = folder / "server.key", folder / "server.pem"
        cert.private_key_pem.write_to_path(str(key))
        key.chmod(0o600)                    # the server's private key: readable by its owner only
        cert.cert_chain_pems[0].write_to_path(str(chain))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(chain), append=True)
        return {"ssl_keyfile": str(key), "ssl_certfile": str(chain)}

    def _kept_ca(self):
        """The CA of ``ca_dir`` (ca.pem, ca.key), made there on first use: a server certificate is issued
        at each start, always by the same CA, so a target file's ``verify`` path stays valid."""
        import trustme

        folder = self._ca_dir
        cert, key = folder / "ca.pem", folder / "ca.key"
        if cert.exists() and key.exists():
            return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
        folder.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        ca.private_key_pem.write_to_path(str(key))
        key.chmod(0o600)                    # the CA's private key: readable by its owner only
        ca.cert_pem.write_to_path(str(cert))
        return ca

    def start(self) -> "SimulatorServer":
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit this on Linux; without it each response waits ~40 ms
        # (Nagle + delayed ACK: uvicorn writes the head and the body separately)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((self.host, self.port))
        self.port = self._sock.getsockname()[1]
        tls = self._tls_files() if self.tls else {}
        config = uvicorn.Config(create_app(self.array), log_level="critical", access_log=False,
                                lifespan="off", timeout_keep_alive=30, timeout_graceful_shutdown=1, **tls)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"rec-sim:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True      # do not wait for idle keep-alive connections
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
        if self._made_dir is not None:
            shutil.rmtree(self._made_dir, ignore_errors=True)
            self._made_dir = self._cert_dir = None

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
