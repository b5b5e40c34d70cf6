"""Tables of the durable store (SQLAlchemy Core). Alembic migrations mirror this file."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

INBOX_OPEN = text("status IN ('pending', 'processing')")
OUTBOX_OPEN = text("status IN ('pending', 'sending')")

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("chat_id", String(255), nullable=False),
    Column("thread_id", String(255), nullable=False, default=""),
    Column("state", String(16), nullable=False, default="bot"),  # bot | handoff
    Column("memory_reset_at", DateTime(timezone=True), nullable=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("platform", "chat_id", "thread_id", name="uq_conversation_key"),
)

images = Table(
    "images",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("mime", String(32), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("sender_id", String(255), nullable=False),
    Column("sender_name", String(255), nullable=False, default=""),
    Column("platform_message_id", String(255), nullable=True),
    Column("text", Text, nullable=False, default=""),
    Column("parts", JSON, nullable=False),  # [{"type": "text"|"image", ...}] images by sha256
    Column("reply_to", String(255), nullable=True),
    Column("command", String(64), nullable=True),  # core.model.turn.Command
    Column("command_arg", String(64), nullable=True),  # a desk action's handoff id
    Column("problem", String(16), nullable=True),  # core.model.turn.ContentProblem
    Column("audience", String(16), nullable=True),  # core.model.turn.Audience; NULL: private
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    Index("ix_turns_conversation", "conversation_id", "id"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("platform_message_id", String(255), nullable=False),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("turn_id", Id, ForeignKey("turns.id"), nullable=False),
    Column(
        "status", String(16), nullable=False, default="pending"
    ),  # pending|processing|done|failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True), nullable=True),
    # Holds (rate limit, engine down): not claimable before available_at; joined lists the
    # earlier turns answered together with this one; held_since dates an engine outage.
    Column("available_at", DateTime(timezone=True), nullable=True),
    Column("joined", JSON, nullable=True),
    Column("held_since", DateTime(timezone=True), nullable=True),
    # Parts the receiving adapter is still fetching (opaque references, e.g. Slack files
    # slower than the ack budget): the row is held (available_at) until they are resolved,
    # and lease_owner / lease_until name the process fetching them (see core/store/held.py).
    Column("pending", JSON, nullable=True),
    UniqueConstraint("platform", "platform_message_id", name="uq_inbox_platform_message"),
    Index("ix_inbox_turn", "turn_id"),
    # Claims walk the open rows in id order: a partial index keeps that fast however long
    # the history. Every other index here would cost time on each insert and update.
    Index("ix_inbox_open_id", "id", postgresql_where=INBOX_OPEN, sqlite_where=INBOX_OPEN),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("turn_id", Id, nullable=True),
    Column("seq", Integer, nullable=False, default=1),
    Column("final", Boolean, nullable=False, default=True),
    Column("platform", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("stream_ref", String(255), nullable=True),
    Column(
        "status", String(16), nullable=False, default="pending"
    ),  # pending|sending|delivered|dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    # Fencing token: every claim adds one, so a holder whose lease lapsed (and was taken
    # over) is told apart from the new holder by its older token.
    Column("lease_token", Integer, nullable=False, default=0, server_default="0"),
    Column("last_error", Text, nullable=True),
    Column("platform_message_ids", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index("ix_outbox_status", "status", "next_attempt_at"),
    Index("ix_outbox_conversation", "conversation_id", "id"),
    Index("ix_outbox_open_id", "id", postgresql_where=OUTBOX_OPEN, sqlite_where=OUTBOX_OPEN),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("turn_id", Id, nullable=True),
    Column("kind", String(32), nullable=False),  # answer | direct | handoff | error | relay
    Column("confidence", Float, nullable=True),
    Column("components", JSON, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("model", String(255), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_decisions_conversation", "conversation_id", "id"),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("status", String(16), nullable=False),  # open | taken | resolved | returned
    Column("reason", Text, nullable=False),
    Column("target", String(64), nullable=False, default=""),  # the desk; "" until opened
    Column("staff_ref", String(255), nullable=True),  # e.g. "C123|1700000000.0001"
    Column("taken_by", String(255), nullable=True),
    Column("pinged_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_handoffs_conversation", "conversation_id", "id"),
    Index("ix_handoffs_staff_ref", "staff_ref"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("turn_id", Id, ForeignKey("turns.id"), nullable=False),  # the turn that was answered
    Column("decision_id", Id, ForeignKey("decisions.id"), nullable=True),  # the answer's entry
    Column("rating", String(8), nullable=False),  # core.model.feedback.Rating
    Column("rater_id", String(255), nullable=False),
    Column("rater_name", String(255), nullable=False, default=""),
    Column("platform", String(64), nullable=False),  # where the button was pressed
    Column("platform_message_id", String(255), nullable=False),  # the click: the dedupe key
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("platform", "platform_message_id", name="uq_feedback_click"),
    Index("ix_feedback_created", "created_at"),
    Index("ix_feedback_turn", "turn_id"),
)

# State the replicas of one deployment share (core.ports.SharedStatePort): keys that some
# process kept (e.g. the Slack threads the bot is in), and items of groups that arrive over
# several requests, possibly at several replicas (e.g. the photos of a Telegram album).
shared_keys = Table(
    "shared_keys",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

group_items = Table(
    "group_items",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("group_key", String(255), primary_key=True),
    Column("item", BigInteger, primary_key=True, autoincrement=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
