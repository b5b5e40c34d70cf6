"""The shops the evaluation runs: the demo shop and the frozen shops of other trades.

The demo's cases are ``bench/eval/cases.yaml`` (knowledge: the shop bot's own folder); every
folder ``bench/eval/shops/<name>/`` with a ``cases.yaml`` is a frozen shop whose cases name
their ``knowledge:`` folder. Each shop's sealed ``holdout.yaml`` is only read when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.eval.cases import CASES_FILE, CaseFile, load_cases
from core.errors import ConfigError

EVAL_DIR = Path(__file__).parent
SHOPS_DIR = EVAL_DIR / "shops"
DEMO = "demo"


@dataclass(frozen=True, slots=True)
class EvalShop:
    """One shop of the evaluation.

    Attributes:
        name: ``demo`` or the folder name under bench/eval/shops.
        cases_file: The development cases.
        holdout_file: The sealed cases, run only for the final measurement.
    """

    name: str
    cases_file: Path
    holdout_file: Path

    def cases(self, holdout: bool = False) -> CaseFile:
        return load_cases(self.holdout_file if holdout else self.cases_file)

    def knowledge_dir(self, case_file: CaseFile) -> Path | None:
        """The knowledge folder the cases name (None: the demo bot's own folder)."""
        if case_file.knowledge is None:
            return None
        return (self.cases_file.parent / case_file.knowledge).resolve()


def all_shops() -> list[EvalShop]:
    """The demo shop first, then the frozen shops by name."""
    shops = [EvalShop(DEMO, CASES_FILE, CASES_FILE.with_name("holdout.yaml"))]
    if SHOPS_DIR.is_dir():
        for folder in sorted(p for p in SHOPS_DIR.iterdir() if (p / "cases.yaml").is_file()):
            shops.append(EvalShop(folder.name, folder / "cases.yaml", folder / "holdout.yaml"))
    return shops


def pick_shops(names: list[str] | None) -> list[EvalShop]:
    """The named shops (all when ``names`` is empty or None).

    Raises:
        ConfigError: a name that is not an evaluation shop.
    """
    shops = all_shops()
    if not names:
        return shops
    known = {s.name: s for s in shops}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown evaluation shop(s) {unknown}; known: {sorted(known)}")
    return [known[n] for n in names]
