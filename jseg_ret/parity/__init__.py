"""Training parity: one training step of a Jittor model against a PyTorch reference.

- ``train_inputs``: read and validate the inputs (recipe, batch, reference arrays).
- ``train_parity``: run the forward/backward and the recipe's optimizer steps.
- ``train_compare``: compare the run with the reference, per tensor and category.

A tool layer above ``engine`` (it builds the recipe's optimizer with ``engine.build_optimizer``),
separate from ``interop``, which reads and writes checkpoints below ``engine``.
"""
