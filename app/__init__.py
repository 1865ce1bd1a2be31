"""Clarion's core: domain, storage and services. Imports no Qt and nothing from ui/."""

__version__ = "0.1.0"
APP_NAME = "Clarion"
APP_ID = "io.github.clarion.Clarion"
