"""Model-card parsing (models/card.py) against arbitrary JSON: ``ModelCard.from_json`` either
returns a card or raises ``ModelFileError`` with a message, never anything else (no KeyError,
TypeError, RecursionError or MemoryError from a hostile file), and a real card survives the trip."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmkd_plugin.engine.errors import ModelFileError
from cmkd_plugin.engine.models.card import ModelCard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hostile as H  # noqa: E402

CI = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEEP = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-10**30, 10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25)


def _valid_card_dicts() -> list[dict]:
    from cmkd_plugin.engine.models.config import ModalitySpec, StudentConfig, TeacherConfig

    student = StudentConfig(n_classes=3, encoder_width=8, encoder_depth=2, embed_dim=16,
                            classifier_hidden=8)
    teacher = TeacherConfig(n_classes=3, modalities=(ModalitySpec("rgb", 3),
                                                     ModalitySpec("hsi", len(H.HSI_WL)),
                                                     ModalitySpec("dem", 3)),
                            encoder_width=8, encoder_depth=1, embed_dim=16, n_heads=2,
                            classifier_hidden=8)
    return [H._cards("student", student).to_dict(), H._cards("teacher", teacher).to_dict()]


VALID = _valid_card_dicts()


def parse(text: str) -> ModelCard | None:
    try:
        return ModelCard.from_json(text, source="fuzz.safetensors")
    except ModelFileError as exc:
        assert "fuzz.safetensors" in str(exc)
        return None


def test_the_valid_cards_parse_and_round_trip() -> None:
    for d in VALID:
        card = parse(json.dumps(d))
        assert card is not None and card.to_dict() == d


@CI
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    parse(text)


@CI
@given(json_values)
def test_arbitrary_json(value) -> None:
    parse(json.dumps(value))


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_cards(draw) -> dict:
    """A valid card with one value anywhere in it replaced (or a key dropped or added)."""
    card = copy.deepcopy(draw(st.sampled_from(VALID)))
    paths = [p for p in _paths(card) if p]
    path = draw(st.sampled_from(paths))
    parent = card
    for k in path[:-1]:
        parent = parent[k]
    action = draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace" or isinstance(parent, list):
        parent[path[-1]] = draw(json_values)
    elif action == "drop":
        del parent[path[-1]]
    else:
        parent[draw(st.text(max_size=10))] = draw(json_values)
    return card


@CI
@given(mutated_cards())
def test_one_hostile_value_anywhere_in_a_real_card(card: dict) -> None:
    parsed = parse(json.dumps(card))
    if parsed is not None:
        # Whatever was accepted is a consistent card that writes itself back.
        assert ModelCard.from_json(parsed.to_json()) == parsed


def test_pathological_documents() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for text in (deep, '{"format_version": 1e400}', '{"format_version": NaN}', "\x00",
                 json.dumps({**VALID[0], "tile_size_px": 10**30}),
                 json.dumps({**VALID[0], "architecture": {**VALID[0]["architecture"],
                                                          "embed_dim": 10**12}})):
        assert parse(text) is None


@pytest.mark.slow
@DEEP
@given(st.one_of(mutated_cards(), json_values))
def test_card_fuzz_deep(value) -> None:
    parse(json.dumps(value))
