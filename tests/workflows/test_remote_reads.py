"""Files read over HTTP from a server on loopback: equal results, and a stall that times out."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from common.exceptions import IncompleteRunError, InputFileError
from processors.fourtops import FourTopsProcessor
from tests.helpers import tt_file_inputs
from workflows.cluster import ClusterSpec
from workflows.pipeline import run_processor

TIMEOUT_S = 2.0
pytestmark = [pytest.mark.filterwarnings("ignore:Missing cross-reference:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:Branch .* already exists:RuntimeWarning")]


class _FileServer:
    """Serves one file with HTTP range requests; ``stall()`` makes every later GET hang."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        self.release = threading.Event()
        self.stalling = False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def do_GET(self) -> None:
                if server.stalling:
                    server.release.wait(30)  # bounded: the test releases it at teardown
                    return
                first, last = 0, len(data) - 1
                if "Range" in self.headers:
                    a, b = self.headers["Range"].split("=")[1].split("-")
                    first, last = int(a), (int(b) if b else len(data) - 1)
                body = data[first:last + 1]
                self.send_response(206 if "Range" in self.headers else 200)
                self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/{path.name}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stall(self) -> None:
        self.stalling = True

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


_SERVERS: dict[str, _FileServer] = {}  # the processor is pickled: it finds the server here


class StallingOnFirstChunk(FourTopsProcessor):
    """Makes the server stall once the first chunk starts (its branches are read lazily)."""

    def process(self, events):
        _SERVERS["active"].stall()
        return super().process(events)


@pytest.fixture
def served(nanoaod_dir):
    server = _FileServer(nanoaod_dir / "nano_tt_v12.root")
    yield server
    server.close()


def _setup(nanoaod_dir: Path, path: str):
    return tt_file_inputs(nanoaod_dir, path, read_timeout_s=TIMEOUT_S)


def test_a_file_over_http_gives_the_histograms_of_the_local_copy(nanoaod_dir, served):
    local = run_processor(*_setup(nanoaod_dir, str(nanoaod_dir / "nano_tt_v12.root")),
                          ClusterSpec("iterative", status=False), 100)
    remote = run_processor(*_setup(nanoaod_dir, served.url),
                           ClusterSpec("iterative", status=False), 100,
                           read_timeout_s=TIMEOUT_S)
    assert remote.events == local.events == 200
    for name, h in local.output["hists"].items():
        np.testing.assert_array_equal(h.values(flow=True),
                                      remote.output["hists"][name].values(flow=True))


def test_a_server_that_stalls_during_processing_stops_the_run_naming_it(nanoaod_dir, served,
                                                                         monkeypatch):
    import workflows.pipeline as pipeline

    monkeypatch.setattr(pipeline, "FourTopsProcessor", StallingOnFirstChunk)
    monkeypatch.setitem(_SERVERS, "active", served)
    config, fileset, infos = _setup(nanoaod_dir, served.url)
    start = time.monotonic()
    with pytest.raises(IncompleteRunError) as info:
        run_processor(config, fileset, infos, ClusterSpec("iterative", status=False), 100,
                      read_timeout_s=TIMEOUT_S)
    message = str(info.value)
    assert served.url in message and "timed out after 2 s" in message
    assert "stopped answering" in message and "No output was written" in message
    assert time.monotonic() - start < 60  # coffea's retries, each bounded by the timeout


def test_a_server_that_stalls_at_the_file_check_is_named(nanoaod_dir, served):
    served.stall()
    with pytest.raises(InputFileError, match="timed out after 2 s") as info:
        _setup(nanoaod_dir, served.url)
    assert info.value.path == served.url
