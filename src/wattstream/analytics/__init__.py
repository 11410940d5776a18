"""Batch analytics over what the job stored: detection scored against labels (`score`)."""
