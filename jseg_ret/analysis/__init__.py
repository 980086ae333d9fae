"""Model analysis outside the runtime path: FLOPs and parameter counting (``flops``).

Nothing in the runtime package (models, ops, engine) imports this package."""
