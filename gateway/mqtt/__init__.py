"""MQTT around the ingestion front door: the consumer, broker-side device logins, auth hooks, the embedded broker."""
