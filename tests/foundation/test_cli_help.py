"""``python train.py --help`` shows every key of the selected composition with its schema's help."""

import dataclasses
import typing

from initlab.cli_help import help_text
from initlab.setup import GROUPS


def _help_strings(schema: type) -> list[str]:
    found = []
    hints = typing.get_type_hints(schema)
    for field in dataclasses.fields(schema):
        if dataclasses.is_dataclass(hints.get(field.name)):
            found += _help_strings(hints[field.name])
        elif field.metadata.get("help"):
            found.append(field.metadata["help"])
    return found


def test_help_lists_each_key_of_the_selected_options_with_its_help_string():
    text = help_text(["model=resnet", "task=hessian", "model.depth=7"])
    for group, option in (("model", "resnet"), ("task", "hessian"), ("init", "he")):
        schema = GROUPS[group].entry(option).schema
        for field in dataclasses.fields(schema):
            if field.name != "name":
                assert f"  {group}.{field.name} (" in text, (group, field.name)
        for line in _help_strings(schema):
            assert line in text, (group, line)
    assert "  model.depth (int) = 7  # >= 1;" in text  # the command line's value, not the YAML's
    assert "model=resnet   (options: " in text and "resnet_vae_162" in text  # the conf options
    assert "logger.wandb.init_timeout_s" in text and "runtime.signals" in text
    assert "  seed (int) = 0" in text
