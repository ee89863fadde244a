"""Chat notifications of outcomes (issue 13): routed by the config, delivered through a durable outbox.

- ``message``: an outcome → a neutral ``Message`` (title, text, link), with the channel's template;
- one module per service (``slack``, ``dingtalk``, ``feishu``, ``wecom``, ``teams``, ``webhook``):
  a ``Message`` → the signed HTTP request that service documents, and what its answer means;
- ``routing``: which channels an outcome goes to;
- ``outbox``: the bus subscriber that stores one entry per (outcome, channel), and the relay that
  posts them — retried with backoff, acknowledged once delivered, in order per channel.
"""
