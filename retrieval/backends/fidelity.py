"""Is a fast backend faithful to the fp32 reference on this machine? Checked once, cached.

A faster backend is only worth having if it ranks like the reference: bf16 or
int8 arithmetic can drift, and how far depends on the CPU and library versions.
So `auto` embeds a built-in probe set with the candidate and compares it with
sentence-transformers fp32 (computed once with torch and cached as .npy):

- cosine of each probe's vector to its reference vector: mean >= 0.999, min >= 0.99;
- top-5 neighbour agreement: for each probe, the share of its 5 nearest other
  probes (by the candidate's vectors) that are among its 5 nearest by the
  reference's; averaged over probes, >= 0.9.

The verdict is cached in `fidelity.json`, keyed by backend, model, exported
file, library versions and CPU, so an unchanged machine never re-checks.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..atomic import write_atomic
from .common import exclusive
from .onnx_export import model_fingerprint
from .registry import REFERENCE, REGISTRY

if TYPE_CHECKING:
    from .common import Encoder

log = logging.getLogger(__name__)

CHECK_VERSION = 1
MEAN_COSINE = 0.999
MIN_COSINE = 0.99
TOP_K = 5
TOP_K_AGREEMENT = 0.9
VERDICTS = "fidelity.json"

_SENTENCES = (
    "The U.S. imposed tariffs of 25% on $50 billion of Chinese imports on Friday.",
    "Washington put a 25 percent duty on 50 billion dollars of goods from China.",
    "China said it would retaliate against new American tariffs on its exports.",
    "Beijing vowed countermeasures after the United States raised import duties.",
    "The European Union and Japan signed a free-trade agreement in Tokyo.",
    "Brussels and Tokyo concluded a trade pact cutting tariffs on cars and cheese.",
    "Oil prices rose 3.2% to $84.15 a barrel after OPEC+ agreed to cut output.",
    "Crude climbed as the oil cartel and its allies announced production cuts.",
    "Russia's troops massed near the border, raising fears of an invasion.",
    "NATO allies held emergency talks in Brussels on the security crisis.",
    "The Bank of England kept interest rates unchanged at 5.25 per cent.",
    "The Federal Reserve raised its benchmark rate by a quarter point to 4.75%.",
    "Inflation in the euro zone slowed to 2.4% in November, Eurostat said.",
    "Shares of Apple Inc fell 4% after the iPhone maker cut its sales forecast.",
    "Toyota Motor Corp recalled 1.2 million vehicles over faulty air bags.",
    "India's GDP grew 7.8% in the April-June quarter, beating forecasts.",
    "Brazil's soybean exports hit a record 15.6 mln tonnes in May.",
    "Wheat futures slid on forecasts of a bumper harvest in Australia.",
    "The WTO ruled that the steel tariffs broke global trade rules.",
    "Mexico and Canada agreed to keep working on the USMCA dispute panel.",
    "Protesters gathered in Hong Kong for a third straight weekend.",
    "A magnitude 6.4 earthquake struck off the coast of Taiwan on Tuesday.",
    "Heavy rain flooded parts of southern Germany, killing at least four people.",
    "The striker scored twice as Real Madrid beat Barcelona 3-1.",
    "Scientists discovered a new species of frog in the Peruvian Amazon.",
    "How will the sanctions on Iran affect oil supplies to Europe?",
    "What did the G7 leaders agree on climate finance?",
    "Sanctions",
    "Reuter",
    "U.S.-China talks resume in Geneva.",
    "Zürich-based UBS AG said net profit fell to CHF 1.1 bln in Q3.",
    "Le président Emmanuel Macron a rencontré Olaf Scholz à Berlin.",
    "Президент России выступил с обращением к нации.",
    "日本政府は新しい経済対策を発表した。",
    "Exports to the EU (excl. the U.K.) rose 12.5 pct y/y, to 3,456.7 mln stg.",
    "IBM <IBM.N> said Q4 EPS was $3.05 vs $2.94; revenue $16.2 bln.",
)

_LONG = (
    "Trade ministers from the Group of Twenty met in Osaka on Saturday to discuss rising "
    "protectionism, the reform of the World Trade Organization and the escalating dispute "
    "between the United States and China, which has already disrupted supply chains for "
    "semiconductors, soybeans and steel. Officials said a joint communique would stop short "
    "of condemning tariffs outright, reflecting deep divisions among members. "
)


def probe_texts() -> list[str]:
    """Short, numeric, multilingual, and long texts near and past the 256-token window."""
    # 227 tokens (near the window), then two that sentence-transformers truncates at 256.
    long_texts = [_LONG * 3, _LONG * 4, _LONG * 6]
    return [*_SENTENCES, *long_texts]


def _probe_hash() -> str:
    return hashlib.sha256("\x00".join(probe_texts()).encode()).hexdigest()[:12]


@dataclass
class Verdict:
    backend: str
    passed: bool
    mean_cosine: float
    min_cosine: float
    top_k_agreement: float
    seconds: float
    checked_at: str

    def summary(self) -> str:
        return (
            f"mean cosine {self.mean_cosine:.5f}, min {self.min_cosine:.5f}, "
            f"top-{TOP_K} agreement {self.top_k_agreement:.3f} vs fp32"
        )


def top_k_agreement(reference: np.ndarray, candidate: np.ndarray, k: int = TOP_K) -> float:
    """Mean share of each row's k nearest other rows that both vector sets agree on."""
    k = min(k, len(reference) - 1)
    if k < 1:
        return 1.0

    def neighbours(vectors: np.ndarray) -> np.ndarray:
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -np.inf)
        return np.argsort(-sims, axis=1, kind="stable")[:, :k]

    ref, cand = neighbours(reference), neighbours(candidate)
    return float(np.mean([len(set(r) & set(c)) / k for r, c in zip(ref, cand, strict=True)]))


def compare(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float, float]:
    """(mean cosine, min cosine, top-k agreement) of L2-normalised row vectors."""
    cosines = np.sum(reference * candidate, axis=1)
    return float(cosines.mean()), float(cosines.min()), top_k_agreement(reference, candidate)


def cpu_fingerprint() -> str:
    """The CPU model and its instruction-set flags: bf16/VNNI support changes the arithmetic."""
    parts = [platform.machine()]
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key = line.split(":", 1)[0].strip()
            if key in ("model name", "flags", "Features") and line not in parts:
                parts.append(line)
            if key == "" and len(parts) > 1:
                break  # the first processor is enough
    if len(parts) == 1:
        parts.append(platform.processor())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cpu_flags() -> set[str]:
    """Instruction-set flags of the first CPU (empty where /proc/cpuinfo is missing)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    return set()


def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "missing"
    return found


def _file_identity(path: Path | None) -> str | None:
    if path is None:
        return None
    st = path.stat()
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def reference_key(folder: Path) -> str:
    spec = {
        "check": CHECK_VERSION,
        "model": model_fingerprint(folder),
        "probes": _probe_hash(),
        "versions": _versions(REGISTRY[REFERENCE].libraries),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def verdict_key(backend: str, folder: Path, artifact: Path | None) -> str:
    """Everything that can change the candidate's numbers, hashed."""
    spec = {
        "backend": backend,
        "reference": reference_key(folder),
        "artifact": _file_identity(artifact),
        "versions": _versions(REGISTRY[backend].libraries),
        "cpu": cpu_fingerprint(),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_verdict(cache_dir: Path, key: str) -> Verdict | None:
    entry = _read_json(cache_dir / VERDICTS).get(key)
    if not isinstance(entry, dict):
        return None
    try:
        return Verdict(**entry)
    except TypeError:  # written by another version of this module
        return None


def _store_verdict(cache_dir: Path, key: str, verdict: Verdict) -> None:
    # Read-modify-write under the lock: the cache is machine-wide, so two processes may
    # each be recording a different backend's verdict.
    path = cache_dir / VERDICTS
    with exclusive(path):
        verdicts = _read_json(path)
        verdicts[key] = asdict(verdict)
        write_atomic(path, json.dumps(verdicts, indent=1, sort_keys=True).encode())


def reference_vectors(
    cache_dir: Path, folder: Path, load_reference: Callable[[], Encoder]
) -> np.ndarray:
    """The fp32 reference's probe vectors: from the cache, or computed once with torch."""
    path = cache_dir / f"probe-reference-{reference_key(folder)}.npy"
    with contextlib.suppress(OSError, ValueError):
        vectors = np.load(path)
        if vectors.shape[0] == len(probe_texts()):
            return vectors
    log.info("computing the fp32 reference vectors for the fidelity check (once)")
    vectors = load_reference().encode(probe_texts())
    buffer = io.BytesIO()  # np.save into memory, so the file is written atomically
    np.save(buffer, vectors)
    write_atomic(path, buffer.getvalue())
    return vectors


def check(
    encoder: Encoder,
    cache_dir: Path,
    folder: Path,
    key: str,
    load_reference: Callable[[], Encoder],
) -> Verdict:
    """Compare `encoder` with the fp32 reference on the probe set; cache and return the verdict."""
    reference = reference_vectors(cache_dir, folder, load_reference)
    started = time.perf_counter()
    candidate = encoder.encode(probe_texts())
    mean, low, agreement = compare(reference, candidate)
    verdict = Verdict(
        backend=encoder.backend,
        passed=mean >= MEAN_COSINE and low >= MIN_COSINE and agreement >= TOP_K_AGREEMENT,
        mean_cosine=round(mean, 6),
        min_cosine=round(low, 6),
        top_k_agreement=round(agreement, 4),
        seconds=round(time.perf_counter() - started, 3),
        checked_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    _store_verdict(cache_dir, key, verdict)
    return verdict
