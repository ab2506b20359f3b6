"""Shared fixtures. Real-model fixtures assemble weights from the installed packages into a temp cache."""

import pytest


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("greentts-cache")


@pytest.fixture(scope="session")
def engine(cache_dir):
    from greentts import Engine

    eng = Engine(cache_dir=cache_dir)
    eng.warm_up(("standard", "eco"))
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def asr(cache_dir):
    from greentts.quality.asr import Transcriber

    return Transcriber(cache_dir)


@pytest.fixture
def cli_peak_rss(cache_dir):
    """Run ``greentts ARGS`` in a fresh process; returns (peak RSS in bytes, stdout). The peak is VmHWM of
    that process image (ru_maxrss would include the forking pytest process)."""
    import os
    import subprocess
    import sys
    import tempfile

    def run(*args: str) -> tuple[int, str]:
        fd, rss = tempfile.mkstemp(suffix=".rss")
        os.close(fd)
        wrapper = ("import atexit, re, sys\n"
                   "hwm = lambda: re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]\n"
                   f"atexit.register(lambda: open({rss!r}, 'w').write(hwm()))\n"
                   "from greentts.cli import main\nsys.argv = ['greentts'] + sys.argv[1:]\nmain()\n")
        res = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, timeout=1200,
                             env=dict(os.environ, GREENTTS_CACHE_DIR=str(cache_dir)))
        assert res.returncode == 0, res.stderr[-3000:]
        with open(rss) as f:
            peak = int(f.read()) * 1024
        os.unlink(rss)
        return peak, res.stdout

    return run


@pytest.fixture(scope="module")
def http_server(engine):
    """A live server on loopback around the session's engine (tests/test_server.py's LiveServer)."""
    pytest.importorskip("fastapi")
    from test_server import _serve

    server, _ = _serve(engine)
    yield server
    server.stop()
