"""The generator wing: a seeded building model with labelled anomalies, replay of meter exports,
and a no-loss Kafka producer (`wattstream generate`)."""
