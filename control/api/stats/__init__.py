"""The statistics API's route handlers, registered by control.api.app."""

from control.api.stats.handlers import HANDLERS

__all__ = ["HANDLERS"]
