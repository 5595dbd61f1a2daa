"""The reliability suite: syncs against the sandboxes, over real HTTP and in real processes,
under faults, kills, concurrency, malformed pages, a failing receiver, fuzzed input,
exhaustion, and a scan for leaked credentials. ``python -m reliability`` runs every
scenario and writes ``reliability/results.json`` and ``results.md``; ``python -m
reliability.NAME`` runs one; ``tests/reliability`` runs the small version of each."""
