"""Wall time of the ``reverie`` command, on an empty store and on a 10,000-memory store holding
one 50 KB memory (a 20 MB one is attempted and refused), side by side in one run.

Each command runs as its own process (``python -m reverie.cli.app``, as the installed script
does), several times; the table gives the median and fastest wall time, and the CPU seconds of
the fastest run, which do not grow when other processes share the cores. Both stores use the
deterministic ``hashing`` embedder, so ``search`` measures the store and the CLI rather than
loading a model. Also measured: ``import reverie`` and ``reverie --help`` start-up.

Targets (issue "Hostile values and sizes"): ``--help``, ``list``, ``show`` and ``stats`` under
0.5 s on an idle machine; ``list`` and ``search`` on the large store under 1 s more than on the
empty one.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.common import markdown_table, quick_mode, write_results

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = ("memories", "default")
BIG_KEY = "big-50kb"
MEMORIES = 10_000
START_UP_TARGET_S = 0.5
LARGE_STORE_EXTRA_S = 1.0
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "list": ["list"],
    "show": ["show", BIG_KEY],
    "stats": ["stats"],
    "search": ["search", "memory about topic 42"],
}
START_UP = ("--help", "list", "show", "stats")


def build(path: Path, memories: int) -> dict[str, Any]:
    """A store of ``memories`` short memories, one of 50 KB and a refused one of 20 MB."""
    from langgraph.store.base import Item
    from mcp.server.mcpserver.exceptions import ToolError

    from reverie.cli.mcp_server import build_server
    from reverie.cli.storage import restore_items
    from reverie.stores.embedded import EmbeddedStore
    from reverie.testing import hashing_index

    now = datetime.now(timezone.utc)
    items = [
        Item(
            namespace=NAMESPACE,
            key=f"m{i:05d}",
            value={"kind": "Memory", "content": {"content": f"memory {i} about topic {i % 97}"}},
            created_at=now,
            updated_at=now,
        )
        for i in range(memories)
    ]
    built: dict[str, Any] = {"memories": memories}
    with EmbeddedStore(path, index=hashing_index()) as store:
        if not memories:
            return built
        items.append(
            Item(
                namespace=NAMESPACE,
                key=BIG_KEY,
                value={"kind": "Memory", "content": {"content": "word " * 10_000}},
                created_at=now,
                updated_at=now,
            )
        )
        restore_items(store, items)
        server = build_server(store, NAMESPACE)
        started = time.perf_counter()
        try:
            asyncio.run(server.call_tool("remember", {"content": "x" * (20 * 1024 * 1024)}))
            built["20 MB memory"] = "stored (unexpected)"
        except ToolError as refused:
            built["20 MB memory"] = f"refused in {time.perf_counter() - started:.2f} s: {refused}"
    return built


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit code) of one process."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "REVERIE_STORE": ""}
    cpu = _child_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, timeout=300)
    return time.perf_counter() - started, _child_cpu() - cpu, done.returncode


def measure(argv: list[str], runs: int) -> dict[str, float]:
    samples = [timed(argv) for _ in range(runs)]
    walls = [wall for wall, _, _ in samples]
    fastest = min(samples)
    return {
        "median_s": statistics.median(walls),
        "min_s": fastest[0],
        "cpu_s": fastest[1],
        "exit_code": fastest[2],
    }


def cli(store: Path, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "reverie.cli.app", "--store", str(store)] + [
        "--embeddings",
        "hashing",
        *args,
    ]


def run(quick: bool = False) -> dict[str, Any]:
    runs = 2 if quick or quick_mode() else 5
    with tempfile.TemporaryDirectory(prefix="reverie-cli-bench-") as folder:
        empty, large = Path(folder) / "empty.db", Path(folder) / "large.db"
        stores = {"empty": build(empty, 0), "10k + 50 KB": build(large, MEMORIES)}
        results: dict[str, dict[str, dict[str, float]]] = {}
        for name, args in COMMANDS.items():
            results[name] = {
                "empty": measure(cli(empty, args), runs),
                "10k + 50 KB": measure(cli(large, args), runs),
            }
        imports = {
            "import reverie": measure([sys.executable, "-c", "import reverie"], runs),
            "import reverie + a manager": measure(
                [sys.executable, "-c", "from reverie import create_memory_store_manager"], runs
            ),
            "python itself": measure([sys.executable, "-c", "pass"], runs),
        }

    rows = []
    for name, by_store in results.items():
        small, big = by_store["empty"], by_store["10k + 50 KB"]
        extra = big["min_s"] - small["min_s"]
        checks = []
        if name in START_UP:
            checks.append(f"start-up {'ok' if small['min_s'] < START_UP_TARGET_S else 'over'}")
        if name in ("list", "search"):
            checks.append(f"+{extra:.2f} s {'ok' if extra < LARGE_STORE_EXTRA_S else 'over'}")
        rows.append(
            [
                f"reverie {name}",
                small["median_s"],
                small["min_s"],
                small["cpu_s"],
                big["median_s"],
                big["min_s"],
                big["cpu_s"],
                "; ".join(checks) or "-",
            ]
        )
    for name, figures in imports.items():
        rows.append(
            [name, figures["median_s"], figures["min_s"], figures["cpu_s"], "", "", "", "-"]
        )
    table = markdown_table(
        [
            "command",
            "empty: median s",
            "empty: min s",
            "empty: CPU s",
            "10k + 50 KB: median s",
            "10k + 50 KB: min s",
            "10k + 50 KB: CPU s",
            "target",
        ],
        rows,
    )
    note = (
        f"\n\n{runs} runs per command, each a fresh process; `hashing` embeddings. Targets: "
        f"start-up under {START_UP_TARGET_S} s on an idle machine (min column), list and search "
        f"on the large store under {LARGE_STORE_EXTRA_S} s more than on the empty one. "
        f"Stores: {stores}. Load average at the end: {os.getloadavg()[0]:.2f}."
    )
    data = {"runs": runs, "stores": stores, "commands": results, "imports": imports}
    write_results("cli_bench", data, table + note)
    return data


if __name__ == "__main__":
    run("--quick" in sys.argv)
