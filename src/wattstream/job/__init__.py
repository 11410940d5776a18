"""The streaming job: Kafka readings → windows, alerts, quarantine, metrics."""
