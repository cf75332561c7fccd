"""Workflow configuration: layers, defaults from the schema, and one validation naming the key.

The JSON schema ``config.schema.yaml`` (shipped inside the package) holds every key with its
description and its one default. A configuration is composed from layers, later wins:

    schema defaults < config.yaml < profiles/<preset>/overrides.yaml < each --configfile < --config

Mappings merge key by key; lists and scalars replace (Snakemake's own ``--configfile``
semantics). ``assets.objects.count`` and ``assets.objects.names`` are alternatives: a layer that
sets one unsets the other inherited from earlier layers. :func:`check_config` then fills every
default, validates once (schema, then the cross-field checks a schema cannot express) and returns
a read-only :class:`Config`; every error names the key and says what would be valid.
"""

from invtransfer.config.checks import (
    CIFAR_CLASSES,
    check_config,
    check_device,
    resolve_arch,
    transform_names,
)
from invtransfer.config.layers import (
    compose_layers,
    deep_merge,
    load_config,
    preset_file,
    profile_settings,
    workflow_config,
)
from invtransfer.config.schema import Config, describe_config, load_schema, schema_defaults

__all__ = [
    "CIFAR_CLASSES",
    "Config",
    "check_config",
    "check_device",
    "compose_layers",
    "deep_merge",
    "describe_config",
    "load_config",
    "load_schema",
    "preset_file",
    "profile_settings",
    "resolve_arch",
    "schema_defaults",
    "transform_names",
    "workflow_config",
]
