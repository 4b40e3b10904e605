"""The local development stack: brokers, schema registry, Jaeger, workers, local agencies, the `make run` demo."""
