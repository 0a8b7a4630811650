"""Outbound webhooks: merchants' endpoints, and the delivery of every event to them, signed
(Standard Webhooks), retried for three days, in order per plan."""
