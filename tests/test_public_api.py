"""The public surface is exactly this; changing it is a deliberate act."""

import subprocess
import sys

import greentts

EXPECTED = {
    "Engine", "EngineConfig", "SynthesisSettings", "SynthesisStream", "Result", "AudioChunk", "SegmentInfo", "Enrollment",
    "EnergyReport", "EnergyTotals", "Lexicon", "RuleHit", "GreenTTSError", "InputError", "EmptyTextError", "DictionaryError", "FormatError",
    "VoiceError", "ModelError", "AssetError", "Overloaded", "EngineClosed", "__version__",
}


def test_all_is_pinned():
    assert set(greentts.__all__) == EXPECTED
    for name in greentts.__all__:
        assert hasattr(greentts, name)


def test_error_hierarchy():
    for name in EXPECTED - {"__version__"}:
        obj = getattr(greentts, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, greentts.GreenTTSError)
    assert issubclass(greentts.EmptyTextError, greentts.InputError)
    assert issubclass(greentts.InputError, ValueError)


def test_import_has_no_side_effects():
    code = (
        "import logging, threading, sys\n"
        "before = threading.active_count(); handlers = list(logging.getLogger().handlers)\n"
        "import greentts\n"
        "assert threading.active_count() == before, 'threads started at import'\n"
        "assert logging.getLogger().handlers == handlers, 'logging reconfigured at import'\n"
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported eagerly'\n"
        "assert 'jieba' not in sys.modules, 'jieba imported eagerly'\n"
        "assert 'torch' not in sys.modules, 'torch imported eagerly (cloning is an optional extra)'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
