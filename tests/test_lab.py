"""JupyterLab, as the README opens it, runs the chapters with a kernel that finds ``gpt_lesson``.

Starts ``jupyter lab`` the way ``make lab`` does (from the repository, ``--allow-root`` when
run as root, which Jupyter requires), on a free local port with a random token and no
browser. Then, for every notebook in ``notebooks/``, it opens a session as JupyterLab does
when a notebook is opened (REST ``POST /api/sessions``), runs the notebook's first two code
cells and ``import gpt_lesson`` through the kernel's websocket (the Jupyter messaging protocol, as
the browser speaks it), and checks both succeed. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import requests
import websocket

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
START_TIMEOUT_S = 120
CELL_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Lab:
    """A running JupyterLab server: its base URL and token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.headers = {"Authorization": f"token {token}"}

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", headers=self.headers, timeout=30)

    def post(self, path: str, body: dict) -> requests.Response:
        return requests.post(f"{self.url}{path}", headers=self.headers, json=body, timeout=60)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(f"{self.url}{path}", headers=self.headers, timeout=60)


def _wait_until_up(lab: Lab, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with code {server.returncode} before serving")
        try:
            if lab.get("/api/status").status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer on {lab.url} within {START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        f"--notebook-dir={REPO}",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = tmp_path_factory.mktemp("lab") / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
    lab = Lab(f"http://127.0.0.1:{port}", token)
    try:
        _wait_until_up(lab, server)
        yield lab
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def _execute_request(code: str, session: str) -> dict:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "session": session,
            "username": "test",
            "version": "5.3",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }


def run_cell(channel: websocket.WebSocket, code: str) -> tuple[str, str]:
    """Run ``code`` in the kernel: (status of the reply, the text it printed or its error)."""
    request = _execute_request(code, session=uuid.uuid4().hex)
    channel.send(json.dumps(request))
    msg_id = request["header"]["msg_id"]
    printed, status, idle = [], None, False
    deadline = time.monotonic() + CELL_TIMEOUT_S
    while status is None or not idle:
        channel.settimeout(max(deadline - time.monotonic(), 0.1))
        message = json.loads(channel.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream" and content["name"] == "stdout":
            printed.append(content["text"])
        elif kind == "error":
            printed.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "execute_reply":
            status = content["status"]
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    return status, "".join(printed)


def _opening_cells(notebook: Path) -> str:
    """The first two code cells: ``import gpt_lesson`` and the chapter's imports."""
    cells = nbformat.read(notebook, as_version=4).cells
    return "\n".join([cell.source for cell in cells if cell.cell_type == "code"][:2])


def test_the_lab_page_is_served(lab):
    page = lab.get("/lab")
    assert page.status_code == 200, page.status_code
    assert "JupyterLab" in page.text


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_opening_cells_run_in_a_lab_kernel(lab, notebook):
    path = notebook.relative_to(REPO).as_posix()
    response = lab.post(
        "/api/sessions",
        {"path": path, "name": notebook.name, "type": "notebook", "kernel": {"name": "python3"}},
    )
    assert response.status_code == 201, response.text
    session = response.json()
    kernel = session["kernel"]["id"]
    channel = websocket.create_connection(
        f"{lab.url.replace('http', 'ws')}/api/kernels/{kernel}/channels?token={lab.token}",
        timeout=CELL_TIMEOUT_S,
    )
    try:
        status, printed = run_cell(channel, _opening_cells(notebook))
        assert status == "ok", f"{path}'s opening cells failed in the lab kernel:\n{printed}"
        status, printed = run_cell(
            channel, "import os, gpt_lesson; print(gpt_lesson.__file__); print(os.getcwd())"
        )
        assert status == "ok", printed
        package, cwd = printed.split()
        assert Path(package) == REPO / "gpt_lesson" / "__init__.py", package
        assert Path(cwd) == notebook.parent, f"the kernel runs in {cwd}, not beside {path}"
    finally:
        channel.close()
        lab.delete(f"/api/sessions/{session['id']}")
