"""Side-by-side benchmarks of panpin against what users would otherwise use (``make bench``).

Every comparison starts its simulators in a separate process (:mod:`benchmarks.simproc`) and runs
each measured client in a fresh process of its own (:mod:`benchmarks.clients`), so the client's CPU
time and peak RSS are never mixed with the simulator's or with another client's.
"""
