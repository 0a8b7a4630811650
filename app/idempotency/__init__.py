"""Idempotency-Key: the protocol in `service`, its statements in `repository`."""
