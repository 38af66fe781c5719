"""The service around the models: CLI (``lpm``), demo, benchmarks, sessions (DESIGN §2)."""
