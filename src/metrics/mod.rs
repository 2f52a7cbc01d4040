//! Metrics: instruments, the lock-free series registry, aggregation and collection into OTLP.
