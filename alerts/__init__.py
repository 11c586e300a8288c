"""Detection over the store: anomaly bands, retry storms, circuit and DLQ rules → incidents.

Every detector is a pure function over DataFrames read from the store (see
:mod:`collectors.schema` for the tables) that returns :class:`alerts.findings.Finding` objects.
Detectors are deterministic and online: a finding that starts at ``t`` uses only data up to ``t``.
:mod:`alerts.incidents` merges findings into incidents; :mod:`alerts.detect` runs everything over
a store (``python -m alerts detect``); :mod:`alerts.evaluate` scores the anomaly detector on a
corpus in the Numenta Anomaly Benchmark layout.
"""
