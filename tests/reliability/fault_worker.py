"""A process that consolidates many conversations into one embedded store until it is killed.

Run as ``python -m tests.reliability.fault_worker <store path> <user> <jobs>``; prints each job
number once its run returned.
"""

from __future__ import annotations

import sys

from reverie.stores.embedded import EmbeddedStore
from reverie.testing import hashing_index
from tests.reliability.workload import job_input, make_manager


def main(path: str, user: str, jobs: int) -> None:
    with EmbeddedStore(path, index=hashing_index()) as store:
        manager = make_manager(store)
        for n in range(jobs):
            payload, config = job_input(user, n)
            manager.invoke(payload, config)
            print(n, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
