"""Where the windowed Kokoro decoder's activation peak is (issue 20: memory).

Runs the decoder graph (``kokoro_graph="windowed"``, not optimized, so its nodes are the file's) on one real
segment with every intermediate tensor as an output, then replays the nodes in the file's order, each
tensor alive from its writer to its last reader, and prints the peak of that live set, the node where it
is reached, the largest tensors alive there, and the peak per rendered frame (600 samples). onnxruntime
may run the nodes in another order and reuse buffers, so this is a model of the arena's peak, to be
checked against peak RSS (docs/benchmarks.md: ~0.65 MB per frame measured).

    python bench/decoder_liveset.py [--text "..."] [--top 12]
"""

from __future__ import annotations

import argparse

import numpy as np

DEFAULT_TEXT = ("When the committee finally met on the third floor of the old library, nobody could remember "
                "who had first suggested it.")


def _with_all_outputs(path: str):  # noqa: ANN202 - onnx has no types
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    graph = model.graph
    types = {v.name: v.type for v in [*graph.value_info, *graph.output, *graph.input]}
    have = {o.name for o in graph.output}
    for node in graph.node:
        for out in node.output:
            if out and out not in have and out in types:
                vi = onnx.ValueInfoProto(name=out)
                vi.type.CopyFrom(types[out])
                graph.output.append(vi)
                have.add(out)
    return model


def _replay(nodes, sizes: dict[str, int]) -> tuple[int, int, dict[str, int]]:  # noqa: ANN001
    last = {x: i for i, n in enumerate(nodes) for x in n.input}
    live: dict[str, int] = {}
    cur = peak = at = 0
    at_peak: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for out in node.output:
            if out in sizes:
                live[out] = sizes[out]
                cur += sizes[out]
        if cur > peak:
            peak, at, at_peak = cur, i, dict(live)
        for x in set(node.input):
            if x in live and last[x] == i:
                cur -= live.pop(x)
    return peak, at, at_peak


def _dfs_order(nodes, outputs: list[str]) -> list:  # noqa: ANN001
    """Post-order depth-first from the graph's outputs, each node's inputs in order (a model of a
    depth-first scheduler: one branch to its end before the next starts)."""
    writer = {out: n for n in nodes for out in n.output}
    seen: set[int] = set()
    order: list = []
    stack = [(writer[o], False) for o in reversed(outputs) if o in writer]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((writer[x], False) for x in reversed(node.input) if x in writer and id(writer[x]) not in seen)
    return order


def main() -> None:
    import onnxruntime as ort

    from greentts.models import kokoro
    from greentts.models.assets import kokoro_window_paths
    from greentts.models.windowing import decoder_feed, plan_window
    from greentts.text.frontend import Frontend
    from greentts.voices.store import VoiceStore

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text", default=DEFAULT_TEXT)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--order", choices=("file", "dfs"), default="file",
                    help="file: the nodes in the graph file's order; dfs: depth-first from the output")
    args = ap.parse_args()
    front_path, decoder_path = kokoro_window_paths()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    model = _with_all_outputs(str(decoder_path))
    decoder = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    front = ort.InferenceSession(str(front_path), so, providers=["CPUExecutionProvider"])
    (segment,) = Frontend().phonemize(args.text, lang="en", first_max_ids=510)
    feed = kokoro._model_feed(segment.ids, VoiceStore().get("af_heart"), 1.0)
    predicted = front.run(list(kokoro.FRONT_OUTPUTS), feed)
    window = plan_window(np.asarray(predicted[0], np.int64).reshape(-1), 1)
    names = [o.name for o in decoder.get_outputs()]
    values = decoder.run(names, decoder_feed(predicted, window, feed["style"], np.zeros(kokoro.ADAIN_DIM, np.float32)))
    sizes = {n: int(v.nbytes) for n, v in zip(names, values)}
    nodes = list(model.graph.node)
    if args.order == "dfs":
        nodes = _dfs_order(nodes, ["audio"])
    peak, at, at_peak = _replay(nodes, sizes)
    frames = window.end - window.start
    node = nodes[at]
    print(f"{len(segment.ids)} ids, {frames} frames rendered; peak live set {peak / 1e6:.1f} MB "
          f"({peak / 1e6 / frames:.3f} MB per frame) at node {at} of {len(nodes)} ({args.order} order): {node.op_type} {node.name}")
    for name, size in sorted(at_peak.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {size / 1e6:8.1f} MB  {name}")


if __name__ == "__main__":
    main()
