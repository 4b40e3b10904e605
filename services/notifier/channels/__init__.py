"""Delivery channels: webhook, e-mail, partner Kafka topic."""
