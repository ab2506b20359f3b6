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
