"""Loopback fakes of outside services (Slack's Web API) and builders of signed inbound requests."""
