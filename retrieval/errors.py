"""One error hierarchy for the library; every message is written for the user."""

from __future__ import annotations


class BriefbotError(Exception):
    """Base class: the message is shown to the user as it is, in one line."""


class InputError(BriefbotError):
    """The user asked for something that cannot be done (bad path, bad date, unknown id)."""


class ConfigError(BriefbotError):
    """A configuration file or setting is invalid."""


class StoreError(BriefbotError):
    """The data directory cannot be used (unreadable, written by another model, ...)."""
