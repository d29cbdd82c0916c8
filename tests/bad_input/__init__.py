"""The bad-input suite (issue 27), one file per class of failure a careful user met:

1. damaged checkpoints are skipped, never trusted: ``test_damaged_checkpoints.py``;
2. no non-finite number leaves the program silently: ``test_nonfinite.py`` (the launcher's strict
   JSON last line and exit code 1: ``tests/test_main.py``);
3. a failed run does not block the corrected one, and the config is checked before anything is
   written: ``test_config.py``;
4. nothing silently wrong: edited artefacts, a ``data.path`` a source does not read, lengths
   under ``jit``: ``test_silently_wrong.py`` (vocabulary fingerprints also in
   ``tests/experiments/lm/test_sampling.py``);
5. and 6. the launcher's own arguments and messages are one line that says what is wrong:
   ``test_launcher.py`` (the interop functions' structure errors: ``tests/test_interop.py``).

A new entry point adds its bad inputs to the class they belong to.
"""
