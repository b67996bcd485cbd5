"""Shared helpers: timing statistics and writing results as JSON plus a markdown table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def quick_mode() -> bool:
    return os.environ.get("REVERIE_BENCH_QUICK", "").lower() in {"1", "true", "yes"}


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {"p50": float("nan"), "p95": float("nan"), "mean": float("nan")}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {"p50": pick(0.5), "p95": pick(0.95), "mean": statistics.fmean(ordered)}


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "cpu_simd": _cpu_simd(),
        "memory_gib": _memory_gib(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _cpu_model() -> str | None:
    """The CPU's name as Linux reports it (None elsewhere): runs on different machines differ."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


# The instruction sets the int8 kernels (onnxruntime's query encoder, numkong's int8 scan) pick
# between. Machines all named "AMD EPYC" have embedded a LoCoMo question in 1.4 ms and in 4.1 ms
# (one with AVX2 alone, no AVX-512): the name does not tell runs apart, these may.
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


def _cpu_simd() -> list[str] | None:
    """Which of ``SIMD_FLAGS`` the CPU has, as Linux reports them (None elsewhere)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [flag for flag in SIMD_FLAGS if flag in flags]
    except OSError:
        pass
    return None


def _memory_gib() -> float | None:
    """Physical memory in GiB (None where the platform does not say)."""
    try:
        return round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, data: dict[str, Any], table: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "machine": machine(), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    path = RESULTS / f"{name}.md"
    path.write_text(f"# {name}\n\n{table}\n")
    print(f"\n## {name}\n\n{table}\n")
    return path
