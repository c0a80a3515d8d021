import math
from dataclasses import dataclass

import pytest

from playground import params
from playground.params import param


@dataclass(frozen=True)
class Cfg:
    name: str = param("a", choices=("a", "b"))
    lr: float = param(0.1, lo=1e-5, hi=10.0, log=True, label="Learning rate")
    epochs: int = param(5, lo=1, hi=100)
    sizes: tuple[int, ...] = param((8, 8), lo=1, hi=512, max_len=6)
    feats: tuple[str, ...] = param(("x1",), choices=("x1", "x2"), min_len=1)
    flag: bool = param(False)


def test_defaults_parse_to_the_default_config():
    cfg, errors = params.parse(Cfg, {})
    assert errors == [] and cfg == Cfg()


def test_strings_from_the_cli_or_url_are_coerced():
    cfg, errors = params.parse(Cfg, {"lr": "0.03", "epochs": "7", "sizes": "16, 4",
                                     "feats": "x1,x2", "flag": "true", "name": "b"})
    assert errors == []
    assert cfg == Cfg(name="b", lr=0.03, epochs=7, sizes=(16, 4), feats=("x1", "x2"), flag=True)


@pytest.mark.parametrize("raw, fragment", [
    ({"lr": 50}, "Learning rate must be at most 10"),
    ({"lr": "abc"}, "Learning rate must be a number"),
    ({"lr": "nan"}, "finite"),
    ({"lr": math.inf}, "finite"),
    ({"lr": ""}, "empty"),
    ({"epochs": 2.5}, "whole number"),
    ({"epochs": 0}, "at least 1"),
    ({"epochs": True}, "must be a number"),
    ({"sizes": "8,0"}, "at least 1"),
    ({"sizes": "8,x"}, "must be a number"),
    ({"sizes": "1,1,1,1,1,1,1"}, "at most 6 values"),
    ({"feats": ""}, "at least 1"),
    ({"feats": "x1,x1"}, "twice"),
    ({"name": "c"}, "unknown choice 'c'"),
    ({"flag": "maybe"}, "true or false"),
    ({"nope": 1}, "unknown setting 'nope'"),
])
def test_bad_values_give_a_message_naming_the_problem(raw, fragment):
    cfg, errors = params.parse(Cfg, raw)
    assert cfg is None
    assert any(fragment in e for e in errors), errors


def test_every_bad_value_is_reported_at_once():
    _, errors = params.parse(Cfg, {"lr": -1, "epochs": 0})
    assert len(errors) == 2


def test_text_round_trip_restores_the_config():
    cfg = Cfg(lr=0.003, sizes=(32, 16), feats=("x2",), flag=True)
    text = {s.name: params.to_text(s, getattr(cfg, s.name)) for s in params.specs(Cfg)}
    assert params.parse(Cfg, text) == (cfg, [])


def test_limits_tighten_the_declared_range():
    _, errors = params.parse(Cfg, {"epochs": 50}, limits={"epochs": (None, 20)})
    assert errors == ["Epochs must be at most 20, got 50"]


def test_a_field_without_param_is_a_programming_error():
    @dataclass(frozen=True)
    class Bad:
        x: int = 1

    with pytest.raises(TypeError):
        params.specs(Bad)
