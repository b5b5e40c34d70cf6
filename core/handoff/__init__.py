"""Handing conversations to people: staff threads in Slack or a webhook helpdesk, relay
both ways, Take / Resolve / Return buttons and take-timeouts (issue #4)."""
