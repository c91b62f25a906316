"""Webhook endpoints and the delivery of events to them (HTTP, or NATS JetStream)."""
