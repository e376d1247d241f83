"""Configs: paper defaults, presets, YAML round trip, overrides, validation messages."""

from __future__ import annotations

import pytest
import yaml

from condgen.config import load_yaml, parse_overrides
from condgen.errors import CondgenError
from condgen.models import MODELS
from condgen.runs import build_config, config_from_dict, list_presets, preset_path


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_has_paper_and_quick_presets_that_load(name):
    for kind in ("paper", "quick"):
        assert f"{name}_{kind}" in list_presets()
        cfg = build_config(name, load_yaml(preset_path(f"{name}_{kind}")))
        assert cfg.model_name == name


@pytest.mark.parametrize("name", list(MODELS))
def test_paper_preset_equals_code_defaults(name):
    """The paper preset only spells out the defaults: code defaults are the paper's."""
    paper = build_config(name, load_yaml(preset_path(f"{name}_paper")))
    default = build_config(name, {})
    assert paper.model == default.model


def test_yaml_round_trip(tmp_path):
    cfg = build_config("cgan", {"model": {"nz": 64, "num_classes": 10}, "train": {"steps": 7}, "seed": 3})
    cfg.save(tmp_path / "c.yaml")
    again = config_from_dict(yaml.safe_load((tmp_path / "c.yaml").read_text()))
    assert again == cfg


def test_overrides_are_typed():
    over = parse_overrides(["train.steps=10", "model.lr=1e-3", "train.tensorboard=false", "model.g_hidden=[8,8]"])
    cfg = build_config("gan", over)
    assert cfg.train.steps == 10 and cfg.model.lr == 1e-3 and cfg.train.tensorboard is False
    assert cfg.model.g_hidden == [8, 8]
    assert build_config("dcgan", parse_overrides(["train.steps=1e3"])).train.steps == 1000


@pytest.mark.parametrize("layer,needle", [
    ({"model": {"ngff": 3}}, "unknown config key 'model.ngff'. Did you mean 'ngf'"),
    ({"trian": {}}, "unknown config key 'trian'"),
    ({"model": {"nz": 2.5}}, "'model.nz' expects an integer"),
    ({"train": {"tensorboard": "maybe"}}, "expects true or false"),
    ({"train": {"lr_schedule": "cosine"}}, "valid choices: constant, linear, step"),
    ({"model": {"image_size": 100}}, "image size 100 is not supported"),
    ({"model": {"name": "cgan"}}, "config is for model 'cgan'"),
])
def test_validation_names_the_key(layer, needle):
    with pytest.raises(CondgenError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        build_config("dcgan", layer)


def test_model_train_defaults_are_the_papers():
    assert build_config("dcgan", {}).data.batch_size == 128      # Radford et al.
    assert build_config("gan", {}).data.batch_size == 100        # Goodfellow et al.
    assert build_config("dcgan", {"data": {"batch_size": 8}}).data.batch_size == 8
