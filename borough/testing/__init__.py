"""What tests, benchmarks and `make run` share, shipped beside the kernel as `maubot.testing`
is: a throwaway Synapse (`localsynapse`) and one bounded wait (`waiting`). The runtime never
imports it."""
