"""Compare the rebuilt torch Kokoro against onnxruntime on the int8 ONNX model.

Usage: venv/bin/python check.py [--onnx PATH] [--no-timing]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_kokoro as tk  # noqa: E402

ONNX = os.path.expanduser('~/.cache/greentts/kokoro-v1.0.int8.onnx')
VOICES = '/work/main/src/greentts/data/kokoro_v1_0_voices.npz'
MAIN_PY = '/work/main/.venv/bin/python'
IDS_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ids_cache.json')
SENTENCES = [
    ('Hello there, how are you today?', 'af_heart'),
    ('The quick brown fox jumps over the lazy dog.', 'af_heart'),
    ('今天天气很好，我们一起去公园散步吧。', 'zf_xiaoxiao'),
]
SR = 24000


def get_ids(text: str) -> list[list[int]]:
    """Phoneme ids per segment, via greentts' Frontend (main venv), cached."""
    cache = json.load(open(IDS_CACHE)) if os.path.exists(IDS_CACHE) else {}
    if text not in cache:
        code = ('import json,sys\nfrom greentts.text.frontend import Frontend\n'
                'print(json.dumps([list(s.ids) for s in Frontend().phonemize(sys.argv[1])]))')
        out = subprocess.run([MAIN_PY, '-c', code, text], capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]
        cache[text] = json.loads(out)
        json.dump(cache, open(IDS_CACHE, 'w'), ensure_ascii=False, indent=0)
    return cache[text]


# ----------------------------------------------------------------- log-mel

def _mel_fb(sr=SR, n_fft=1024, n_mels=80, fmin=0.0, fmax=None):
    fmax = fmax or sr / 2
    hz2mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    mel2hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    mels = np.linspace(hz2mel(fmin), hz2mel(fmax), n_mels + 2)
    hz = mel2hz(mels)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, len(bins)), dtype=np.float64)
    for m in range(n_mels):
        lo, c, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (bins - lo) / max(c - lo, 1e-9)
        down = (hi - bins) / max(hi - c, 1e-9)
        fb[m] = np.maximum(0, np.minimum(up, down))
    return fb


_FB = _mel_fb()


def log_mel(x: np.ndarray, n_fft=1024, hop=256) -> np.ndarray:
    x = np.pad(x.astype(np.float64), (n_fft // 2, n_fft // 2), mode='reflect')
    win = np.hanning(n_fft + 1)[:-1]
    n = 1 + (len(x) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n, n_fft), strides=(x.strides[0] * hop, x.strides[0]))
    spec = np.abs(np.fft.rfft(frames * win, axis=1)) ** 2
    return np.log(spec @ _FB.T + 1e-6)  # [frames, 80]


def compare(a_ref: np.ndarray, a_test: np.ndarray):
    m1, m2 = log_mel(a_ref), log_mel(a_test)
    n = min(len(m1), len(m2))
    corr = float(np.corrcoef(m1[:n].ravel(), m2[:n].ravel())[0, 1])
    return len(a_test) / len(a_ref), corr


# ----------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--onnx', default=ONNX)
    ap.add_argument('--no-timing', action='store_true')
    ap.add_argument('--save-wav', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(2)

    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    # ORT's idle worker threads spin by default and starve torch on 2 cores.
    so.add_session_config_entry('session.intra_op.allow_spinning', '0')
    import onnx
    mp = onnx.load(args.onnx)  # expose the rounded durations as a 2nd output
    mp.graph.output.append(onnx.helper.make_empty_tensor_value_info('/encoder/Clip_output_0'))
    sess = ort.InferenceSession(mp.SerializeToString(), so,
                                providers=['CPUExecutionProvider'])
    del mp
    voices = np.load(VOICES)

    t0 = time.time()
    model = tk.load_torch_kokoro(args.onnx)
    print(f'torch model built in {time.time() - t0:.1f}s\n')

    rows = []
    for text, voice in SENTENCES:
        segs = get_ids(text)
        ref_all, test_all = [], []
        for si, ids in enumerate(segs):
            style = voices[voice][len(ids) - 1].astype(np.float32)
            ref, odur = sess.run(None, {
                'tokens': np.array([[0, *ids, 0]], dtype=np.int64),
                'style': style[None], 'speed': np.ones(1, np.float32)})
            ref = ref.reshape(-1)
            test = tk.synthesize(model, ids, style, 1.0)
            ratio, corr = compare(ref, test)
            # same again with the ONNX model's integer durations forced, to
            # separate duration-rounding flips from everything else.
            with torch.no_grad():
                forced, tdur = tk.forward_tokens(
                    model, torch.tensor([[0, *ids, 0]]),
                    torch.from_numpy(style[None]), 1.0,
                    durations=odur.reshape(-1).astype(np.int64))
            _, corr_forced = compare(ref, forced.numpy())
            with torch.no_grad():
                _, own = tk.forward_tokens(model, torch.tensor([[0, *ids, 0]]),
                                           torch.from_numpy(style[None]), 1.0)
            flips = int((own.numpy() != odur.reshape(-1)).sum())
            rows.append((text if si == 0 else '  (cont.)', voice, si, len(ids),
                         len(ref) / SR, len(test) / SR, ratio, corr, flips,
                         corr_forced))
            ref_all.append(ref)
            test_all.append(test)
            if args.save_wav:
                import wave
                for tag, a in (('onnx', ref), ('torch', test)):
                    with wave.open(f'out_{voice}_{len(rows)}_{tag}.wav', 'wb') as w:
                        w.setnchannels(1); w.setsampwidth(2); w.setframerate(SR)
                        w.writeframes((np.clip(a, -1, 1) * 32767).astype(np.int16).tobytes())

    print(f"{'sentence':44s} {'voice':12s} seg nid  onnx_s torch_s ratio  logmel_r"
          f"  dur_flips  logmel_r(onnx durs)")
    for text, voice, si, nid, d1, d2, ratio, corr, flips, cf in rows:
        print(f'{text[:44]:44s} {voice:12s} {si:3d} {nid:3d} {d1:7.3f} {d2:7.3f} '
              f'{ratio:5.3f}  {corr:.4f}    {flips:3d}       {cf:.4f}')
    corrs = [r[7] for r in rows]
    print(f'\nmin log-mel corr {min(corrs):.4f}  mean {np.mean(corrs):.4f}  '
          f'(target > 0.96)')

    if not args.no_timing:
        ids = get_ids(SENTENCES[0][0])[0]
        style = torch.tensor(voices['af_heart'][len(ids) - 1][None], dtype=torch.float32)
        inp = torch.tensor([[0, *ids, 0]])
        feeds = {'tokens': inp.numpy(), 'style': style.numpy(),
                 'speed': np.ones(1, np.float32)}
        t_ort, t_fwd, t_fb = [], [], []
        for _ in range(3):
            t0 = time.perf_counter()
            sess.run(None, feeds)
            t_ort.append(time.perf_counter() - t0)
            with torch.no_grad():
                t0 = time.perf_counter()
                audio, _ = tk.forward_tokens(model, inp, style)
                t_fwd.append(time.perf_counter() - t0)
            s = style.clone().requires_grad_(True)
            t0 = time.perf_counter()
            audio, _ = tk.forward_tokens(model, inp, s)
            audio.pow(2).mean().backward()
            t_fb.append(time.perf_counter() - t0)
        g = s.grad
        med = lambda x: float(np.median(x))  # noqa: E731
        print(f'\nTiming, {audio.numel() / SR:.2f}s of audio, 2 threads, median of 3: '
              f'onnxruntime {med(t_ort):.2f}s | torch forward (no_grad) {med(t_fwd):.2f}s '
              f'| torch forward+backward w.r.t. style {med(t_fb):.2f}s')
        print(f'grad finite={bool(torch.isfinite(g).all())} '
              f'|g| decoder-half={g[0, :128].norm():.3e} predictor-half={g[0, 128:].norm():.3e}')

if __name__ == '__main__':
    main()
