"""The single-machine stack: a KRaft Kafka broker, HDFS and Prometheus on loopback."""
