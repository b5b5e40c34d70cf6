"""Handoff settings (section ``handoff`` of the YAML; the helpdesk secret from the environment)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class HandoffSettings(BaseModel):
    """Where handed-off conversations go and how long customers wait.

    Attributes:
        enabled: Route handoffs to a staff desk. When off (or when the desk cannot run),
            a customer who needs a person is given the shop's contact and the bot keeps
            answering.
        target: The platform whose staff desk holds handoffs: ``web`` (the default: the
            operator desk at ``/ops``, needs ``KEFU_SERVICE__OPERATOR_TOKEN``), ``slack``
            (a thread per handoff in the staff channel) or ``webhook`` (signed JSON POSTs
            to ``helpdesk_url``); any registered platform with a desk.
        slack_channel: Staff channel id; defaults to ``slack.staff_channel``.
        expected_wait_minutes: The wait the customer is told about.
        take_timeout_minutes: After this long without anyone pressing "Take", the
            customer is told (``handoff_timeout``) and staff are pinged again; repeated
            every period while nobody takes it (the customer is told once).
        transcript_turns: How many recent turns the staff thread shows.
        summary_messages: How many recent customer messages the summary quotes.
        ping_mention: Trusted Slack mrkdwn put in reminders (``<!here>``, ``<!subteam^S1>``,
            ``<@U123>``); empty for no mention.
        poll_interval_s: How often the service looks for handoffs nobody took.
        helpdesk_url: Where ``webhook`` handoffs are POSTed.
        helpdesk_secret: ``whsec_<base64>`` signing secret, from
            ``KEFU_HANDOFF__HELPDESK_SECRET`` only.
        helpdesk_timeout_s: Timeout of one helpdesk POST.
        max_image_bytes_to_helpdesk: Photos larger than this are sent as a reference only.
        owner_quiet_minutes: A business account's owner who replied in a customer's chat
            (kefu then goes quiet there) and stays quiet this long hands the chat back to
            the bot; 0 keeps the bot quiet there until staff return it.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    target: str = "web"
    slack_channel: str | None = None
    expected_wait_minutes: int = Field(10, ge=1)
    take_timeout_minutes: float = Field(15.0, gt=0)
    transcript_turns: int = Field(10, ge=1, le=100)
    summary_messages: int = Field(3, ge=1, le=20)
    ping_mention: str = "<!here>"
    poll_interval_s: float = Field(10.0, gt=0)
    helpdesk_url: str | None = None
    helpdesk_secret: SecretStr | None = None
    helpdesk_timeout_s: float = Field(10.0, gt=0)
    max_image_bytes_to_helpdesk: int = Field(5 * 1024 * 1024, ge=0)
    owner_quiet_minutes: float = Field(720.0, ge=0)
