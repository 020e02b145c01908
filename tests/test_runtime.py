"""The server's garbage-collector policy, in a child process (it changes process-wide state)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_survivors_of_full_collections_are_frozen_and_cycles_still_collected() -> None:
    script = textwrap.dedent(
        """
        import gc
        from emulator.runtime import tune_garbage_collector

        tune_garbage_collector()
        tune_garbage_collector()
        assert len(gc.callbacks) == 1, gc.callbacks
        assert gc.get_threshold() == (700, 10, 1), gc.get_threshold()
        at_start = gc.get_freeze_count()
        assert at_start > 1000, at_start  # what start-up made is out of the collector's view

        kept = [[i] for i in range(50_000)]  # long-lived: they survive a full collection
        gc.collect()
        assert gc.get_freeze_count() >= at_start + 50_000
        assert not [o for o in gc.get_objects() if o is kept[0]]  # no longer walked

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle that dies young is still collected
        del a, b
        assert gc.collect() >= 2
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
