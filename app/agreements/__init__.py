"""Plan agreements: the written terms a customer accepts."""
