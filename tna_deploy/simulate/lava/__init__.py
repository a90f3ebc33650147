"""Lava's CPU simulator as a backend, and the management of its processes: ``run`` (the parent side:
``run_lava``), ``worker`` (the isolated child that runs Lava in a process group of its own),
``procgroup`` (stopping a run's processes and freeing its shared memory, trusting nothing found in the
shared temp directory), ``procs/`` (Lava processes of tna-deploy, alone in their folder)."""
