"""The evaluation cases file (bench/eval/cases.yaml): schema, loading, and turning a case
into the :class:`~core.model.turn.Turn` and history the brain sees.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from core.errors import ConfigError
from core.knowledge.yamlsrc import read_yaml, validation_errors
from core.media.images import normalise_image
from core.model.turn import (
    Command,
    ConversationKey,
    HistoryItem,
    Part,
    Role,
    Sender,
    TextPart,
    Turn,
)

CASES_FILE = Path(__file__).with_name("cases.yaml")
IMAGES_DIR = Path(__file__).with_name("images")


class HistoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["customer", "bot", "staff"]
    text: str


class Case(BaseModel):
    """One evaluation case."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    platform: str
    user: str
    text: str = ""
    image: str | None = None
    command: str | None = None
    history: tuple[HistoryIn, ...] = ()
    expect_facts: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    must_handoff: bool = False
    relevant_sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    images_dir: Path = Field(IMAGES_DIR, exclude=True)  # set from the cases file's folder

    @model_validator(mode="before")
    @classmethod
    def _images_next_to_the_file(cls, data: object, info: ValidationInfo) -> object:
        folder = (info.context or {}).get("images_dir")
        if folder is not None and isinstance(data, dict) and "images_dir" not in data:
            return {**data, "images_dir": folder}
        return data

    @model_validator(mode="after")
    def _one_expectation(self) -> Case:
        if self.must_handoff == bool(self.expect_facts):
            raise ValueError("a case needs either expect_facts or must_handoff: true (not both)")
        if self.image is not None and not (self.images_dir / self.image).is_file():
            raise ValueError(
                f"image {self.image} is not in {self.images_dir} (run its make_images.py)"
            )
        return self

    @property
    def answerable(self) -> bool:
        return not self.must_handoff

    def turn(self) -> Turn:
        """The customer's turn, with the photo normalised like an adapter would."""
        parts: list[Part] = []
        if self.text:
            parts.append(TextPart(self.text))
        if self.image:
            parts.append(normalise_image((self.images_dir / self.image).read_bytes()))
        key = ConversationKey.from_channel(self.platform, f"eval-{self.id}")
        return Turn(
            key,
            Sender(self.user, self.user, Role.CUSTOMER),
            f"eval-{self.id}",
            tuple(parts),
            command=Command(self.command) if self.command else None,
        )

    def history_items(self) -> list[HistoryItem]:
        roles = {"customer": Role.CUSTOMER, "bot": Role.BOT, "staff": Role.STAFF}
        return [HistoryItem(roles[h.role], h.text) for h in self.history]


class CaseFile(BaseModel):
    """A cases file; ``knowledge`` (relative to the file) names the shop's knowledge folder,
    absent for the demo shop (the bot's own folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    date: date
    knowledge: str | None = None
    cases: tuple[Case, ...] = Field(min_length=1)


def load_cases(path: Path = CASES_FILE) -> CaseFile:
    """Read and validate the cases file.

    Raises:
        ConfigError: invalid file, duplicate ids, or a missing image (with the line).
    """
    doc = read_yaml(path)
    try:
        loaded = CaseFile.model_validate(doc.data, context={"images_dir": path.parent / "images"})
    except ValidationError as exc:
        raise ConfigError(
            f"invalid cases file {path}:\n  " + "\n  ".join(validation_errors(doc, exc))
        ) from exc
    seen: set[str] = set()
    for index, case in enumerate(loaded.cases):
        if case.id in seen:
            raise doc.error(("cases", index, "id"), f"duplicate case id {case.id}")
        seen.add(case.id)
    return loaded
