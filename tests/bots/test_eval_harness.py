"""The evaluation harness (bench/eval): the cases file, the metrics and a stub-engine run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.eval.cases import Case, load_cases
from bench.eval.make_images import find_cjk_font
from bench.eval.report import ShopRun, overview_table, write_markdown
from bench.eval.runner import CaseResult, Summary, fold, run_all
from bench.eval.shops import all_shops, pick_shops
from bots.shop.brain import build_brain
from core.engines.stub import StubEngine
from core.errors import ConfigError
from core.media.ocr import OcrReader
from tests.knowledge.fakes import ScriptedOcr


@pytest.fixture(scope="module")
def case_file():  # type: ignore[no-untyped-def]
    return load_cases()


def test_cases_cover_the_brief(case_file) -> None:  # type: ignore[no-untyped-def]
    cases = case_file.cases
    assert len(cases) >= 60
    assert sum(1 for c in cases if c.image) >= 20
    assert sum(1 for c in cases if c.must_handoff) >= 15
    assert len({c.id for c in cases}) == len(cases)
    languages = {
        "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in c.text) else "en" for c in cases if c.text
    }
    assert languages == {"zh", "en"}


def test_relevant_sources_exist(case_file) -> None:  # type: ignore[no-untyped-def]
    brain = build_brain(ocr=ScriptedOcr())
    sources = {d.source for d in brain.holder.current.retriever.documents}
    wanted = {s for c in case_file.cases for s in c.relevant_sources}
    assert wanted and wanted <= sources


def test_a_case_needs_exactly_one_expectation(tmp_path: Path) -> None:
    bad = tmp_path / "cases.yaml"
    bad.write_text(
        "date: 2026-11-21\ncases:\n  - {id: x, platform: telegram, user: '1', text: hi}\n"
    )
    with pytest.raises(ConfigError, match=r"cases.yaml:3: cases\[0\]"):
        load_cases(bad)


def _result(case: Case, **kwargs) -> CaseResult:  # type: ignore[no-untyped-def]
    return CaseResult(case=case, **kwargs)


def test_metrics() -> None:
    answerable = Case(
        id="a",
        platform="t",
        user="1",
        text="q",
        expect_facts=("¥1",),
        relevant_sources=("faq:x", "faq:y"),
    )
    handoff = Case(id="h", platform="t", user="1", text="q", must_handoff=True)
    results = [
        _result(answerable, outcome="answer", path="tool", answer="¥1", top3=("faq:x",)),
        _result(
            answerable,
            outcome="answer",
            path="model",
            answer="¥2",
            missing=("¥1",),
            ungrounded=("price ¥2",),
        ),
        _result(answerable, outcome="handoff", path="handoff", answer="", missing=("¥1",)),
        _result(handoff, outcome="handoff", path="handoff", answer=""),
    ]
    summary = Summary(results, 1.0)
    assert summary.resolution == pytest.approx(1 / 3)
    assert summary.wrong_rate == pytest.approx(1 / 4)
    assert summary.handoff_recall == 1.0
    assert summary.answerable_handoff_rate == pytest.approx(1 / 3)
    assert summary.recall_at_3 == pytest.approx((0.5 + 0 + 0) / 3)
    assert summary.paths == {"tool": 1, "model": 1, "handoff": 2}


async def test_stub_run_of_text_cases(case_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = {
        "order-zh-shipped",
        "price-zh-promo",
        "stock-zh-out",
        "faq-payment-en",
        "handoff-other-order-text",
        "handoff-unknown-bitcoin",
    }
    cases = [c for c in case_file.cases if c.id in ids]
    brain = build_brain(clock=lambda: case_file.date, ocr=ScriptedOcr())
    summary = await run_all(cases, brain, StubEngine(), brain.holder.current.retriever)
    assert summary.resolution == 1.0 and summary.wrong_rate == 0.0 and summary.handoff_recall == 1.0
    out = tmp_path / "RESULTS.md"
    write_markdown([ShopRun("demo", summary)], out, "python -m bench.eval", "stub", [])
    text = out.read_text()
    assert (
        "| resolution rate (answerable) | 100.0% |" in text and "handoff-other-order-text" in text
    )
    assert "| **worst shop** |" in text and "p95 time to reply" in text


def test_the_worst_shop_row_takes_the_worst_value_of_each_metric() -> None:
    good = Case(id="g", platform="t", user="1", text="q", expect_facts=("¥1",))
    handoff = Case(id="h", platform="t", user="1", text="q", must_handoff=True)
    fast = Summary(
        [
            _result(good, outcome="answer", path="tool", answer="¥1", seconds=0.5),
            _result(handoff, outcome="handoff", path="handoff", answer="", seconds=0.1),
        ],
        1.0,
    )
    slow = Summary(
        [
            _result(good, outcome="handoff", path="model-stopped", answer="", seconds=6.0),
            _result(handoff, outcome="answer", path="model", answer="x", seconds=1.0),
        ],
        1.0,
    )
    assert slow.p95_seconds == 6.0 and fast.p95_seconds == 0.5
    table = overview_table([ShopRun("a", fast), ShopRun("b", slow)])
    worst = next(line for line in table if "worst shop" in line)
    assert "**0.0%** (MISSED)" in worst  # resolution of b, and b's handoff recall
    assert "**100.0%** (MISSED)" in worst  # b handed its answerable case off
    assert "**6.00 s** (MISSED)" in worst


def test_shops_are_the_demo_and_the_frozen_ones() -> None:
    names = [s.name for s in all_shops()]
    assert names[0] == "demo" and {"electronics", "food"} <= set(names)
    food = pick_shops(["food"])[0]
    case_file = food.cases()
    assert food.knowledge_dir(case_file) == (food.cases_file.parent / "knowledge").resolve()
    assert case_file.cases[0].images_dir == food.cases_file.parent / "images"
    with pytest.raises(ConfigError, match="unknown evaluation shop"):
        pick_shops(["nowhere"])


def test_fold_ignores_width_case_and_spaces() -> None:
    assert fold("￥239.20 Today") == fold("¥239.20today")


def test_font_lookup_fails_with_the_install_hint(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="apt-get install -y fonts-noto-cjk"):
        find_cjk_font(candidates=(str(tmp_path / "none.ttc"),), roots=(tmp_path,))


@pytest.mark.slow
async def test_real_engine_smoke(case_file) -> None:  # type: ignore[no-untyped-def]
    """Three cases through the real embedded model (tool, model, handoff paths): nothing wrong is sent."""
    from bench.eval.__main__ import build_eval_engine

    ids = {"price-en-promo", "open-laptop-bag-en", "handoff-unknown-bitcoin"}
    cases = [c for c in case_file.cases if c.id in ids]
    brain = build_brain(clock=lambda: case_file.date, ocr=ScriptedOcr())
    engine, _ = build_eval_engine("settings", 4, OcrReader())
    await engine.start()
    try:
        summary = await run_all(
            cases, brain, engine, brain.holder.current.retriever, max_new_tokens=48
        )
    finally:
        await engine.stop()
    by_id = {r.case.id: r for r in summary.results}
    assert by_id["price-en-promo"].resolved and by_id["price-en-promo"].path == "tool"
    assert by_id["open-laptop-bag-en"].path in ("model", "model-handoff", "model-stopped")
    assert by_id["handoff-unknown-bitcoin"].handed_off
    assert summary.wrong_rate == 0.0


async def test_the_command_runs_one_shop_and_prints_the_worst_shop_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench.eval.__main__ import main

    argv = ["--engine", "stub", "--shops", "food", "--only", "fd-order-zh-shipped", "--no-write"]
    assert await main(argv) == 0
    out = capsys.readouterr().out
    assert "== food ==" in out and "| **worst shop** |" in out and "holdout" not in out
