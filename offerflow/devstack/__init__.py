"""Development tooling: the local stack (broker, Redis, topics), the demo, benchmarks, soak and
latency runs, and the synthetic traffic they use."""
