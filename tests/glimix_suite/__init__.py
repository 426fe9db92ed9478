"""glimix-core 3.1.14's own tests of its cov, mean and lmm packages, run against kronlmm
(see README.md)."""
