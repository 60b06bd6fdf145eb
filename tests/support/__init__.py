"""Test-only helpers shared by the test tiers and the benchmark: real processes and
real runtimes set up the same way everywhere, each written once."""
