"""Embedding backends: faithful to the fp32 reference, same windows, `auto` chosen once and
cached, clean fallbacks, and no torch import on the ONNX paths. Offline (HF_HUB_OFFLINE=1).

The ONNX export (a few seconds) happens once per session into a temporary cache dir;
the tests that make it, or any other model artefact, or load torch are marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval import ConfigError, embed
from retrieval.backends import fidelity, int8, ir, onnx_export, runtimes
from retrieval.backends.registry import REGISTRY
from retrieval.backends.wordpiece import WordPiece, token_batches
from retrieval.embed import (
    AUTO_ORDER,
    BACKENDS,
    REFERENCE,
    is_prepared,
    load_encoder,
    model_path,
    unavailable,
)
from retrieval.ingest import encode_unique

ROOT = Path(__file__).resolve().parent.parent
FAST = [b for b in BACKENDS if b != REFERENCE]
SENTENCES = [
    "The U.S. imposed tariffs of 25% on $50 billion of Chinese imports.",
    "Beijing vowed countermeasures after Washington raised import duties.",
    "Oil rose 3.2% to $84.15 a barrel.",
    "Who won the election in Brazil?",
    "x",
    fidelity.probe_texts()[-1],  # longer than the window: truncated at 256 tokens
]
LONG_TEXT = (
    "Trade ministers met in Osaka to discuss protectionism and the WTO. " * 40
    + "U.S.-" * 150  # ~600 tokens with no whitespace: must be cut inside the "word"
    + " Officials said a joint communique would stop short of condemning tariffs. " * 10
)
FORBIDDEN = ("torch", "sentence_transformers", "transformers", "nncf")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """A cache dir holding the ONNX export and the probe set's fp32 vectors, made once."""
    cache = tmp_path_factory.mktemp("models")
    folder = Path(model_path())
    onnx_export.ensure_onnx(cache, folder)
    fidelity.reference_vectors(cache, folder, lambda: load_encoder(REFERENCE, cache_dir=cache))
    return cache


@pytest.fixture(scope="session")
def reference(model_cache):
    return load_encoder(REFERENCE, cache_dir=model_cache)


def _load(backend: str, cache: Path):
    if unavailable(backend) and backend != "st-bf16":
        pytest.skip(f"{backend}: {unavailable(backend)}")
    return load_encoder(backend, cache_dir=cache)


def _fresh_cache(model_cache: Path, tmp_path: Path) -> Path:
    """A cache with the session's exports and fp32 vectors (hard links) but no verdicts."""
    cache = tmp_path / "models"
    cache.mkdir()
    made = ("*.onnx", "*.npy", "*.xml", "*.bin")
    for path in [p for pattern in made for p in model_cache.glob(pattern)]:
        os.link(path, cache / path.name)
    return cache


@pytest.mark.slow
@pytest.mark.parametrize("backend", FAST)
def test_backend_matches_reference(backend, reference, model_cache):
    encoder = _load(backend, model_cache)
    assert (encoder.name, encoder.backend, encoder.dim) == (reference.name, backend, 384)
    got, want = encoder.encode(SENTENCES), reference.encode(SENTENCES)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(got * want, axis=1)
    assert cosines.mean() >= 0.999, cosines
    assert encoder.encode([]).shape == (0, 384)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "openvino", "openvino-int8"])
def test_order_and_batching_do_not_change_vectors(backend, model_cache):
    encoder = _load(backend, model_cache)
    alone = np.stack([encoder.encode([s])[0] for s in SENTENCES])
    batched = encoder.encode(SENTENCES[::-1])[::-1]
    assert np.sum(alone * batched, axis=1).min() > 0.9999
    # More texts than one batch: OpenVINO's bulk path (async, several batches in flight)
    # must put every vector back on its own row.
    order = np.random.default_rng(0).permutation(len(SENTENCES) * 12)
    many = [f"{SENTENCES[i % len(SENTENCES)]} ({i})" for i in order]
    bulk = encoder.encode(many)
    assert len(many) > encoder.batch_size
    one_by_one = np.stack([encoder.encode([text])[0] for text in many])
    assert np.sum(one_by_one * bulk, axis=1).min() > 0.9999


def test_registry_declares_each_backend_once():
    """Auto tries every ranked backend once, fastest first, and falls back to the reference."""
    assert AUTO_ORDER == ("openvino-int8", "openvino", "onnx", "st-bf16")
    ranks = [b.auto_rank for b in REGISTRY.values() if b.auto_rank is not None]
    assert len(set(ranks)) == len(ranks) == len(AUTO_ORDER)  # a shared rank would drop one
    assert REGISTRY[REFERENCE].auto_rank is None and REGISTRY[REFERENCE].cpu is None
    for backend in REGISTRY.values():
        # A backend with a made artefact says what making it needs, and only then.
        assert (backend.artifact is None) == (not backend.make_modules), backend.name
        assert backend.modules and backend.libraries, backend.name


def test_is_prepared_says_whether_loading_would_make_or_check_anything(tmp_path, monkeypatch):
    """Read from the cache alone: no model is loaded, exported or checked here."""
    if unavailable("onnx"):
        pytest.skip(unavailable("onnx"))
    monkeypatch.setattr(embed, "AUTO_ORDER", ("onnx",))
    folder = Path(model_path())
    assert is_prepared(REFERENCE, cache_dir=tmp_path)  # the packaged model is enough
    assert not is_prepared("onnx", cache_dir=tmp_path)  # the export is missing
    assert not is_prepared("auto", cache_dir=tmp_path)
    export = embed.artifact_path("onnx", tmp_path, folder)
    export.write_bytes(b"stands in for the export")
    assert is_prepared("onnx", cache_dir=tmp_path)
    assert not is_prepared("auto", cache_dir=tmp_path)  # made, but never checked
    key = fidelity.verdict_key("onnx", folder, export)
    for passed in (False, True):  # unfaithful: auto goes straight to the reference
        verdict = fidelity.Verdict("onnx", passed, 1.0, 1.0, 1.0, 0.1, "2024-01-01T00:00:00")
        fidelity._store_verdict(tmp_path, key, verdict)
        assert is_prepared("auto", cache_dir=tmp_path)
    export.write_bytes(b"a different export")  # the verdict was for the old file
    os.utime(export, ns=(1, 1))
    assert not is_prepared("auto", cache_dir=tmp_path)


@given(st.lists(st.integers(1, 300), max_size=200), st.integers(1, 4096))
def test_token_batches_cover_each_text_once_within_budget(lengths, budget):
    batches = list(token_batches(lengths, budget))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        width = max(lengths[i] for i in batch)
        assert lengths[batch[0]] == width
        assert len(batch) == 1 or len(batch) * width <= budget


def test_ingest_encodes_repeated_sentences_once():
    seen: list[list[str]] = []

    class Counting:
        def encode(self, texts):
            seen.append(list(texts))
            return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    texts = ["Shr 10 cts.", "Oil rose.", "Shr 10 cts.", "Oil rose.", "New."]
    vectors = encode_unique(Counting(), texts)
    assert seen == [["Shr 10 cts.", "Oil rose.", "New."]]
    assert vectors[:, 0].tolist() == [float(len(t)) for t in texts]


@pytest.mark.slow
def test_token_ids_match_sentence_transformers(reference):
    texts = fidelity.probe_texts()
    features = reference._model.preprocess(texts)
    ids = WordPiece(Path(model_path()), 256).ids(texts)
    for i, text_ids in enumerate(ids):
        mask = features["attention_mask"][i].bool()
        assert features["input_ids"][i][mask].tolist() == text_ids
    assert max(len(x) for x in ids) == 256


@pytest.mark.slow
def test_windows_cover_long_text_within_token_limit(reference, model_cache):
    spans = reference.windows(LONG_TEXT)
    assert len(spans) >= 4
    wordpiece = WordPiece(Path(model_path()), 256)
    previous = 0
    for start, end in spans:
        assert previous <= start < end
        assert LONG_TEXT[previous:start].strip() == ""  # gaps are whitespace only
        assert wordpiece.count(LONG_TEXT[start:end]) <= 254
        previous = end
    assert LONG_TEXT[previous:].strip() == ""
    assert reference.windows("A short sentence.") == [(0, 17)]
    for backend in FAST:
        if not unavailable(backend):
            assert load_encoder(backend, cache_dir=model_cache).windows(LONG_TEXT) == spans


@pytest.mark.slow
def test_auto_chooses_and_caches_the_choice(model_cache, tmp_path, monkeypatch):
    cache = _fresh_cache(model_cache, tmp_path)
    first = load_encoder.__wrapped__("auto", cache_dir=cache)
    assert first.backend in (*AUTO_ORDER, REFERENCE)
    verdicts = json.loads((cache / fidelity.VERDICTS).read_text())
    if first.backend != REFERENCE:
        assert any(v["backend"] == first.backend and v["passed"] for v in verdicts.values())

    def no_check(*args, **kwargs):
        raise AssertionError("the cached verdict should have been used")

    monkeypatch.setattr(fidelity, "check", no_check)
    assert load_encoder.__wrapped__("auto", cache_dir=cache).backend == first.backend


@pytest.mark.slow
def test_auto_skips_unfaithful_backends_and_remembers(model_cache, tmp_path, monkeypatch):
    cache = _fresh_cache(model_cache, tmp_path)
    monkeypatch.setattr(embed, "AUTO_ORDER", ("openvino", "onnx"))  # st-bf16 is slow to load
    monkeypatch.setattr(fidelity, "MEAN_COSINE", 1.5)  # nothing can pass
    assert load_encoder.__wrapped__("auto", cache_dir=cache).backend == REFERENCE
    checked = json.loads((cache / fidelity.VERDICTS).read_text()).values()
    assert checked and not any(v["passed"] for v in checked)

    monkeypatch.setattr(fidelity, "MEAN_COSINE", 0.999)
    built = []
    real_build = embed._build

    def spy(backend, *args):
        built.append(backend)
        return real_build(backend, *args)

    monkeypatch.setattr(embed, "_build", spy)
    assert load_encoder.__wrapped__("auto", cache_dir=cache).backend == REFERENCE
    assert set(built) <= {REFERENCE}  # failed verdicts were not loaded or re-checked


@pytest.mark.slow
def test_auto_falls_back_when_a_backend_fails_to_import(model_cache, tmp_path, monkeypatch):
    cache = _fresh_cache(model_cache, tmp_path)
    real = runtimes.import_runtime

    def broken(backend):
        if backend.startswith("openvino"):
            raise ImportError("libopenvino.so: cannot open shared object file")
        return real(backend)

    monkeypatch.setattr(runtimes, "import_runtime", broken)
    chosen = load_encoder.__wrapped__("auto", cache_dir=cache)
    assert not chosen.backend.startswith("openvino")
    assert chosen.encode(["still works"]).shape == (1, 384)


def test_missing_backend_module(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    assert unavailable("onnx") == "onnxruntime not installed"
    with pytest.raises(ConfigError, match="cannot run here"):
        load_encoder.__wrapped__("onnx", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown embedding backend"):
        load_encoder.__wrapped__("onnx-int8", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before anything was made


def test_failed_export_leaves_no_file(tmp_path, monkeypatch):
    def crash(module, target):
        Path(target).write_bytes(b"half an onnx file")
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(onnx_export, "_load_transformer", lambda folder: None)
    monkeypatch.setattr(onnx_export, "_export", crash)
    folder = Path(model_path())
    with pytest.raises(RuntimeError, match="mid-export"):
        onnx_export.ensure_onnx(tmp_path, folder)
    assert list(tmp_path.iterdir()) == []


def test_model_cache_is_one_per_machine_unless_configured(tmp_path, monkeypatch):
    from retrieval import Corpus, load_settings

    monkeypatch.delenv("BRIEFBOT_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    caches = []
    for name in ("bot", "cli"):
        with Corpus(load_settings(data_dir=tmp_path / name)) as corpus:
            caches.append(corpus.model_cache)
    assert caches == [tmp_path / "xdg" / "briefbot" / "models"] * 2
    monkeypatch.setenv("BRIEFBOT_MODEL_CACHE", str(tmp_path / "mine"))
    with Corpus(load_settings(data_dir=tmp_path / "bot")) as corpus:
        assert corpus.model_cache == tmp_path / "mine"


def test_exclusive_lets_one_maker_in_at_a_time_and_leaves_no_lock(tmp_path):
    """Threads open the lock file separately, so they exclude each other as processes do."""
    import threading

    from retrieval.backends.common import exclusive

    target = tmp_path / "export.onnx"
    inside: list[int] = []
    overlaps: list[int] = []

    def maker(n: int) -> None:
        with exclusive(target):
            inside.append(n)
            if len(inside) > 1:
                overlaps.append(n)
            time.sleep(0.05)
            inside.remove(n)

    threads = [threading.Thread(target=maker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_two_processes_preparing_at_once_make_each_artefact_once(tmp_path):
    """A bot and a CLI started together on a cold machine-wide cache: one exports and
    compresses, the other waits and uses the same files."""
    if unavailable("openvino-int8", tmp_path / "missing"):
        pytest.skip(unavailable("openvino-int8", tmp_path / "missing"))
    cache = tmp_path / "models"
    script = f"""
import logging, sys, time
from pathlib import Path
from retrieval.backends import int8
from retrieval.embed import model_path
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
while time.time() < {time.time() + 5.0!r}:  # start together, after both have imported
    time.sleep(0.01)
print(int8.ensure_int8(Path({str(cache)!r}), Path(model_path())))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in results]
    made = {out.strip().splitlines()[-1] for out, _ in results}
    assert len(made) == 1
    logs = "".join(err for _, err in results)
    assert logs.count("exporting") == 1 and logs.count("compressing") == 1, logs
    xml = Path(made.pop())
    names = {p.name for p in cache.iterdir()}
    export = onnx_export.onnx_path(cache, Path(model_path()))
    assert names == {xml.name, xml.stem + ".bin", export.name}  # no temporary or lock file


@pytest.mark.parametrize("killed", [False, True])
def test_int8_weights_land_before_the_xml_and_a_killed_save_leaves_nothing(
    tmp_path, monkeypatch, killed
):
    """No model needed: OpenVINO's save is faked, the renames are recorded."""

    class FakeOpenVino:
        class Core:
            def read_model(self, path):
                return "model"

        @staticmethod
        def save_model(model, target, compress_to_fp16):
            Path(target).write_text("<net/>")
            Path(target).with_suffix(".bin").write_bytes(b"weights")
            if killed:
                raise RuntimeError("killed mid-save")

    monkeypatch.setattr(int8, "ensure_onnx", lambda cache, folder: cache / "export.onnx")
    monkeypatch.setattr(int8, "_compress", lambda model: model)
    monkeypatch.setattr(runtimes, "_import_openvino", lambda: FakeOpenVino)
    renamed: list[str] = []
    real_replace = os.replace

    def record(src, dst):
        renamed.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", record)
    folder = Path(model_path())
    want = int8.int8_path(tmp_path, folder)
    if killed:
        with pytest.raises(RuntimeError, match="mid-save"):
            int8.ensure_int8(tmp_path, folder)
        assert list(tmp_path.iterdir()) == []
        return
    assert int8.ensure_int8(tmp_path, folder) == want
    final = [name for name in renamed if not name.endswith(".tmp")]
    assert final == [want.stem + ".bin", want.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(final)
    assert want.with_suffix(".bin").read_bytes() == b"weights"
    assert want.stat().st_mode & 0o777 == 0o644


@pytest.mark.slow
def test_openvino_ir_gives_the_onnx_files_vectors_and_is_made_once(model_cache, tmp_path):
    """The IR is the ONNX graph saved in OpenVINO's format: same vectors, one .xml + .bin."""
    if unavailable("openvino"):
        pytest.skip(f"openvino: {unavailable('openvino')}")
    cache = _fresh_cache(model_cache, tmp_path)
    folder = Path(model_path())
    onnx_file = onnx_export.onnx_path(cache, folder)
    # An earlier test of the session may have made the IR in the shared cache: start without.
    for old in (ir.ir_path(onnx_file), ir.ir_path(onnx_file).with_suffix(".bin")):
        old.unlink(missing_ok=True)
    before = {p.name for p in cache.iterdir()}
    made = ir.ensure_ir(cache, folder)
    assert made == ir.ir_path(onnx_file) and made.suffix == ".xml"
    stamp = made.stat().st_mtime_ns
    assert ir.ensure_ir(cache, folder) == made and made.stat().st_mtime_ns == stamp
    names = {p.name for p in cache.iterdir()} - before
    assert names == {made.name, made.stem + ".bin"}  # no temporary or lock file
    from_ir = runtimes.OpenVinoEncoder(made, folder).encode(SENTENCES)
    from_onnx = runtimes.OpenVinoEncoder(onnx_file, folder).encode(SENTENCES)
    np.testing.assert_allclose(from_ir, from_onnx, atol=1e-6)


def test_openvino_reads_the_onnx_file_when_the_ir_cannot_be_saved(tmp_path, monkeypatch):
    """No model needed: a cache that refuses the IR (read-only, full) still serves."""
    onnx_file = tmp_path / "export.onnx"
    monkeypatch.setattr(ir, "ensure_onnx", lambda cache, folder: onnx_file)

    def refuse(model, path, cache_dir):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ir, "save_ir", refuse)

    class FakeOpenVino:
        class Core:
            def read_model(self, path):
                return "model"

    monkeypatch.setattr(runtimes, "_import_openvino", lambda: FakeOpenVino)
    assert ir.ensure_ir(tmp_path, Path(model_path())) == onnx_file
    assert not ir.made(ir.ir_path(onnx_file))


@pytest.mark.slow
def test_int8_model_is_made_once_quietly_and_whole(model_cache, tmp_path, capfd):
    """Made from the ONNX export with nothing on stdout (it carries --json) and no temp files."""
    if unavailable("openvino-int8"):
        pytest.skip(unavailable("openvino-int8"))
    cache = tmp_path / "models"
    cache.mkdir()
    for path in model_cache.glob("*.onnx"):
        os.link(path, cache / path.name)
    killed = cache / f"{onnx_export.PREFIX}abc-int8ffn1.xml.tmp"  # left by a killed run
    killed.mkdir()
    (killed / "half.bin").write_bytes(b"...")
    os.utime(killed, (0, 0))
    folder = Path(model_path())
    made = int8.ensure_int8(cache, folder)
    assert capfd.readouterr().out == ""
    exports = {p.name for p in model_cache.glob("*.onnx")}
    assert {p.name for p in cache.iterdir()} == {made.name, made.stem + ".bin", *exports}
    stamp = made.stat().st_mtime_ns
    assert int8.ensure_int8(cache, folder) == made and made.stat().st_mtime_ns == stamp
    # Only the feed-forward layers (384 <-> 1536) hold int8 weights; attention (384 x 384)
    # and the embedding tables stay as they were.
    ov = runtimes._import_openvino()
    int8_weights = [
        tuple(op.get_output_partial_shape(0).to_shape())
        for op in ov.Core().read_model(str(made)).get_ops()
        if op.get_type_name() == "Constant"
        and op.get_element_type().get_type_name() == "u8"
        and not op.get_friendly_name().endswith("zero_point")
    ]
    assert sorted(int8_weights) == [(384, 1536)] * 6 + [(1536, 384)] * 6


def test_int8_needs_vnni(monkeypatch):
    monkeypatch.setattr(fidelity, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert "VNNI" in (unavailable("openvino-int8") or "")
    monkeypatch.setattr(fidelity, "cpu_flags", lambda: {"avx2", "avx_vnni"})
    assert unavailable("openvino-int8") is None or "not installed" in unavailable("openvino-int8")
    assert embed._slow_cpu("openvino-int8") is None


def test_auto_passes_over_int8_where_amx_makes_bf16_faster(monkeypatch, tmp_path):
    """On AMX, OpenVINO's bf16 beats the int8 feed-forward: auto tries openvino first there,
    while int8 stays available (and first) on a VNNI CPU without AMX."""
    monkeypatch.setattr(embed, "_missing_modules", lambda backend, artifact: None)
    folder = Path(model_path())

    def first(flags):
        monkeypatch.setattr(fidelity, "cpu_flags", lambda: flags)
        return next(embed._candidates(folder, tmp_path, quiet=True))[0]

    assert first({"avx512_vnni", "avx512_bf16"}) == "openvino-int8"
    assert first({"avx512_vnni", "amx_bf16", "amx_int8", "avx512_bf16"}) == "openvino"
    assert "AMX" in embed._outranked("openvino-int8")
    assert embed._slow_cpu("openvino-int8") is None  # outranked is not slow: it still loads


@pytest.mark.slow
def test_configured_int8_without_vnni_warns_but_loads(model_cache, monkeypatch, caplog):
    """Slow on such a CPU, not wrong: only a missing module refuses a configured backend."""
    if unavailable("openvino-int8"):
        pytest.skip(unavailable("openvino-int8"))
    monkeypatch.setattr(fidelity, "cpu_flags", lambda: {"avx2"})
    encoder = load_encoder.__wrapped__("openvino-int8", cache_dir=model_cache)
    assert encoder.backend == "openvino-int8"
    assert "VNNI" in caplog.text


@pytest.mark.slow
def test_onnx_paths_do_not_import_torch(model_cache, tmp_path):
    """A fresh process loading the runtime backends (and `auto` with a cached verdict)."""
    cache = _fresh_cache(model_cache, tmp_path)
    auto = load_encoder.__wrapped__("auto", cache_dir=cache)  # check now, in this process
    script = f"""
import json, sys
from pathlib import Path
from retrieval.embed import load_encoder, unavailable
loaded = []
for backend in ("onnx", "openvino", "openvino-int8", "auto"):
    if backend == "auto" or not unavailable(backend):
        encoder = load_encoder(backend, cache_dir=Path({str(cache)!r}))
        encoder.encode(["Is the U.S. raising tariffs?"])
        loaded.append(encoder.backend)
imported = sorted(m for m in {FORBIDDEN!r} if sys.modules.get(m) is not None)
print(json.dumps({{"loaded": loaded, "imported": imported}}))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"][-1] == auto.backend
    if auto.backend in ("onnx", "openvino", "openvino-int8"):
        assert result["imported"] == [], result
