"""Code shared by the tests: one home for what several test files need.

- paths: the checkout's root, tools/ and shared/ folders, and the environment a subprocess
  needs to import them;
- tiny: the tiny SegRet config on generated synthetic data (training, MPI, CLI tests);
- models: reference state_dict tables and trainable-parameter counts;
- mpi: the mpirun command line and the marks of tests that need OpenMPI;
- stubs: a model stand-in for the inference API and the demo tool.
"""
