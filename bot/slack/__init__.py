"""The Slack layer: Bolt app factory, listeners, streaming replies, and the web/socket entry points.

Start with `app.build_app` (what is registered) and `wiring.start_slack_bot` (one process).
"""
